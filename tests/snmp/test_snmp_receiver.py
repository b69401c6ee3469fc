"""SnmpReceiver driven by real net-snmp snmptrap/snmpinform over UDP on 127.0.0.1 and ::1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultd.snmp.receiver import SnmpReceiver, SnmpUser

from .conftest import MIB_DIR
from .harness import LINKDOWN_VARBINDS, needs_netsnmp, serve, target, udp_socket

pytestmark = [needs_netsnmp, pytest.mark.integration]

AUTH = "authpass-123"
PRIV = "privpass-456"
SENDER_ENGINE = "0x8000000001020304"
PINNED_ENGINE = "0x80000000aabbccdd"

USERS = [
    SnmpUser("plain"),
    SnmpUser("md5only", "md5", AUTH),
    SnmpUser("shaaes", "sha", AUTH, "aes", PRIV),
    SnmpUser("md5des", "md5", AUTH, "des", PRIV),
    SnmpUser("sha224aes", "sha224", AUTH, "aes", PRIV),
    SnmpUser("sha256aes192", "sha256", AUTH, "aes192", PRIV),
    SnmpUser("sha384aes256", "sha384", AUTH, "aes256", PRIV),
    SnmpUser("sha512aes256", "sha512", AUTH, "aes256", PRIV),
    SnmpUser("pinned", "sha", AUTH, "aes", PRIV, engine_id=PINNED_ENGINE),
]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> SnmpReceiver:
    return SnmpReceiver(
        communities=["public", "s3cret"],
        users=list(USERS),
        state_directory=tmp_path_factory.mktemp("state"),
        mib_dirs=[MIB_DIR],
    )


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    s = udp_socket()
    yield s
    s.close()


def v3(user: str, level: str, auth: str = "", priv: str = "", **kw: str) -> list[str]:
    argv = ["-v3", "-u", user, "-l", level]
    if auth:
        argv += ["-a", auth, "-A", kw.get("auth_key", AUTH)]
    if priv:
        argv += ["-x", priv, "-X", kw.get("priv_key", PRIV)]
    return argv


def trap(
    sock: socket.socket,
    version_args: list[str],
    *,
    engine: str | None = SENDER_ENGINE,
    oid: str = "1.3.6.1.6.3.1.1.5.3",
    varbinds: tuple[str, ...] = LINKDOWN_VARBINDS,
) -> list[str]:
    eng = ["-e", engine] if engine and version_args[:1] == ["-v3"] else []
    return ["snmptrap", *version_args, *eng, target(sock), "", oid, *varbinds]


def test_v2c_trap_becomes_a_linkdown_event(receiver: SnmpReceiver, sock: socket.socket) -> None:
    fast_before = receiver.fast_path_hits
    served = serve(receiver, sock, trap(sock, ["-v2c", "-c", "public"]))
    assert served.returncode == 0, served.stderr
    [event] = served.events
    assert event.fault_code == "IF-MIB::linkDown"
    assert event.node_id == "127.0.0.1"
    assert event.severity == 2
    assert event.source == "snmp"
    assert event.message == (
        "IF-MIB::linkDown ifIndex.2=2 ifAdminStatus.2=up(1) ifOperStatus.2=down(2) ifDescr.2=eth0"
    )
    assert event.attributes["snmp_version"] == "2c"
    assert event.attributes["community"] == "public"
    assert event.attributes["IF-MIB::ifOperStatus.2"] == 2
    assert event.attributes["IF-MIB::ifOperStatus.2:label"] == "down"
    assert event.attributes["1.3.6.1.2.1.2.2.1.2.2"] == "eth0"
    assert receiver.fast_path_hits == fast_before + 1


def test_v1_trap_is_translated_and_keeps_the_agent_addr(
    receiver: SnmpReceiver, sock: socket.socket
) -> None:
    argv = ["snmptrap", "-v1", "-c", "public", target(sock), "1.3.6.1.4.1.9", "10.9.8.7", "3",
            "0", "", *LINKDOWN_VARBINDS]  # fmt: skip
    served = serve(receiver, sock, argv)
    [event] = served.events
    assert event.fault_code == "IF-MIB::linkUp"
    assert event.node_id == "10.9.8.7"
    assert event.severity == 4
    assert event.attributes["clears"] == "IF-MIB::linkDown"
    assert event.attributes["snmp_version"] == "1"
    assert event.attributes["agent_addr"] == "10.9.8.7"


def test_vendor_mib_trap_arrives_with_its_symbolic_name(
    receiver: SnmpReceiver, sock: socket.socket
) -> None:
    vbs = ("1.3.6.1.4.1.99999.1.1.1.2.3", "s", "fan 3", "1.3.6.1.4.1.99999.1.1.1.3.3", "i", "3")
    served = serve(receiver, sock, trap(sock, ["-v2c", "-c", "s3cret"],
                                        oid="1.3.6.1.4.1.99999.2.0.1", varbinds=vbs))  # fmt: skip
    [event] = served.events
    assert receiver.mib_errors == {}
    assert event.fault_code == "ACME-MIB::acmeFanFailed"
    assert event.message == 'ACME-MIB::acmeFanFailed acmeFanName.3="fan 3" acmeFanState.3=failed(3)'


def test_v2c_inform_is_answered_and_snmpinform_exits_0(
    receiver: SnmpReceiver, sock: socket.socket
) -> None:
    argv = ["snmpinform", "-v2c", "-c", "public", "-r", "1", "-t", "2", target(sock), "",
            "1.3.6.1.6.3.1.1.5.4", *LINKDOWN_VARBINDS]  # fmt: skip
    served = serve(receiver, sock, argv)
    assert served.returncode == 0, served.stderr
    [event] = served.events
    assert event.attributes["pdu"] == "inform"
    assert event.fault_code == "IF-MIB::linkUp"


V3_OK = [
    ("plain", "noAuthNoPriv", "", ""),
    ("md5only", "authNoPriv", "MD5", ""),
    ("shaaes", "authPriv", "SHA", "AES"),
    ("md5des", "authPriv", "MD5", "DES"),
    ("sha224aes", "authPriv", "SHA-224", "AES"),
    ("sha256aes192", "authPriv", "SHA-256", "AES-192"),
    ("sha384aes256", "authPriv", "SHA-384", "AES-256"),
    ("sha512aes256", "authPriv", "SHA-512", "AES-256"),
]


@pytest.mark.parametrize(("user", "level", "auth", "priv"), V3_OK, ids=[u[0] for u in V3_OK])
def test_v3_trap_is_accepted(
    receiver: SnmpReceiver, sock: socket.socket, user: str, level: str, auth: str, priv: str
) -> None:
    served = serve(receiver, sock, trap(sock, v3(user, level, auth, priv)))
    assert served.returncode == 0, served.stderr
    assert served.rejections == []
    [event] = served.events
    assert event.fault_code == "IF-MIB::linkDown"
    assert event.attributes["snmp_version"] == "3"
    assert event.attributes["user"] == user
    assert event.attributes["engine_id"] == SENDER_ENGINE[2:]
    assert not any("pass" in str(v) for v in event.attributes.values())


@pytest.mark.parametrize(
    ("user", "level", "auth", "priv"),
    [("shaaes", "authPriv", "SHA", "AES"), ("sha512aes256", "authPriv", "SHA-512", "AES-256"),
     ("md5only", "authNoPriv", "MD5", "")],
    ids=["sha-aes", "sha512-aes256", "md5"],
)  # fmt: skip
def test_v3_inform_does_discovery_and_snmpinform_exits_0(
    receiver: SnmpReceiver, sock: socket.socket, user: str, level: str, auth: str, priv: str
) -> None:
    argv = ["snmpinform", *v3(user, level, auth, priv), "-r", "1", "-t", "2", target(sock), "",
            "1.3.6.1.6.3.1.1.5.1"]  # fmt: skip
    served = serve(receiver, sock, argv)
    assert served.returncode == 0, served.stderr
    [event] = served.events
    assert event.fault_code == "SNMPv2-MIB::coldStart"
    assert event.attributes["pdu"] == "inform"
    assert event.attributes["engine_id"] == receiver.engine_id.hex()
    assert "unknown_engine" not in served.rejections  # the discovery probe is not a rejection


def test_v3_user_pinned_to_an_engine(receiver: SnmpReceiver, sock: socket.socket) -> None:
    ok = serve(receiver, sock, trap(sock, v3("pinned", "authPriv", "SHA", "AES"),
                                    engine=PINNED_ENGINE))  # fmt: skip
    assert len(ok.events) == 1
    other = serve(receiver, sock, trap(sock, v3("pinned", "authPriv", "SHA", "AES")))
    assert other.events == []
    assert other.rejections == ["unknown_engine"]


REFUSALS = [
    ("community-v2c", ["-v2c", "-c", "wrong"], "community"),
    ("community-v1", ["-v1", "-c", "wrong"], "community"),
    ("unknown-user", v3("nobody", "noAuthNoPriv"), "unknown_user"),
    ("wrong-auth-key", v3("shaaes", "authPriv", "SHA", "AES", auth_key="not-the-key"), "auth"),
    ("wrong-priv-key", v3("shaaes", "authPriv", "SHA", "AES", priv_key="not-the-key"), "decrypt"),
    ("level-too-low", v3("shaaes", "noAuthNoPriv"), "security_level"),
    ("auth-only-for-priv-user", v3("shaaes", "authNoPriv", "SHA"), "security_level"),
    ("wrong-auth-protocol", v3("shaaes", "authPriv", "MD5", "AES"), "auth"),
]


@pytest.mark.parametrize(
    ("args", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals_are_labelled(
    receiver: SnmpReceiver, sock: socket.socket, args: list[str], reason: str
) -> None:
    if args[0] == "-v1":
        argv = ["snmptrap", *args, target(sock), "1.3.6.1.4.1.9", "", "2", "0", ""]
    else:
        argv = trap(sock, args)
    served = serve(receiver, sock, argv)
    assert served.events == []
    assert served.rejections == [reason]


def test_v3_inform_with_wrong_key_is_refused(receiver: SnmpReceiver, sock: socket.socket) -> None:
    argv = ["snmpinform", *v3("shaaes", "authPriv", "SHA", "AES", auth_key="not-the-key"),
            "-r", "0", "-t", "0.5", target(sock), "", "1.3.6.1.6.3.1.1.5.1"]  # fmt: skip
    served = serve(receiver, sock, argv)
    assert served.returncode != 0
    assert served.events == []
    assert "auth" in served.rejections


def test_ipv6_loopback(receiver: SnmpReceiver) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        s = udp_socket(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("::1 not available")
    try:
        served = serve(receiver, s, trap(s, ["-v2c", "-c", "public"]))
        [event] = served.events
        assert event.node_id == "::1"
        assert event.attributes["sender"].startswith("[::1]:")
        inform = ["snmpinform", *v3("shaaes", "authPriv", "SHA", "AES"), "-r", "1", "-t", "2",
                  target(s), "", "1.3.6.1.6.3.1.1.5.1"]  # fmt: skip
        served = serve(receiver, s, inform)
        assert served.returncode == 0, served.stderr
        assert len(served.events) == 1
    finally:
        s.close()


def test_engine_id_persists_in_the_state_directory(tmp_path: Path) -> None:
    a = SnmpReceiver(communities=[], users=[], state_directory=tmp_path)
    b = SnmpReceiver(communities=[], users=[], state_directory=tmp_path)
    assert a.engine_id == b.engine_id
    assert (tmp_path / "snmp" / "engine_id").read_text().strip() == a.engine_id.hex()
    assert int((tmp_path / "snmp" / "engine_boots").read_text()) == 2

"""DecodedTrap -> FaultEvent: RFC 3584 v1 translation, node_id, severity, dedup key."""

from __future__ import annotations

import pytest

from faultd.snmp.mib import MibNames
from faultd.snmp.normalize import NormalizeError, Normalizer
from faultd.snmp.types import (
    INTEGER,
    IP_ADDRESS,
    OCTET_STRING,
    OID,
    PDU_V1_TRAP,
    PDU_V2_TRAP,
    TIMETICKS,
    DecodedTrap,
    VarBind,
)

SENDER = ("192.0.2.50", 50000)
UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_ADMIN = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
TRAP_ADDRESS = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)


def v2(trap_oid: tuple[int, ...], *vbs: VarBind, uptime: int = 100) -> DecodedTrap:
    head = (VarBind(UPTIME, TIMETICKS, uptime), VarBind(TRAP_OID, OID, trap_oid))
    return DecodedTrap(version=1, pdu=PDU_V2_TRAP, varbinds=head + vbs, request_id=1,
                       community=b"public")  # fmt: skip


def link_down(index: int = 2, uptime: int = 100) -> DecodedTrap:
    return v2(
        LINK_DOWN,
        VarBind((*IF_INDEX, index), INTEGER, index),
        VarBind((*IF_ADMIN, index), INTEGER, 1),
        VarBind((*IF_DESCR, index), OCTET_STRING, b"eth0"),
        uptime=uptime,
    )


@pytest.fixture
def norm(mib_names: MibNames) -> Normalizer:
    return Normalizer(mib_names)


def test_v2_link_down(norm: Normalizer) -> None:
    e = norm.normalize(link_down(), SENDER, 1000.0)
    assert (e.node_id, e.fault_code, e.severity) == ("192.0.2.50", "IF-MIB::linkDown", 2)
    assert e.timestamp == e.received_at == 1000.0
    assert e.message == "IF-MIB::linkDown ifIndex.2=2 ifAdminStatus.2=up(1) ifDescr.2=eth0"
    assert e.attributes["IF-MIB::ifAdminStatus.2"] == 1
    assert e.attributes["IF-MIB::ifAdminStatus.2:label"] == "up"
    assert e.attributes["uptime"] == 100
    assert e.event_id and e.dedup_key


@pytest.mark.parametrize(
    ("generic", "expected", "severity"),
    [(0, "SNMPv2-MIB::coldStart", 2), (1, "SNMPv2-MIB::warmStart", 4),
     (2, "IF-MIB::linkDown", 2), (3, "IF-MIB::linkUp", 4),
     (4, "SNMPv2-MIB::authenticationFailure", 3), (5, "1.3.6.1.6.3.1.1.5.6", 3)],
)  # fmt: skip
def test_v1_generic_traps_map_to_snmp_traps(
    norm: Normalizer, generic: int, expected: str, severity: int
) -> None:
    t = DecodedTrap(version=0, pdu=PDU_V1_TRAP, varbinds=(), community=b"public",
                    enterprise=(1, 3, 6, 1, 4, 1, 9), agent_addr=bytes([10, 0, 0, 1]),
                    generic_trap=generic, specific_trap=0, time_stamp=5)  # fmt: skip
    e = norm.normalize(t, SENDER, 1.0)
    assert e.fault_code == expected
    assert e.severity == severity
    assert e.node_id == "10.0.0.1"
    assert e.attributes["trap_oid"] == "1.3.6.1.6.3.1.1.5." + str(generic + 1)
    assert e.attributes["SNMPv2-MIB::snmpTrapEnterprise.0"] == "1.3.6.1.4.1.9"


def test_v1_enterprise_specific_and_zero_agent_addr(norm: Normalizer) -> None:
    t = DecodedTrap(version=0, pdu=PDU_V1_TRAP, varbinds=(), community=b"public",
                    enterprise=(1, 3, 6, 1, 4, 1, 99998, 5), agent_addr=bytes(4),
                    generic_trap=6, specific_trap=17, time_stamp=5)  # fmt: skip
    e = norm.normalize(t, ("192.0.2.9", 1), 1.0)
    assert e.attributes["trap_oid"] == "1.3.6.1.4.1.99998.5.0.17"
    assert e.fault_code == "1.3.6.1.4.1.99998.5.0.17"  # numeric when no MIB knows it
    assert e.node_id == "192.0.2.9"


def test_node_id_from_snmp_trap_address_when_forwarded(norm: Normalizer) -> None:
    t = v2(LINK_DOWN, VarBind(TRAP_ADDRESS, IP_ADDRESS, bytes([198, 51, 100, 7])))
    assert norm.normalize(t, SENDER, 1.0).node_id == "198.51.100.7"


def test_node_id_is_lower_case_ipv6(norm: Normalizer) -> None:
    assert norm.normalize(link_down(), ("FE80::AB", 1), 1.0).node_id == "fe80::ab"


def test_dedup_ignores_uptime_but_not_the_interface(norm: Normalizer) -> None:
    a = norm.normalize(link_down(2, uptime=1), SENDER, 1.0)
    b = norm.normalize(link_down(2, uptime=999), SENDER, 2.0)
    c = norm.normalize(link_down(3), SENDER, 3.0)
    assert a.dedup_key == b.dedup_key != c.dedup_key
    assert a.event_id != b.event_id


def test_volatile_oids_are_left_out_of_the_dedup_key(mib_names: MibNames) -> None:
    norm = Normalizer(mib_names, volatile_oids=["IF-MIB::ifDescr"])
    a = link_down()
    b = v2(LINK_DOWN, *a.varbinds[2:4], VarBind((*IF_DESCR, 2), OCTET_STRING, b"renamed"))
    assert norm.normalize(a, SENDER, 1.0).dedup_key == norm.normalize(b, SENDER, 1.0).dedup_key
    plain = Normalizer(mib_names)
    assert plain.normalize(a, SENDER, 1.0).dedup_key != plain.normalize(b, SENDER, 1.0).dedup_key


def test_severity_rules_on_trap_and_varbinds(mib_names: MibNames) -> None:
    norm = Normalizer(mib_names, severity_rules=[
        {"match": "IF-MIB::linkDown", "varbinds": {"ifDescr": "eth*"}, "severity": 1},
        {"match": "1.3.6.1.4.1.*", "severity": 4},
    ])  # fmt: skip
    assert norm.normalize(link_down(), SENDER, 1.0).severity == 1
    other = v2(LINK_DOWN, VarBind((*IF_DESCR, 2), OCTET_STRING, b"lo"))
    assert norm.normalize(other, SENDER, 1.0).severity == 2  # default
    vendor = v2((1, 3, 6, 1, 4, 1, 99998, 0, 1))
    assert norm.normalize(vendor, SENDER, 1.0).severity == 4


def test_rule_on_enum_label(mib_names: MibNames) -> None:
    norm = Normalizer(mib_names, severity_rules=[
        {"match": "linkDown", "varbinds": {"IF-MIB::ifAdminStatus.*": "up"}, "severity": 1}
    ])  # fmt: skip
    assert norm.normalize(link_down(), SENDER, 1.0).severity == 1


@pytest.mark.parametrize(
    "rule", [{"severity": 0}, {"severity": "2"}, {"match": "x", "severity": 2, "bogus": 1}]
)
def test_bad_rules_are_config_errors(mib_names: MibNames, rule: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"severity_rules\[0\]"):
        Normalizer(mib_names, severity_rules=[rule])


def test_octet_strings_text_or_hex(norm: Normalizer) -> None:
    t = v2(LINK_DOWN, VarBind((1, 3, 6, 1, 4, 1, 99998, 1), OCTET_STRING, b"\x00\xff\x10"),
           VarBind((1, 3, 6, 1, 4, 1, 99998, 2), OCTET_STRING, "Grüße".encode()))  # fmt: skip
    e = norm.normalize(t, SENDER, 1.0)
    assert e.attributes["1.3.6.1.4.1.99998.1"] == "0x00ff10"
    assert e.attributes["1.3.6.1.4.1.99998.2"] == "Grüße"


def test_missing_trap_oid_is_an_error(norm: Normalizer) -> None:
    t = DecodedTrap(version=1, pdu=PDU_V2_TRAP, varbinds=(), request_id=1, community=b"x")
    with pytest.raises(NormalizeError):
        norm.normalize(t, SENDER, 1.0)

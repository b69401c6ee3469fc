"""Real net-snmp traps through the whole daemon to a real HTTP endpoint (issue 4):
each accepted trap arrives exactly once with node_id, MIB-named fault_code and varbinds;
refusals are counted and produce no event."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from support.daemon import base_config, running_daemon
from support.endpoint import RecordingEndpoint

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("snmptrap") is None, reason="net-snmp tools")]

USERS = [
    {"name": "shaaes", "auth_protocol": "sha", "auth_key": "authpass-1",
     "priv_protocol": "aes", "priv_key": "privpass-1"},
    {"name": "md5des", "auth_protocol": "md5", "auth_key": "authpass-2",
     "priv_protocol": "des", "priv_key": "privpass-2"},
]
IF_VARBINDS = ["1.3.6.1.2.1.2.2.1.1.4", "i", "4", "1.3.6.1.2.1.2.2.1.8.4", "i", "2"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


async def test_every_version_arrives_once_with_names(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, snmp={
        "listen": "127.0.0.1:0", "communities": ["public"], "users": USERS})
    async with running_daemon(tmp_path, raw) as daemon:
        target = f"127.0.0.1:{daemon.bound_address('snmp')[1]}"
        sends = [
            ("snmptrap", "-v1", "-c", "public", target, "1.3.6.1.4.1.8072.2.3", "10.9.8.7",
             "2", "0", "", *IF_VARBINDS),
            ("snmptrap", "-v2c", "-c", "public", target, "", "1.3.6.1.6.3.1.1.5.3",
             *IF_VARBINDS),
            ("snmpinform", "-v2c", "-c", "public", target, "", "1.3.6.1.6.3.1.1.5.4",
             *IF_VARBINDS),
            ("snmptrap", "-v3", "-l", "authPriv", "-u", "shaaes", "-a", "SHA", "-A",
             "authpass-1", "-x", "AES", "-X", "privpass-1", "-e", "0x8000000001020304",
             target, "", "1.3.6.1.6.3.1.1.5.1"),
            ("snmpinform", "-v3", "-l", "authPriv", "-u", "md5des", "-a", "MD5", "-A",
             "authpass-2", "-x", "DES", "-X", "privpass-2", target, "", "1.3.6.1.6.3.1.1.5.2"),
        ]
        for cmd in sends:
            result = await asyncio.to_thread(run, *cmd)
            assert result.returncode == 0, (cmd, result.stderr)
        refused = [
            ("snmptrap", "-v2c", "-c", "wrong", target, "", "1.3.6.1.6.3.1.1.5.3"),
            ("snmptrap", "-v3", "-l", "authPriv", "-u", "shaaes", "-a", "SHA", "-A",
             "wrong-pass", "-x", "AES", "-X", "privpass-1", "-e", "0x8000000001020305",
             target, "", "1.3.6.1.6.3.1.1.5.3"),
            ("snmptrap", "-v3", "-l", "noAuthNoPriv", "-u", "nobody", "-e",
             "0x8000000001020306", target, "", "1.3.6.1.6.3.1.1.5.3"),
        ]
        for cmd in refused:
            await asyncio.to_thread(run, *cmd)
        await endpoint.wait_for(lambda: len(endpoint.events()) >= len(sends), timeout=20)
        await asyncio.sleep(1.5)  # anything extra (a refused trap, a duplicate) shows up now
        rejected = {
            reason: daemon.metrics.registry.get_sample_value(
                "faultd_snmp_rejected_total", {"reason": reason})
            for reason in ("community", "auth", "unknown_user")}
    events = endpoint.events()
    assert len(events) == len(sends)
    by_code = {e["fault_code"]: e for e in events}
    assert sorted(by_code) == ["IF-MIB::linkDown", "IF-MIB::linkUp", "SNMPv2-MIB::coldStart",
                               "SNMPv2-MIB::warmStart"]
    link_downs = [e for e in events if e["fault_code"] == "IF-MIB::linkDown"]
    assert len(link_downs) == 2  # the v1 generic trap 2 and the v2c one
    nodes = {e["attributes"]["snmp_version"]: e["node_id"] for e in link_downs}
    assert nodes == {"1": "10.9.8.7", "2c": "127.0.0.1"}  # v1 agent-addr is the node
    for event in link_downs:
        attrs = event["attributes"]
        assert attrs["IF-MIB::ifIndex.4"] == 4
        assert attrs["IF-MIB::ifOperStatus.4:label"] == "down"
        assert event["severity"] == 2
    assert by_code["IF-MIB::linkUp"]["attributes"]["clears"] == "IF-MIB::linkDown"
    assert by_code["SNMPv2-MIB::coldStart"]["attributes"]["user"] == "shaaes"
    assert by_code["SNMPv2-MIB::warmStart"]["attributes"]["snmp_version"] == "3"
    assert rejected["community"] == 1 and rejected["auth"] == 1
    assert rejected["unknown_user"] == 1


async def test_ipv6_listener(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, snmp={"listen": "[::1]:0"})
    async with running_daemon(tmp_path, raw) as daemon:
        port = daemon.bound_address("snmp")[1]
        result = await asyncio.to_thread(
            run, "snmptrap", "-v2c", "-c", "public", f"udp6:[::1]:{port}", "",
            "1.3.6.1.6.3.1.1.5.3", *IF_VARBINDS)
        assert result.returncode == 0, result.stderr
        await endpoint.wait_for(lambda: endpoint.events(), timeout=15)
    (event,) = endpoint.events()
    assert event["node_id"] == "::1" and event["fault_code"] == "IF-MIB::linkDown"

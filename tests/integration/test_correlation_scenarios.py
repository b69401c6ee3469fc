"""Issue 10 scenarios through the whole daemon: real traps (net-snmp snmptrap) and
syslog datagrams in, the built-in correlator as the downstream, tickets out."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.daemon import base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("snmptrap") is None, reason="net-snmp snmptrap missing"),
]

AGG_ADDRESS = "10.255.0.1"  # the aggregation node's management address (snmpTrapAddress.0)
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"


def policy(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes: dict[str, Any] = {
        "core-1": {"site": "dc1", "role": "core", "tier": "core", "services": ["backbone"]},
        "agg-1": {"site": "par-north", "role": "aggregation", "tier": "access",
                  "parents": ["core-1"]},
    }
    for i in range(1, 201):
        nodes[f"acc-{i:03d}"] = {"site": "par-north", "role": "access", "tier": "access",
                                 "parents": ["agg-1"]}
    nodes["acc-001"]["services"] = ["bank-a-vpn"]
    for name, site in (("south-1", "par-south"), ("east-1", "par-east")):
        nodes[name] = {"site": site, "role": "access", "tier": "access", "parents": ["core-1"]}
    for i in range(1, 13):  # a separate access network, not behind core-1
        nodes[f"edge-{i:02d}"] = {"site": "par-west", "role": "access", "tier": "access"}
    raw: dict[str, Any] = {
        "topology": {"nodes": nodes,
                     "services": {"north-backhaul": {"endpoints": ["acc-150", "core-1"]}}},
        "fault_codes": [
            {"match": "IF-MIB::linkDown", "category": "link", "description": "Interface down"},
            {"match": "IF-MIB::linkUp", "category": "link"},
            {"match": "LINK-3-UPDOWN", "category": "link"},
        ],
        "rules": [{"name": "core-links-critical", "match": {"tier": "core", "category": "link"},
                   "set": {"severity": 1}}],
        "clears": [{"name": "cisco-link", "fault": {"fault_code": "LINK-3-UPDOWN",
                                                    "message": "re:changed state to down"},
                    "clear": {"fault_code": "LINK-3-UPDOWN",
                              "message": "re:changed state to up"},
                    "key_regex": "Interface (?P<key>[^,]+)"}],
        "attribute_clears": {"attribute": "clears", "key_attributes": ["ifIndex"]},
        "root_cause": {"correlation_window_seconds": 30},
        "queues": {"noc": {"priority": 4, "group": "NOC"},
                   "transport": {"priority": 1, "group": "Transport"},
                   "access": {"priority": 3, "group": "Access"}},
        "routing": {"queue": "noc", "routes": [
            {"match": {"tier": "core", "severity": "<=1"}, "queue": "transport", "priority": 1},
            {"match": {"role": "access"}, "queue": "access"}]},
    }
    for key, value in (extra or {}).items():
        raw[key] = value
    return raw


def daemon_config(tmp_path: Path, pol: dict[str, Any], **extra: Any) -> dict[str, Any]:
    (tmp_path / "correlation.yaml").write_text(yaml.safe_dump(pol))
    raw = base_config(tmp_path / "state", None, **{
        "snmp": {"listen": "127.0.0.1:0"},
        "node_aliases": {AGG_ADDRESS: "agg-1"},
        "correlation": {"policy": str(tmp_path / "correlation.yaml"), "mode": "process"},
        "accumulator": {"critical_window_seconds": 0.25, "tiers": [
            {"name": "core", "match": ["core-*"], "window_seconds": 1, "max_batch_size": 1000},
            {"name": "access", "match": ["*"], "window_seconds": 1, "max_batch_size": 1000}]},
        **extra})
    raw["dispatch"] = {"endpoint": None}
    return raw


def syslog_line(host: str, state: str, ifname: str = "GigabitEthernet0/1") -> bytes:
    return (f"<187>1 - {host} ifmgr - - - %LINK-3-UPDOWN: Interface {ifname}, "
            f"changed state to {state}").encode()


def trap(port: int, oid: str, if_index: int, agent: str = AGG_ADDRESS) -> None:
    subprocess.run(["snmptrap", "-v2c", "-c", "public", f"127.0.0.1:{port}", "", oid,
                    f"1.3.6.1.2.1.2.2.1.1.{if_index}", "i", str(if_index),
                    "1.3.6.1.6.3.18.1.3.0", "a", agent],
                   check=True, capture_output=True, timeout=20)


def ticket_changes(state: Path) -> list[dict[str, Any]]:
    path = state / "tickets" / "tickets.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest(state: Path) -> dict[str, dict[str, Any]]:
    """Each ticket's newest version (by ticket_id)."""
    out: dict[str, dict[str, Any]] = {}
    for change in ticket_changes(state):
        out[change["ticket_id"]] = change
    return out


async def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_fibre_cut_becomes_one_ticket_and_its_link_up_resolves_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_daemon(tmp_path, daemon_config(tmp_path, policy())) as daemon:
        snmp_port = daemon.bound_address("snmp")[1]
        await asyncio.to_thread(trap, snmp_port, LINK_DOWN, 7)
        sock = udp_sender(daemon.bound_address("syslog"))
        for i in range(1, 201):
            sock.send(syslog_line(f"acc-{i:03d}", "down"))
            if i % 50 == 0:
                await asyncio.sleep(0.01)

        def open_tickets() -> list[dict[str, Any]]:
            return [c for c in latest(state).values() if c["ticket"]["state"] == "open"]

        await wait_until(lambda: any(t["ticket"]["symptom_count"] >= 200
                                     for t in open_tickets()))
        (ticket,) = open_tickets()
        view = ticket["ticket"]
        assert view["root_cause"]["node"] == "agg-1"
        assert view["root_cause"]["fault_code"] == "IF-MIB::linkDown"
        assert view["symptom_count"] == 200
        assert {"bank-a-vpn", "north-backhaul"} <= set(view["impacted_services"])

        await asyncio.to_thread(trap, snmp_port, LINK_UP, 7)
        await wait_until(lambda: latest(state)[ticket["ticket_id"]]["ticket"]["state"]
                         == "resolved")
        assert not open_tickets()


async def test_maintenance_window_suppresses_during_and_not_after(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    maintenance = [
        {"name": "south-now", "scope": {"site": "par-south"}, "action": "suppress",
         "timezone": "UTC", "once": {"start": (now - dt.timedelta(hours=1)).isoformat(),
                                     "end": (now + dt.timedelta(hours=1)).isoformat()}},
        {"name": "east-earlier", "scope": {"site": "par-east"}, "action": "suppress",
         "timezone": "UTC", "once": {"start": (now - dt.timedelta(hours=3)).isoformat(),
                                     "end": (now - dt.timedelta(hours=2)).isoformat()}},
    ]
    state = tmp_path / "state"
    raw = daemon_config(tmp_path, policy({"maintenance": maintenance}))
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(syslog_line("south-1", "down"))
        sock.send(syslog_line("east-1", "down"))
        await wait_until(lambda: len(latest(state)) >= 1)
        await asyncio.sleep(2.0)  # give the suppressed one every chance to show up
        roots = {c["ticket"]["root_cause"]["node"] for c in latest(state).values()}
        assert roots == {"east-1"}


async def test_critical_core_fault_reaches_transport_webhook_first_within_rate_limit(
        tmp_path: Path) -> None:
    transport, access = RecordingEndpoint(), RecordingEndpoint()
    await transport.start()
    await access.start()
    try:
        pol = policy()
        pol["queues"]["transport"]["webhook"] = transport.url
        pol["queues"]["access"]["webhook"] = access.url
        raw = daemon_config(tmp_path, pol, correlation={
            "policy": str(tmp_path / "correlation.yaml"), "mode": "process",
            "webhook_rate_limit": {"requests_per_second": 5, "burst": 2}})
        raw["accumulator"]["tiers"][1]["window_seconds"] = 2.0
        async with running_daemon(tmp_path, raw) as daemon:
            sock = udp_sender(daemon.bound_address("syslog"))
            for i in range(1, 13):  # twelve access tickets, standard lane (2 s window)
                sock.send(syslog_line(f"edge-{i:02d}", "down", f"Gi0/{i}"))
            await asyncio.sleep(0.05)
            sock.send(syslog_line("core-1", "down", "TenGigE0/0/0/1"))  # core link: critical
            await transport.wait_for(lambda: transport.accepted, timeout=20)
            await access.wait_for(lambda: len(access.accepted) >= 12, timeout=30)
            assert transport.requests[0].at < access.requests[0].at
            change = transport.accepted[0]
            assert change["ticket"]["root_cause"]["node"] == "core-1"
            assert change["routing"][0]["priority"] == 1
            times = sorted(r.at for r in access.requests)
            for i, t in enumerate(times):  # never more than rate + burst in any second
                assert sum(1 for u in times[i:] if u < t + 1.0) <= 5 + 2
    finally:
        await transport.stop()
        await access.stop()


async def test_restart_keeps_open_tickets_and_does_not_reopen_resolved(tmp_path: Path) -> None:
    state = tmp_path / "state"
    raw = daemon_config(tmp_path, policy())
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(syslog_line("acc-005", "down"))
        sock.send(syslog_line("acc-006", "down"))
        await wait_until(lambda: len(latest(state)) == 2)
        sock.send(syslog_line("acc-006", "up"))
        await wait_until(lambda: any(c["ticket"]["state"] == "resolved"
                                     for c in latest(state).values()))
    before = latest(state)
    open_id = next(t for t, c in before.items() if c["ticket"]["state"] == "open")
    resolved_id = next(t for t, c in before.items() if c["ticket"]["state"] == "resolved")
    seen = len(ticket_changes(state))

    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(syslog_line("acc-005", "down", "GigabitEthernet0/2"))  # a new symptom
        await wait_until(lambda: len(ticket_changes(state)) > seen)
        await asyncio.sleep(1.5)
        after = ticket_changes(state)[seen:]
    assert {c["ticket_id"] for c in after} == {open_id}
    assert after[-1]["version"] > before[open_id]["version"]
    assert all(c["ticket_id"] != resolved_id for c in after)


async def test_sighup_reloads_the_policy_and_refuses_a_broken_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pol = policy()
    raw = daemon_config(tmp_path, pol)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        (tmp_path / "correlation.yaml").write_text("routing: {queue: nowhere}\n")
        await daemon.reload()
        assert daemon.metrics.registry.get_sample_value(
            "faultd_config_last_reload_success") == 0
        sock.send(syslog_line("edge-01", "down"))
        await wait_until(lambda: len(latest(state)) == 1)
        (first,) = latest(state).values()
        assert first["routing"][0]["queue"] == "access"  # the running policy stayed

        pol["routing"]["routes"][1]["queue"] = "noc"  # access tickets now go to noc
        (tmp_path / "correlation.yaml").write_text(yaml.safe_dump(pol))
        assert await daemon.reload()
        assert daemon.metrics.registry.get_sample_value(
            "faultd_config_last_reload_success") == 1
        sock.send(syslog_line("edge-02", "down"))
        await wait_until(lambda: len(latest(state)) == 2)
        second = next(c for c in latest(state).values()
                      if c["ticket"]["root_cause"]["node"] == "edge-02")
        assert second["routing"][0]["queue"] == "noc"

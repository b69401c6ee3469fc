"""End to end in one process: real UDP datagrams in, real HTTP batches out (issue 2)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from support.daemon import base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = pytest.mark.integration


def rfc5424(host: str, msg: str, pri: int = 187, app: str = "ifmgr") -> bytes:
    return f"<{pri}>1 2026-12-03T10:00:00.000Z {host} {app} - - - {msg}".encode()


async def test_size_trigger_caps_batches(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, accumulator={"tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 30, "max_batch_size": 100}]})
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        for i in range(250):
            sock.send(rfc5424("acc-1", f"alarm number {i}"))
        await endpoint.wait_for(lambda: len(endpoint.accepted) >= 2)
        sizes = [b["event_count"] for b in endpoint.accepted]
        assert sizes == [100, 100]
        assert all(b["trigger"] == "size" for b in endpoint.accepted)


async def test_small_burst_flushed_about_one_window_later(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url)  # 1 s window
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sent = time.monotonic()
        for i in range(5):
            sock.send(rfc5424("acc-1", f"burst {i}"))
        await endpoint.wait_for(lambda: endpoint.accepted, timeout=5)
        elapsed = endpoint.requests[0].at - sent
        batch = endpoint.accepted[0]
        assert batch["trigger"] == "window" and batch["event_count"] == 5
        assert 0.9 <= elapsed < 3.0
        assert batch["schema"] == "faultd.batch/v1" and batch["collector"] == "test-collector"
        event = batch["events"][0]
        assert event["schema"] == "faultd.event/v1" and event["node_id"] == "acc-1"
        assert event["source"] == "syslog" and event["severity"] == 2


async def test_two_hundred_identical_alarms_become_one_event(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        line = "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down"
        for _ in range(200):
            sock.send(rfc5424("acc-7", line))
        await endpoint.wait_for(lambda: endpoint.represented() >= 200)
        (event,) = endpoint.events()
        assert event["duplicates"] == 199 and event["fault_code"] == "LINK-3-UPDOWN"


async def test_alarms_differing_only_in_interface_stay_two(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        for ifname in ("GigabitEthernet0/1", "GigabitEthernet0/2"):
            for _ in range(3):
                sock.send(rfc5424(
                    "acc-7", f"%LINK-3-UPDOWN: Interface {ifname}, changed state to down"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 6)
        events = endpoint.events()
        assert len(events) == 2 and [e["duplicates"] for e in events] == [2, 2]


async def test_critical_event_beats_a_warning_storm_in_a_long_window(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, accumulator={
        "critical_window_seconds": 0.25,
        "tiers": [{"name": "all", "match": ["*"], "window_seconds": 10, "max_batch_size": 50000}]})
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        for i in range(2000):  # warnings (severity 4) filling the 10 s window
            sock.send(rfc5424(f"acc-{i % 50}", f"minor thing {i}", pri=188 + 2))
            if i == 1000:
                sent = time.monotonic()
                sock.send(rfc5424("core-1", "fibre cut on ring 7", pri=186))  # local7.crit
        await endpoint.wait_for(lambda: endpoint.accepted, timeout=5)
        first = endpoint.accepted[0]
        assert first["lane"] == "critical" and first["events"][0]["severity"] == 1
        assert endpoint.requests[0].at - sent < 0.25 + 0.5
        assert len(endpoint.accepted) == 1  # the standard window is still open


async def test_503_then_recover_loses_nothing_and_keeps_idempotency_key(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [503, 503, {"status": 503, "headers": {"Retry-After": "0"}}]
    raw = base_config(tmp_path, endpoint.url)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        for i in range(30):
            sock.send(rfc5424("acc-1", f"event {i}"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 30, timeout=15)
        keys = [r.headers["Idempotency-Key"] for r in endpoint.requests]
        assert [r.status for r in endpoint.requests] == [503, 503, 503, 200]
        assert len(set(keys)) == 1 and keys[0] == endpoint.accepted[0]["batch_id"]
        assert len(endpoint.events()) == 30


async def test_bad_datagrams_are_counted_and_good_ones_around_them_delivered(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(rfc5424("acc-1", "before"))
        sock.send(b"\x00\x01\x02\xff\xfe binary junk \x00")
        sock.send(b"")
        sock.send(rfc5424("acc-1", "after"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 2)
        assert sorted(e["message"] for e in endpoint.events()) == ["after", "before"]
        parse_errors = daemon.metrics.registry.get_sample_value(
            "faultd_parse_errors_total", {"source": "syslog"})
        assert parse_errors == 2


async def test_allowed_sources_refuses_others(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, syslog={"allowed_sources": ["192.0.2.0/24"]})
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(rfc5424("acc-1", "from loopback"))
        await asyncio.sleep(0.3)
        value = daemon.metrics.registry.get_sample_value(
            "faultd_events_dropped_total", {"reason": "not_allowed"})
        assert value == 1
        assert daemon.accumulator.pending_total() == 0


async def test_node_alias_renames_device(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, node_aliases={"ACC-1.example.net": "acc-1"})
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(rfc5424("acc-1.example.net", "renamed"))
        await endpoint.wait_for(lambda: endpoint.accepted)
        assert endpoint.events()[0]["node_id"] == "acc-1"


async def test_builtin_file_sink_when_no_endpoint(tmp_path: Path) -> None:
    raw = base_config(tmp_path, None)
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(rfc5424("acc-1", "to the embedded sink"))
        sink = tmp_path / "sink" / "batches.jsonl"
        for _ in range(60):
            if sink.exists() and sink.read_text():
                break
            await asyncio.sleep(0.05)
        assert "to the embedded sink" in sink.read_text()

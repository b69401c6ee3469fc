"""Spill across process lifetimes (issue 5): shutdown with the endpoint down, SIGKILL
mid-spill with a damaged segment, and a 300,000-event storm under a 160 MiB limit."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from support.daemon import DaemonProcess, base_config, free_port, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = [pytest.mark.integration]


def line(i: int, prefix: str = "ev") -> bytes:
    return f"<187>1 2026-12-03T10:00:00Z acc-{i % 97} app - - - {prefix} {i}".encode()


def spill_config(tmp_path: Path, url: str, port: int, **extra: Any) -> dict[str, Any]:
    return base_config(tmp_path / "state", url, **{
        "syslog": {"listen": f"127.0.0.1:{port}"},
        "metrics": {"listen": None},
        "dispatch": {"endpoint": url, "timeout_seconds": 1,
                     "breaker": {"failure_threshold": 2, "open_seconds": 0.5},
                     "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2}},
        "spill": {"fsync": "always"},
        **extra})


def segments(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state" / "spill").glob("*/*.seg"))


async def test_sigterm_with_endpoint_down_spills_then_next_start_delivers(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    port = free_port()
    raw = spill_config(tmp_path, endpoint.url, port, accumulator={"tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 60, "max_batch_size": 10000}]})
    raw["dispatch"]["shutdown_timeout_seconds"] = 3
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    await proc.wait_log("ready")
    sock = udp_sender(("127.0.0.1", port))
    for i in range(1000):
        sock.send(line(i))
    await asyncio.sleep(0.5)
    proc.signal(signal.SIGTERM)
    started = time.monotonic()
    assert await proc.wait_exit(3 + 5) == 0
    assert time.monotonic() - started <= 3 + 2
    assert "left in spill" in proc.log()
    assert endpoint.represented() == 0 and segments(tmp_path)

    endpoint.down = False
    again = DaemonProcess(tmp_path, raw, name="second")
    again.start()
    try:
        await endpoint.wait_for(lambda: endpoint.represented() >= 1000, timeout=20)
        assert sorted(e["message"] for e in endpoint.events()) == sorted(
            f"ev {i}" for i in range(1000))
        for _ in range(50):
            if not segments(tmp_path):
                break
            await asyncio.sleep(0.1)
        assert segments(tmp_path) == []
    finally:
        again.signal(signal.SIGTERM)
        assert await again.wait_exit(15) == 0


async def test_sigkill_mid_spill_then_damaged_segment_delivers_every_intact_record(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    port = free_port()
    raw = spill_config(tmp_path, endpoint.url, port, accumulator={"tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 0.1, "max_batch_size": 20}]})
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    await proc.wait_log("ready")
    sock = udp_sender(("127.0.0.1", port))
    for i in range(600):
        sock.send(line(i))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    proc.kill()  # SIGKILL: no flush, no goodbye
    segs = segments(tmp_path)
    assert segs, "nothing was spilled before the kill"
    # damage: flip bytes in the middle of the first segment, tear the tail of the last
    first = segs[0]
    data = bytearray(first.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = b"\xff" * 16
    first.write_bytes(bytes(data))
    last = segs[-1]
    last.write_bytes(last.read_bytes()[:-7])

    endpoint.down = False
    raw["metrics"] = {"listen": f"127.0.0.1:{free_port(1)}"}
    again = DaemonProcess(tmp_path, raw, name="second")
    again.start()
    try:
        await again.wait_log("ready")
        await asyncio.sleep(3)
        delivered = {e["message"] for e in endpoint.events()}
        assert len(delivered) >= 500  # everything but the damaged records
        assert delivered <= {f"ev {i}" for i in range(600)}
        import urllib.request

        url = f"http://{raw['metrics']['listen']}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        corrupt = [ln for ln in text.splitlines()
                   if ln.startswith("faultd_spill_corrupt_records_total ")]
        assert corrupt and float(corrupt[0].split()[1]) >= 1
    finally:
        again.signal(signal.SIGTERM)
        assert await again.wait_exit(15) == 0


def rss_bytes(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    return 0


@pytest.mark.slow
async def test_memory_limit_storm_with_endpoint_down_loses_nothing(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    limit = 160 << 20
    endpoint.down = True
    port = free_port()
    metrics_port = free_port(1)
    raw = spill_config(tmp_path, endpoint.url, port, metrics={"listen": f"127.0.0.1:{metrics_port}"},
                       spill={"memory_limit_bytes": limit, "fsync": "interval"},
                       accumulator={"queue_maxsize": 50000, "tiers": [
                           {"name": "all", "match": ["*"], "window_seconds": 5,
                            "max_batch_size": 2000}]})
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    try:
        await proc.wait_log("ready")
        assert proc.proc is not None
        pid = proc.proc.pid
        import urllib.request

        def metric(name: str) -> float:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                          timeout=5).read().decode()
            return sum(float(ln.split()[-1]) for ln in text.splitlines()
                       if ln.startswith(name + "{") or ln.startswith(name + " "))

        sock = udp_sender(("127.0.0.1", port))
        peak = 0
        total = 300_000
        deadline = time.monotonic() + 240
        for i in range(total):
            sock.send(line(i, "storm"))
            if i % 2000 == 1999:
                # Pace on what the daemon has read: the kernel buffer holds only ~10k small
                # datagrams, and this test is about memory, not about UDP overload.
                while i + 1 - metric("faultd_events_received_total") > 6000:
                    assert time.monotonic() < deadline, "daemon stopped reading"
                    await asyncio.sleep(0.02)
                peak = max(peak, rss_bytes(pid))
        for _ in range(20):
            peak = max(peak, rss_bytes(pid))
            await asyncio.sleep(0.1)
        assert peak < limit, f"RSS peaked at {peak >> 20} MiB"
        assert segments(tmp_path), "spill never engaged"
        received = metric("faultd_events_received_total")
        assert received == total
        endpoint.down = False
        await endpoint.wait_for(lambda: endpoint.represented() >= received, timeout=120)
        assert endpoint.represented() == received
        assert metric("faultd_events_dropped_total") == 0
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit(20) == 0
    finally:
        proc.kill()

"""workers: N (issue 8): SO_REUSEPORT receive processes feeding one accumulator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from faultd.daemon import Daemon
from support.daemon import base_config, free_port, running_daemon
from support.endpoint import RecordingEndpoint

pytestmark = pytest.mark.integration


def line(host: str, msg: str) -> bytes:
    return f"<187>1 - {host} app - - - {msg}".encode()


def senders(count: int, port: int) -> list[socket.socket]:
    """Distinct source ports, so the kernel spreads them over the workers."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", port))
        socks.append(sock)
    return socks


def sample(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_two_workers_deliver_everything_and_fold_across_workers(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    port = free_port()
    raw = base_config(tmp_path, endpoint.url, workers=2,
                      syslog={"listen": f"127.0.0.1:{port}"})
    async with running_daemon(tmp_path, raw) as daemon:
        assert daemon.supervisor is not None and len(daemon.supervisor.pids()) == 2
        socks = senders(16, port)
        for i in range(1600):
            socks[i % 16].send(line(f"acc-{i % 40}", f"distinct alarm {i}"))
            if i % 200 == 199:
                await asyncio.sleep(0.01)
        for sock in socks:  # the same alarm from 16 source ports: folded into one event
            sock.send(line("core-9", "fibre cut ring 3"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 1616, timeout=30)
        await asyncio.sleep(1.2)  # counters are reported twice a second
        assert sample(daemon, "faultd_events_received_total", source="syslog") == 1616
    events = endpoint.events()
    assert len(events) == 1601
    (folded,) = [e for e in events if e["node_id"] == "core-9"]
    assert folded["duplicates"] == 15


@pytest.mark.parametrize("workers", [1, 2])
async def test_node_aliases_take_one_step_with_or_without_workers(
        tmp_path: Path, endpoint: RecordingEndpoint, workers: int) -> None:
    """A chained map (a -> b, b -> c) renames a to b, as one process does: the main
    process does not apply the aliases again to what a worker renamed."""
    port = free_port()
    raw = base_config(tmp_path, endpoint.url, workers=workers,
                      syslog={"listen": f"127.0.0.1:{port}"},
                      node_aliases={"edge-a": "edge-b", "edge-b": "edge-c"})
    async with running_daemon(tmp_path, raw):
        (sock,) = senders(1, port)
        sock.send(line("edge-a", "link down"))
        sock.send(line("edge-b", "link down"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 2, timeout=20)
    assert sorted(e["node_id"] for e in endpoint.events()) == ["edge-b", "edge-c"]


async def test_a_killed_worker_is_restarted(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    port = free_port()
    raw = base_config(tmp_path, endpoint.url, workers=2,
                      syslog={"listen": f"127.0.0.1:{port}"})
    async with running_daemon(tmp_path, raw) as daemon:
        assert daemon.supervisor is not None
        victim = daemon.supervisor.pids()[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(100):
            pids = daemon.supervisor.pids()
            if victim not in pids and len(pids) == 2:
                break
            await asyncio.sleep(0.1)
        assert victim not in daemon.supervisor.pids()
        socks = senders(8, port)
        for i in range(80):
            socks[i % 8].send(line("acc-1", f"after restart {i}"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 80, timeout=20)


async def test_reload_replaces_workers_without_a_gap(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    port = free_port()
    raw = base_config(tmp_path, endpoint.url, workers=2,
                      syslog={"listen": f"127.0.0.1:{port}"})
    async with running_daemon(tmp_path, raw) as daemon:
        assert daemon.supervisor is not None
        old = set(daemon.supervisor.pids())
        raw["syslog"]["default_timezone"] = "Europe/Paris"
        import yaml

        daemon.config_path.write_text(yaml.safe_dump(raw))
        assert await daemon.reload()
        assert not old & set(daemon.supervisor.pids())
        socks = senders(4, port)
        for i in range(40):
            socks[i % 4].send(line("acc-2", f"after reload {i}"))
        await endpoint.wait_for(lambda: endpoint.represented() >= 40, timeout=20)


async def test_critical_events_take_their_own_uplink_past_a_warning_storm(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    """With workers, a critical event reaches the critical lane while the standard
    10 s window (and the workers' standard uplinks) are full of warnings."""
    port = free_port()
    raw = base_config(tmp_path, endpoint.url, workers=2, syslog={"listen": f"127.0.0.1:{port}"},
                      accumulator={"critical_window_seconds": 0.25, "tiers": [
                          {"name": "all", "match": ["*"], "window_seconds": 10,
                           "max_batch_size": 50000}]})
    async with running_daemon(tmp_path, raw):
        socks = senders(8, port)
        for i in range(4000):  # warnings (severity 4)
            socks[i % 8].send(f"<188>1 - acc-{i % 50} app - - - minor thing {i}".encode())
            if i % 500 == 499:
                socks[i % 8].send(line(f"core-{i}", "fibre cut"))  # <187>: local7.err, sev 2
                socks[(i + 1) % 8].send(f"<186>1 - core-{i} app - - - ring down".encode())
                await asyncio.sleep(0.01)
        await endpoint.wait_for(lambda: sum(len(b["events"]) for b in endpoint.accepted) >= 8,
                                timeout=5)
        assert {b["lane"] for b in endpoint.accepted} == {"critical"}  # standard still open
    critical = [e for b in endpoint.accepted if b["lane"] == "critical" for e in b["events"]]
    assert sorted(e["message"] for e in critical) == ["ring down"] * 8
    assert {e["severity"] for e in critical} == {1}

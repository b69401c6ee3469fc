"""Dispatch against a real endpoint that goes down, throttles, stalls and rejects (issue 5).

In every case: zero loss of accepted events, retries reuse the batch's
Idempotency-Key, and the request rate stays within the token bucket.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from faultd.daemon import Daemon
from support.daemon import base_config, free_port, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = pytest.mark.integration


def rfc5424(msg: str, pri: int = 187, host: str = "acc-1") -> bytes:
    return f"<{pri}>1 2026-12-03T10:00:00Z {host} app - - - {msg}".encode()


def sample(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels) or 0.0


def config(tmp_path: Path, url: str, **extra: Any) -> dict[str, Any]:
    return base_config(tmp_path, url, **{
        "dispatch": {"endpoint": url, "timeout_seconds": 1,
                     "breaker": {"failure_threshold": 3, "open_seconds": 0.3},
                     "retry": {"initial_backoff_seconds": 0.02, "max_backoff_seconds": 0.2}},
        "accumulator": {"tiers": [{"name": "all", "match": ["*"], "window_seconds": 0.2,
                                   "max_batch_size": 50}]},
        **extra})


async def send_events(daemon: Daemon, count: int, prefix: str = "ev", pri: int = 187) -> None:
    sock = udp_sender(daemon.bound_address("syslog"))
    for i in range(count):
        sock.send(rfc5424(f"{prefix} {i}", pri=pri))
        if i % 100 == 99:
            await asyncio.sleep(0.01)  # let the loop read: this is not a load test


async def test_endpoint_down_then_up_spills_and_replays_everything(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 400)
        await asyncio.sleep(1.0)
        assert daemon.dispatcher.breaker.is_open
        assert sample(daemon, "faultd_breaker_state") == 2
        assert daemon.spill.stats().records_pending > 0
        assert sample(daemon, "faultd_spill_batches_written_total", cause="downstream_down") > 0
        endpoint.down = False
        await endpoint.wait_for(lambda: endpoint.represented() >= 400, timeout=20)
        assert sorted(e["message"] for e in endpoint.events()) == sorted(
            f"ev {i}" for i in range(400))
        await asyncio.sleep(0.5)
        assert daemon.spill.stats().records_pending == 0
        assert not daemon.dispatcher.breaker.is_open
        assert sample(daemon, "faultd_breaker_state") == 0


async def test_retries_keep_the_idempotency_key(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [500, 502]
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 5)
        await endpoint.wait_for(lambda: endpoint.accepted, timeout=10)
        keys = {r.headers["Idempotency-Key"] for r in endpoint.requests}
        assert [r.status for r in endpoint.requests] == [500, 502, 200]
        assert keys == {endpoint.accepted[0]["batch_id"]}


async def test_connection_refused_until_endpoint_appears(tmp_path: Path) -> None:
    port = free_port(__import__("socket").SOCK_STREAM)
    late = RecordingEndpoint()
    url = f"http://127.0.0.1:{port}/batches"
    async with running_daemon(tmp_path, config(tmp_path, url)) as daemon:
        await send_events(daemon, 120)
        await asyncio.sleep(0.8)
        await late.start(port)
        try:
            await late.wait_for(lambda: late.represented() >= 120, timeout=20)
            assert sample(daemon, "faultd_dispatch_requests_total", lane="standard",
                          outcome="unreachable") >= 1
        finally:
            await late.stop()


async def test_429_with_retry_after_is_honoured(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [{"status": 429, "headers": {"Retry-After": "1"}}]
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 3)
        await endpoint.wait_for(lambda: endpoint.accepted, timeout=10)
        first, second = endpoint.requests[0], endpoint.requests[1]
        assert first.status == 429 and second.status == 200
        assert second.at - first.at >= 0.95
        assert sample(daemon, "faultd_dispatch_requests_total", lane="standard",
                      outcome="throttled") == 1


async def test_slow_endpoint_loses_nothing(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [{"status": 200, "delay": 0.4}] * 6
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 300)
        await endpoint.wait_for(lambda: endpoint.represented() >= 300, timeout=20)
        assert len(endpoint.events()) == 300


async def test_timeouts_are_retried(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [{"status": 200, "delay": 1.5}]  # longer than timeout_seconds=1
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 4)
        await endpoint.wait_for(lambda: endpoint.represented() >= 4, timeout=15)
        # the timed-out request may have been accepted too: same key, sink dedups by batch_id
        assert len({r.headers["Idempotency-Key"] for r in endpoint.requests}) == 1
        assert len(endpoint.events()) == 4


async def test_permanent_4xx_is_parked_under_rejected(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.script = [{"status": 422, "body": "schema mismatch: tier"}]
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 3, prefix="first")
        await asyncio.sleep(0.6)
        await send_events(daemon, 3, prefix="second")
        await endpoint.wait_for(lambda: endpoint.represented() >= 3, timeout=10)
        assert sorted(e["message"] for e in endpoint.events()) == [f"second {i}"
                                                                    for i in range(3)]
        rejected = list((tmp_path / "spill" / "rejected").glob("*.seg"))
        assert rejected and rejected[0].stat().st_size > 0
        assert sample(daemon, "faultd_dispatch_requests_total", lane="standard",
                      outcome="rejected") == 1
        assert not daemon.dispatcher.breaker.is_open


async def test_request_rate_never_exceeds_bucket(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = config(tmp_path, endpoint.url)
    raw["dispatch"]["rate_limit"] = {"requests_per_second": 10, "burst": 5}
    raw["accumulator"]["tiers"][0]["max_batch_size"] = 1  # one request per event
    async with running_daemon(tmp_path, raw) as daemon:
        await send_events(daemon, 40)
        await endpoint.wait_for(lambda: len(endpoint.accepted) >= 40, timeout=20)
        times = sorted(r.at for r in endpoint.requests)
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u < t + 1.0) <= 10 + 5
        span = times[-1] - times[0]
        assert span >= (40 - 5) / 10 - 0.3  # the bucket really shaped it


async def test_critical_lane_is_not_queued_behind_a_throttled_standard_lane(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = config(tmp_path, endpoint.url)
    raw["dispatch"]["rate_limit"] = {"requests_per_second": 1, "burst": 1}
    raw["accumulator"]["tiers"][0]["max_batch_size"] = 1
    async with running_daemon(tmp_path, raw) as daemon:
        await send_events(daemon, 10, prefix="std")
        await asyncio.sleep(0.3)
        sent = time.monotonic()
        await send_events(daemon, 1, prefix="crit", pri=186)
        await endpoint.wait_for(
            lambda: any(b["lane"] == "critical" for b in endpoint.accepted), timeout=5)
        critical = next(r for r in endpoint.requests if r.batch and r.batch["lane"] == "critical")
        assert critical.at - sent < 0.25 + 0.5
        standard_done = sum(1 for b in endpoint.accepted if b["lane"] == "standard")
        assert standard_done < 10  # standard still trickling at 1/s


async def test_replay_sends_critical_first(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        await send_events(daemon, 60, prefix="std")
        await asyncio.sleep(0.5)
        await send_events(daemon, 5, prefix="crit", pri=186)
        await asyncio.sleep(0.8)
        endpoint.down = False
        await endpoint.wait_for(lambda: endpoint.represented() >= 65, timeout=20)
        replayed = [b["lane"] for b in endpoint.accepted]
        assert replayed[0] == "critical"


async def test_gzip_bodies(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = config(tmp_path, endpoint.url)
    raw["dispatch"]["gzip"] = True
    raw["dispatch"]["headers"] = {"Authorization": "Bearer t0ken"}
    async with running_daemon(tmp_path, raw) as daemon:
        await send_events(daemon, 3)
        await endpoint.wait_for(lambda: endpoint.represented() >= 3, timeout=10)
        headers = endpoint.requests[0].headers
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Authorization"] == "Bearer t0ken"
        json.dumps(endpoint.accepted[0])

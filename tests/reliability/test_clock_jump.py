"""A wall-clock jump during a window neither loses nor stalls it (issue 9).

Windows are scheduled on monotonic time (the loop clock); only envelope stamps
use wall time.  Checked twice: on the accumulator with a manual clock whose wall
time jumps +-1 h / +1 day mid-window, and on a real in-process daemon whose
`faultd.clock` sees a wall clock jumping back an hour while events are in a window
(time is the one thing tests may fake).
"""

from __future__ import annotations

import asyncio
import time
import types
from pathlib import Path
from unittest import mock

import pytest

from faultd.accumulator import Accumulator
from faultd.config import AccumulatorConfig, AdaptiveConfig, TierConfig
from faultd.event import Batch, FaultEvent, dedup_key, new_id
from faultd.observe.metrics import Metrics
from support.clock import ManualClock
from support.daemon import base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

from .kit import line, record


def event(i: int, severity: int = 3) -> FaultEvent:
    msg = f"ev {i}"
    return FaultEvent(event_id=new_id(), node_id="acc-1", source="syslog", severity=severity,
                      fault_code="X", message=msg, timestamp=1.0, received_at=1.0,
                      dedup_key=dedup_key("acc-1", "X", msg))


@pytest.mark.parametrize("jump", [-3600.0, 3600.0, 86400.0])
def test_wall_jump_mid_window_on_the_accumulator(jump: float) -> None:
    clock = ManualClock()
    batches: list[Batch] = []
    config = AccumulatorConfig(
        tiers=[TierConfig(name="all", match=["*"], window_seconds=10.0, max_batch_size=1000)],
        adaptive=AdaptiveConfig(enabled=False), critical_window_seconds=0.25)
    acc = Accumulator(config, clock=clock, emit=batches.append, metrics=Metrics(),
                      collector="t")
    for i in range(50):
        acc.offer(event(i))
    acc.offer(event(1000, severity=1))
    clock.advance(5.0)
    clock.offset += jump  # the wall clock jumps; monotonic time does not
    for i in range(50, 100):
        acc.offer(event(i))
    acc.offer(event(1001, severity=1))
    clock.advance(4.99)
    standard = [b for b in batches if b.lane == "standard"]
    assert standard == []  # not early
    clock.advance(0.02)
    standard = [b for b in batches if b.lane == "standard"]
    assert len(standard) == 1 and standard[0].event_count == 100  # not late, nothing lost
    critical = [b for b in batches if b.lane == "critical"]
    assert sorted(e.message for b in critical for e in b.events) == ["ev 1000", "ev 1001"]
    assert standard[0].emitted_at - standard[0].opened_at == pytest.approx(10.0 + jump, abs=0.1)


async def test_wall_jump_back_an_hour_in_a_running_daemon(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    offset = 0.0
    fake_time = types.SimpleNamespace(time=lambda: time.time() + offset)
    raw = base_config(tmp_path, endpoint.url, accumulator={"tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 1.0, "max_batch_size": 10000}],
        "adaptive": {"enabled": False}})
    with mock.patch("faultd.clock.time", fake_time):
        async with running_daemon(tmp_path, raw) as daemon:
            sock = udp_sender(daemon.bound_address("syslog"))
            for i in range(200):
                sock.send(line(i))
            await asyncio.sleep(0.4)
            offset = -3600.0  # wall clock jumps back an hour mid-window
            jumped_at = time.monotonic()
            for i in range(200, 400):
                sock.send(line(i))
            await endpoint.wait_for(lambda: endpoint.represented() >= 400, timeout=10)
            arrived = max(r.at for r in endpoint.requests) - jumped_at
            batches = endpoint.accepted
            record("wall clock jumps back 1 h mid-window (daemon)", sent=400,
                   delivered=endpoint.represented(), lost=400 - endpoint.represented(),
                   batches=len(batches), last_batch_after_jump_s=round(arrived, 2))
            assert endpoint.represented() == 400
            assert arrived < 1.0 + 2.0  # the window closed on time, not an hour later
            assert any(b["emitted_at"] < b["opened_at"] for b in batches)  # stamps did jump

"""`faultd spill ls|stats|drain` functions on real spill directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from faultd.event import Batch
from faultd.spill import SpillError, SpillStore
from faultd.spill.admin import (
    drain,
    format_drain_report,
    format_segments,
    format_stats,
    list_segments,
    spill_stats,
)


def _fill(spill_dir: Path, batch: Any, clock: Any) -> list[Batch]:
    written = []
    with SpillStore(spill_dir, segment_max_bytes=3000, clock=clock) as store:
        for i in range(7):
            clock.now += 1
            b = batch("critical" if i in (2, 5) else "standard", events=2, tag=str(i))
            store.append(b)
            written.append(b)
        store.park_rejected(batch(), "HTTP 400")
        first = next(iter(store.replay(lanes=("standard",))))
        store.ack(first.ref)
    return written


def test_ls_and_stats(spill_dir: Path, batch: Any, clock: Any) -> None:
    _fill(spill_dir, batch, clock)
    segs = list_segments(spill_dir)
    assert [s.lane for s in segs][:1] == ["critical"] and segs[-1].lane == "rejected"
    assert sum(s.pending for s in segs if s.lane != "rejected") == 6
    assert all(s.corrupt == 0 for s in segs)
    st = spill_stats(spill_dir, now=clock.now + 10)
    json.dumps(st)  # JSON-ready
    assert st["in_use"] is False
    assert st["records_pending"] == 6 and st["events_pending"] == 12
    assert st["rejected_records"] == 1
    assert st["oldest_age_seconds"] == pytest.approx(15)  # record 0 acked; record 1 at +2 of +17
    assert st["lanes"]["critical"]["records_pending"] == 2
    assert st["bytes"] == sum(p.stat().st_size for p in spill_dir.rglob("*.seg"))
    table = format_segments(segs)
    assert table.splitlines()[0].startswith("LANE") and len(table.splitlines()) == len(segs) + 1
    text = format_stats(st)
    assert "6 batches" in text and "rejected" in text
    assert format_segments([]) == "no spilled segments"
    assert spill_stats(spill_dir / "missing")["bytes"] == 0


def test_stats_sees_a_running_owner(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir) as store:
        store.append(batch())
        st = spill_stats(spill_dir)
        assert st["in_use"] is True and st["records_pending"] == 1
        assert "in use" in format_stats(st)


async def test_drain_everything_in_order(spill_dir: Path, batch: Any, clock: Any) -> None:
    written = _fill(spill_dir, batch, clock)
    seen: list[str] = []

    async def deliver(b: Batch) -> bool:
        seen.append(b.batch_id)
        return True

    report = await drain(spill_dir, deliver, rate=1000.0)
    crit = [b.batch_id for b in written if b.lane == "critical"]
    std = [b.batch_id for b in written[1:] if b.lane == "standard"]
    assert seen == crit + std
    assert (report.delivered_batches, report.delivered_events) == (6, 12)
    assert not report.stopped and report.remaining_records == 0
    assert "delivered 6 batches" in format_drain_report(report)
    assert not list((spill_dir / "standard").iterdir())
    assert list_segments(spill_dir)[0].lane == "rejected"  # parked ones are left alone


async def test_drain_stops_on_refusal_and_resumes(spill_dir: Path, batch: Any, clock: Any) -> None:
    _fill(spill_dir, batch, clock)
    seen: list[str] = []

    async def flaky(b: Batch) -> bool:
        if len(seen) == 3:
            return False
        seen.append(b.batch_id)
        return True

    report = await drain(spill_dir, flaky, rate=None)
    assert report.stopped and report.delivered_batches == 3 and report.remaining_records == 3
    assert "stopped" in format_drain_report(report)

    async def ok(b: Batch) -> bool:
        seen.append(b.batch_id)
        return True

    report = await drain(spill_dir, ok, rate=None)
    assert report.delivered_batches == 3 and len(set(seen)) == 6


async def test_drain_rejected_by_hand_and_refuses_when_owned(
    spill_dir: Path, batch: Any, clock: Any
) -> None:
    _fill(spill_dir, batch, clock)

    async def ok(b: Batch) -> bool:
        return True

    report = await drain(spill_dir, ok, lanes=("rejected",))
    assert report.delivered_batches == 1 and report.remaining_records == 0
    with SpillStore(spill_dir), pytest.raises(SpillError, match="in use"):
        await drain(spill_dir, ok)
    with pytest.raises(ValueError):
        await drain(spill_dir, ok, rate=0)

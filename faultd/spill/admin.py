"""Operator functions behind `faultd spill ls|stats|drain`, plus their human output.

`list_segments` and `spill_stats` only read (no lock), so they work while the
daemon runs; a segment the daemon is writing may show its last record as a torn
tail.  `drain` opens the store, which takes the directory lock: it refuses to run
while a daemon owns the spill directory.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch
from faultd.spill import segment as fmt
from faultd.spill.model import SpilledBatch
from faultd.spill.store import LANES, SpillStore


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """One segment file as found on disk."""

    lane: str
    name: str
    path: Path
    bytes: int
    records: int
    pending: int
    events_pending: int
    corrupt: int
    oldest_written_at: float | None
    newest_written_at: float | None


@dataclass(frozen=True, slots=True)
class DrainReport:
    """Outcome of `drain`."""

    delivered_batches: int
    delivered_events: int
    stopped: bool  # deliver returned False; the refused batch stays pending
    remaining_records: int
    corrupt_records: int
    elapsed_seconds: float


def list_segments(directory: Path) -> list[SegmentInfo]:
    """Every segment of every lane (critical, standard, rejected), oldest first per lane."""
    out: list[SegmentInfo] = []
    for lane in LANES:
        lane_dir = Path(directory) / lane
        if not lane_dir.is_dir():
            continue
        for path in sorted(lane_dir.iterdir()):
            if fmt.parse_segment_name(path.name) is None:
                continue
            try:
                scan = fmt.scan_segment(path)
            except FileNotFoundError:
                continue  # deleted while we looked
            acked = fmt.read_acks(fmt.ack_path(path))
            live = [i for i, off in enumerate(scan.offsets) if off not in acked]
            out.append(
                SegmentInfo(
                    lane=lane,
                    name=path.name,
                    path=path,
                    bytes=scan.size,
                    records=len(scan.offsets),
                    pending=len(live),
                    events_pending=sum(scan.events[i] for i in live),
                    corrupt=scan.corrupt,
                    oldest_written_at=scan.times[live[0]] if live else None,
                    newest_written_at=scan.times[live[-1]] if live else None,
                )
            )
    return out


def spill_stats(directory: Path, *, now: float | None = None) -> dict[str, Any]:
    """Totals per lane and overall, as a JSON-ready dict."""
    now = time.time() if now is None else now
    segs = list_segments(directory)
    lanes: dict[str, dict[str, Any]] = {}
    for lane in LANES:
        mine = [s for s in segs if s.lane == lane]
        oldest = min(
            (s.oldest_written_at for s in mine if s.oldest_written_at is not None), default=None
        )
        lanes[lane] = {
            "segments": len(mine),
            "bytes": sum(s.bytes for s in mine),
            "records_pending": sum(s.pending for s in mine),
            "events_pending": sum(s.events_pending for s in mine),
            "oldest_age_seconds": None if oldest is None else max(0.0, now - oldest),
        }
    replayable = [lanes[LANE_CRITICAL], lanes[LANE_STANDARD]]
    ages = [x["oldest_age_seconds"] for x in replayable if x["oldest_age_seconds"] is not None]
    return {
        "directory": str(directory),
        "in_use": _in_use(Path(directory)),
        "bytes": sum(s.bytes for s in segs),
        "records_pending": sum(lane["records_pending"] for lane in replayable),
        "events_pending": sum(lane["events_pending"] for lane in replayable),
        "rejected_records": lanes["rejected"]["records_pending"],
        "oldest_age_seconds": max(ages, default=None),
        "corrupt_records": sum(s.corrupt for s in segs),
        "lanes": lanes,
    }


async def drain(
    directory: Path,
    deliver: Callable[[Batch], Awaitable[bool]],
    rate: float | None = None,
    *,
    lanes: Sequence[str] = (LANE_CRITICAL, LANE_STANDARD),
) -> DrainReport:
    """Replay every pending batch through `deliver`; ack on True, stop on False.

    `rate` limits deliveries to that many batches per second (None = as fast as
    `deliver` goes).  Pass lanes=("rejected",) to replay parked batches by hand.
    Raises SpillError if a daemon holds the directory.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0, not {rate}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    delivered = events = 0
    stopped = False
    store = await asyncio.to_thread(SpillStore, Path(directory), fsync="always")
    try:
        items = store.replay(lanes=lanes)
        while (item := await asyncio.to_thread(_next, items)) is not None:
            if rate is not None:
                delay = started + delivered / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not await deliver(item.batch):
                stopped = True
                break
            store.ack(item.ref)
            delivered += 1
            events += len(item.batch.events)
        st = store.stats()
        remaining = sum(st.lane_records[lane] for lane in lanes)
        return DrainReport(
            delivered_batches=delivered,
            delivered_events=events,
            stopped=stopped,
            remaining_records=remaining,
            corrupt_records=st.corrupt_records,
            elapsed_seconds=loop.time() - started,
        )
    finally:
        await asyncio.to_thread(store.close)


def _next(items: Iterator[SpilledBatch]) -> SpilledBatch | None:
    return next(items, None)


def _in_use(directory: Path) -> bool:
    try:
        fd = os.open(directory / ".lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our shared lock at once
    return False


def _ts(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def format_segments(segments: Sequence[SegmentInfo]) -> str:
    """`faultd spill ls` table."""
    if not segments:
        return "no spilled segments"
    rows = [("LANE", "SEGMENT", "SIZE", "RECORDS", "PENDING", "EVENTS", "CORRUPT", "OLDEST")]
    rows += [
        (
            s.lane,
            s.name,
            _size(s.bytes),
            str(s.records),
            str(s.pending),
            str(s.events_pending),
            str(s.corrupt),
            _ts(s.oldest_written_at),
        )
        for s in segments
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def format_stats(stats: dict[str, Any]) -> str:
    """`faultd spill stats` text."""
    age = stats["oldest_age_seconds"]
    lines = [
        f"spill directory: {stats['directory']}"
        + ("  (in use by a running faultd)" if stats["in_use"] else ""),
        f"total: {_size(stats['bytes'])}, {stats['records_pending']} batches / "
        f"{stats['events_pending']} events pending, {stats['rejected_records']} rejected parked",
        f"oldest pending: {'-' if age is None else f'{age:.0f} s'}; "
        f"corrupt records: {stats['corrupt_records']}",
    ]
    for lane, d in stats["lanes"].items():
        lines.append(
            f"  {lane:<9} {d['segments']:>4} segments  {_size(d['bytes']):>10}  "
            f"{d['records_pending']:>7} batches  {d['events_pending']:>9} events"
        )
    return "\n".join(lines)


def format_drain_report(report: DrainReport) -> str:
    """`faultd spill drain` summary line."""
    how = "stopped: downstream refused a batch" if report.stopped else "done"
    return (
        f"{how}: delivered {report.delivered_batches} batches ({report.delivered_events} events) "
        f"in {report.elapsed_seconds:.1f} s; {report.remaining_records} still pending; "
        f"{report.corrupt_records} corrupt records skipped"
    )

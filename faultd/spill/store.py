"""Disk-backed spill store: per-lane append-only segments, size cap, replay and acks.

Layout under `directory` (0700; files 0600)::

    critical/<ns>-<seq>.seg[.ack]   urgent batches
    standard/<ns>-<seq>.seg[.ack]   everything else
    rejected/<ns>-<seq>.seg         batches the downstream refused with a 4xx;
                                    parked for manual replay, never auto-replayed
    .lock                           flock held by the one process using the store

Size cap (`max_bytes`, over all three areas, sidecars not counted): when an append
would exceed it, whole segments are evicted oldest first -- first the standard
lane, then the rejected area; the critical lane is never evicted.  If that cannot
make room, `SpillFull` is raised and nothing is written.  A batch whose lane is
not "critical" goes to the standard lane.  Evicted records and
events are counted in `stats()`.

fsync policy: `always` = fdatasync after every record; `interval` = fdatasync on
an append when `fsync_interval` seconds have passed since the last one (so an idle
store syncs nothing until the next append, `flush()` or `close()` -- call `flush()`
from a timer to bound the window when idle); `never` = leave it to the kernel.
Sealing a segment fsyncs it unless the policy is `never`.

Disk full (ENOSPC/EDQUOT) on a write or its fsync raises `SpillDiskFull`; the
segment is truncated back to its last good offset first, so the store stays
consistent and takes writes again once space returns.

Replay is at-least-once: a record is pending until `ack(ref)`; acks are kept in
memory and appended to a `<seg>.ack` sidecar (not fsynced), so a restart replays
only what was not acked (or whose ack was lost); downstream dedups by batch_id.
A segment file is deleted once every record in it is acked (damaged records count
as done).  One consumer at a time: `replay()` may run in another thread than
`append()`; both take a lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

import msgspec

from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch, decode_batch, encode_batch
from faultd.spill import segment as fmt
from faultd.spill.model import (
    SpillDiskFull,
    SpilledBatch,
    SpillError,
    SpillFull,
    SpillRef,
    SpillStats,
)
from faultd.spill.segment import SegmentState

__all__ = [
    "LANES",
    "LANE_REJECTED",
    "SpillDiskFull",
    "SpillError",
    "SpillFull",
    "SpillRef",
    "SpillStats",
    "SpillStore",
    "SpilledBatch",
]

LANE_REJECTED: Final = "rejected"
LANES: Final = (LANE_CRITICAL, LANE_STANDARD, LANE_REJECTED)
FSYNC_POLICIES: Final = ("always", "interval", "never")
_EVICTION_ORDER: Final = (LANE_STANDARD, LANE_REJECTED)
_DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


class _Meta(msgspec.Struct):
    reason: str


class SpillStore:
    """Append batches to disk by lane, replay them urgent-first and oldest-first."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: str = "interval",
        fsync_interval: float = 1.0,
        segment_max_bytes: int = 64 << 20,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        self.directory = Path(directory)
        self._fsync = fsync
        self._fsync_interval = fsync_interval
        self._segment_max = segment_max_bytes
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.RLock()
        self._lanes: dict[str, list[SegmentState]] = {lane: [] for lane in LANES}
        self._bytes = dict.fromkeys(LANES, 0)
        self._corrupt = 0
        self._evicted_records = 0
        self._evicted_events = 0
        self._disk_full = 0
        self._last_sync = clock()
        self._last_ns = 0
        self._seq = 0
        self._closed = False
        fmt.make_private_dir(self.directory)
        self._lock_fd = os.open(
            self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpillError(
                f"spill directory {self.directory} is in use by another process"
            ) from None
        try:
            for lane in LANES:
                fmt.make_private_dir(self.directory / lane)
                self._load_lane(lane)
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- opening ---------------------------------------------------------------

    def _load_lane(self, lane: str) -> None:
        lane_dir = self.directory / lane
        names = sorted(p.name for p in lane_dir.iterdir())
        seg_names = {n for n in names if fmt.parse_segment_name(n) is not None}
        for name in names:
            if name.endswith(fmt.ACK_SUFFIX) and name[: -len(fmt.ACK_SUFFIX)] not in seg_names:
                (lane_dir / name).unlink(missing_ok=True)  # orphan sidecar
        for name in sorted(seg_names):
            ns, seq = fmt.parse_segment_name(name) or (0, 0)
            self._last_ns = max(self._last_ns, ns)
            self._seq = max(self._seq, seq)
            path = lane_dir / name
            scan = fmt.scan_segment(path)
            self._corrupt += scan.corrupt
            seg = SegmentState(lane, path, scan, fmt.read_acks(fmt.ack_path(path)))
            if seg.pending == 0:
                self._delete(seg, listed=False)
                continue
            self._lanes[lane].append(seg)
            self._bytes[lane] += seg.size

    # -- writing ---------------------------------------------------------------

    def append(self, batch: Batch) -> int:
        """Spill one batch to its lane; returns bytes written.

        Raises SpillFull (cap reached, nothing evictable) or SpillDiskFull.
        """
        lane = LANE_CRITICAL if batch.lane == LANE_CRITICAL else LANE_STANDARD
        return self._write(lane, b"", batch)

    def park_rejected(self, batch: Batch, reason: str) -> None:
        """Park a batch the downstream refused permanently; never auto-replayed."""
        self._write(LANE_REJECTED, msgspec.json.encode(_Meta(reason=reason[:4096])), batch)

    def _write(self, lane: str, meta: bytes, batch: Batch) -> int:
        payload = encode_batch(batch)
        with self._lock:
            self._check_open()
            now = self._clock()
            header = fmt.encode_header(meta, payload, len(batch.events), now)
            size = len(header) + len(meta) + len(payload)
            self._make_room(size)
            seg = self._active(lane, size)
            assert seg.wfd is not None
            start = seg.size
            try:
                fmt.write_all(seg.wfd, [header, meta, payload])
                if self._fsync == "always" or (
                    self._fsync == "interval"
                    and not (0 <= now - self._last_sync < self._fsync_interval)
                ):
                    os.fdatasync(seg.wfd)
                    self._last_sync = now
            except OSError as exc:
                self._rollback(seg, start)
                if exc.errno in _DISK_FULL:
                    self._disk_full += 1
                    raise SpillDiskFull(
                        f"spill write to {seg.path} failed: {exc}", exc.errno or 0
                    ) from exc
                raise
            seg.offsets.append(start)
            seg.lengths.append(len(meta) + len(payload))
            seg.events.append(len(batch.events))
            seg.times.append(now)
            seg.done.append(0)
            seg.pending += 1
            seg.pending_events += len(batch.events)
            seg.size += size
            self._bytes[lane] += size
            return size

    def _rollback(self, seg: SegmentState, start: int) -> None:
        """Cut a failed write off; if even that fails, seal the segment at `start`."""
        try:
            assert seg.wfd is not None
            os.ftruncate(seg.wfd, start)
        except OSError:
            self._seal(seg)  # trailing bytes, if any, will scan as a torn tail

    def _active(self, lane: str, size: int) -> SegmentState:
        segs = self._lanes[lane]
        seg = segs[-1] if segs and segs[-1].wfd is not None else None
        if seg is not None and seg.size > 0 and seg.size + size > self._segment_max:
            self._seal(seg)
            seg = None
        if seg is None:
            seg = self._create_segment(lane)
        return seg

    def _create_segment(self, lane: str) -> SegmentState:
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        self._seq += 1
        path = self.directory / lane / fmt.segment_name(self._last_ns, self._seq)
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                self._disk_full += 1
                raise SpillDiskFull(f"cannot create {path}: {exc}", exc.errno or 0) from exc
            raise
        seg = SegmentState(lane, path, fmt.ScanResult(size=0), set())
        seg.wfd = fd
        self._lanes[lane].append(seg)
        os.fchmod(fd, 0o600)
        if self._fsync != "never":
            with contextlib.suppress(OSError):  # best effort: the records carry their own CRCs
                fmt.fsync_dir(path.parent)
        return seg

    def _seal(self, seg: SegmentState) -> None:
        """Close the writer of an active segment; an empty one is removed."""
        if seg.wfd is None:
            return
        fd, seg.wfd = seg.wfd, None
        try:
            if self._fsync != "never":
                os.fsync(fd)
        except OSError:
            pass  # already-written records stay readable; damage is caught by CRCs
        finally:
            os.close(fd)
        if not seg.offsets:
            self._delete(seg)

    def _make_room(self, size: int) -> None:
        if self._max_bytes is None:
            return
        if size > self._max_bytes:
            raise SpillFull(f"record of {size} bytes exceeds max_bytes={self._max_bytes}")
        for lane in _EVICTION_ORDER:
            segs = self._lanes[lane]
            while segs and self.total_bytes() + size > self._max_bytes:
                victim = segs[0]
                self._evicted_records += victim.pending
                self._evicted_events += victim.pending_events
                self._delete(victim)
        if self.total_bytes() + size > self._max_bytes:
            raise SpillFull(
                f"spill cap max_bytes={self._max_bytes} reached; only critical batches left"
            )

    def _delete(self, seg: SegmentState, *, listed: bool = True) -> None:
        seg.close_fds(sync=False)
        seg.path.unlink(missing_ok=True)
        fmt.ack_path(seg.path).unlink(missing_ok=True)
        seg.alive = False
        if listed:
            self._lanes[seg.lane].remove(seg)
            self._bytes[seg.lane] -= seg.size

    def total_bytes(self) -> int:
        """Bytes of segment files across all areas."""
        return sum(self._bytes.values())

    # -- replay ----------------------------------------------------------------

    def replay(
        self, *, lanes: Sequence[str] = (LANE_CRITICAL, LANE_STANDARD)
    ) -> Iterator[SpilledBatch]:
        """Yield pending batches: lanes in the given order, oldest first within a lane.

        Covers what is pending when each lane is reached (its active segment is
        sealed first); batches spilled later come in the next `replay()` call.
        Damaged records are skipped, counted in `corrupt_records` and retired.
        """
        for lane in lanes:
            if lane not in LANES:
                raise ValueError(f"unknown spill lane {lane!r}")
            with self._lock:
                self._check_open()
                segs = list(self._lanes[lane])
                if segs and segs[-1].wfd is not None:
                    self._seal(segs[-1])
                segs = list(self._lanes[lane])
            for seg in segs:
                yield from self._replay_segment(seg)

    def _replay_segment(self, seg: SegmentState) -> Iterator[SpilledBatch]:
        try:
            fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # evicted or fully acked meanwhile
        try:
            for idx in range(len(seg.offsets)):
                with self._lock:
                    if not seg.alive or seg.done[idx]:
                        continue
                offset, length = seg.offsets[idx], seg.lengths[idx]
                try:
                    meta, payload = fmt.read_record(fd, offset, length)
                    batch = decode_batch(payload)
                    reason = msgspec.json.decode(meta, type=_Meta).reason if meta else None
                except (fmt.CorruptRecord, msgspec.DecodeError, msgspec.ValidationError):
                    with self._lock:
                        self._corrupt += 1
                        self._retire(seg, idx)
                    continue
                ref = SpillRef(seg.lane, seg.path.name, offset)
                yield SpilledBatch(ref, batch, seg.times[idx], reason)
        finally:
            os.close(fd)

    def ack(self, ref: SpillRef) -> None:
        """Mark a replayed record delivered; unknown or repeated refs are ignored."""
        with self._lock:
            seg = next(
                (s for s in self._lanes.get(ref.lane, ()) if s.path.name == ref.segment), None
            )
            if seg is None:
                return
            idx = seg.index_of(ref.offset)
            if idx is not None:
                self._retire(seg, idx)

    def _retire(self, seg: SegmentState, idx: int) -> None:
        if not seg.alive or not seg.mark_done(idx):
            return
        if seg.pending == 0 and seg.wfd is None:
            self._delete(seg)

    # -- housekeeping ----------------------------------------------------------

    def stats(self) -> SpillStats:
        """A snapshot of the incremental counters (no directory listing)."""
        with self._lock:
            now = self._clock()
            oldest: float | None = None
            for lane in (LANE_CRITICAL, LANE_STANDARD):
                for seg in self._lanes[lane]:
                    t = seg.oldest_pending()
                    if t is not None:
                        oldest = t if oldest is None else min(oldest, t)
                        break
            recs = {lane: sum(s.pending for s in segs) for lane, segs in self._lanes.items()}
            return SpillStats(
                bytes=self.total_bytes(),
                lane_bytes=dict(self._bytes),
                segments={lane: len(segs) for lane, segs in self._lanes.items()},
                lane_records=recs,
                records_pending=recs[LANE_CRITICAL] + recs[LANE_STANDARD],
                events_pending=sum(
                    s.pending_events
                    for lane in (LANE_CRITICAL, LANE_STANDARD)
                    for s in self._lanes[lane]
                ),
                oldest_age=None if oldest is None else max(0.0, now - oldest),
                corrupt_records=self._corrupt,
                evicted_records=self._evicted_records,
                evicted_events=self._evicted_events,
                disk_full_errors=self._disk_full,
            )

    def flush(self) -> None:
        """fsync every open segment and sidecar now (whatever the fsync policy)."""
        with self._lock:
            for segs in self._lanes.values():
                for seg in segs:
                    for fd in (seg.wfd, seg.afd):
                        if fd is not None:
                            os.fsync(fd)
            self._last_sync = self._clock()

    def close(self) -> None:
        """Seal active segments, close files and release the directory lock."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for segs in self._lanes.values():
                for seg in list(segs):
                    self._seal(seg)
                    seg.close_fds(sync=self._fsync != "never")
            os.close(self._lock_fd)

    def _check_open(self) -> None:
        if self._closed:
            raise SpillError("spill store is closed")

    def __enter__(self) -> SpillStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

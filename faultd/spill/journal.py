"""Intake journal: accepted events survive a crash (SIGKILL, OOM kill, power loss).

Every event the accumulator queues is also appended to a journal segment under
`<spill directory>/journal/`: the events queued during one loop iteration are
written as one CRC-framed record (the spill record format, faultd.spill.segment)
with one write() call.  A segment is sealed after `segment_seconds` and deleted
as soon as every event in it has settled, i.e. its batch was delivered, parked
as rejected, or written to the spill store, all of which are durable elsewhere.

At start, events left in segments by a previous run are read back and offered
to the accumulator again, then the old segments are deleted once the new
journal holds them.  Guarantee: at least once.  An event whose batch was
delivered just before the crash may be delivered again (same event_id, new
batch), never lost.  Folded duplicates are not journaled one by one: after a
crash the first event comes back with the duplicates count it had when it was
journaled.

Events from a receive worker arrive already msgpack-encoded (an uplink frame,
faultd.workers.uplink): between `begin_encoded()` and `end_encoded()` the
journal writes that frame's bytes as the record instead of encoding the queued
events again (the main process's hottest cost after decoding).  Such a record
also holds the frame's events that folded into an earlier one or were dropped;
only the queued ones hold the segment open.  After a crash they come back too
and fold again, so the first event's duplicates count is rebuilt, unless its
own segment was already settled and deleted: then the duplicate is offered as
an event of its own (at least once, as above).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from faultd.clock import Clock, Timer
from faultd.event import Batch, FaultEvent, decode_relayed, for_msgpack
from faultd.spill.segment import (
    CorruptRecord,
    encode_header,
    fsync_dir,
    make_private_dir,
    read_record,
    scan_segment,
    write_all,
)

log = logging.getLogger("faultd.journal")

SUFFIX = ".jnl"
_encoder = msgspec.msgpack.Encoder()


class _Segment:
    __slots__ = ("fd", "path", "pending", "sealed")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.pending = 0
        self.sealed = False


class _Encoded:
    """One worker frame to journal as it is; `events` are those the accumulator queued."""

    __slots__ = ("count", "events", "payload", "segment")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count
        self.events: list[FaultEvent] = []
        self.segment: _Segment | None = None  # set once written


class IntakeJournal:
    def __init__(self, directory: Path, *, clock: Clock, fsync: str = "interval",
                 segment_seconds: float = 2.0,
                 on_error: Callable[[Exception], None] | None = None,
                 background_sync: Callable[[int], None] | None = None) -> None:
        """`background_sync(fd)` runs the once-a-second `interval` fdatasync off the
        event loop (the daemon hands it to a thread); without it, it runs inline."""
        self.directory = directory
        self._background_sync = background_sync
        self._clock = clock
        self._fsync = fsync
        self._segment_seconds = segment_seconds
        self._on_error = on_error
        self._buffer: list[FaultEvent] = []
        self._encoded: list[_Encoded] = []  # worker frames waiting for the next write
        self._open: _Encoded | None = None  # the frame being offered right now
        self._relayed = False  # the buffer holds a RelayedEvent (see flush)
        self._where: dict[str, _Segment] = {}  # event_id -> segment holding it
        self._segments: list[_Segment] = []
        self._flush_timer: Timer | None = None
        self._rotate_timer: Timer | None = None
        self._seq = 0
        self._last_sync = 0.0
        self.failed = False
        make_private_dir(directory)
        self._leftovers = sorted(directory.glob(f"*{SUFFIX}"))
        self._current = self._open_segment()

    # -- writing ---------------------------------------------------------------------

    def _open_segment(self) -> _Segment:
        self._seq += 1
        segment = _Segment(self.directory / f"{time.time_ns():020d}-{self._seq:06d}{SUFFIX}")
        self._segments.append(segment)
        self._rotate_timer = self._clock.call_later(self._segment_seconds, self._rotate)
        return segment

    def record(self, event: FaultEvent) -> None:
        """Journal one queued event (written with the rest of this loop iteration's)."""
        frame = self._open
        if frame is None:
            self._buffer.append(event)
            if type(event) is not FaultEvent:
                self._relayed = True
        elif frame.segment is None:
            frame.events.append(event)
        else:  # its frame was written already (a flush while it was being offered)
            self._where[event.event_id] = frame.segment
            frame.segment.pending += 1
            return
        if self._flush_timer is None:
            self._flush_timer = self._clock.call_later(0.0, self.flush)

    def begin_encoded(self, payload: bytes, count: int) -> None:
        """The events offered until `end_encoded()` are `payload`, a msgpack
        list[FaultEvent] of `count` events (a worker's frame): journal those bytes."""
        self._open = _Encoded(payload, count)

    def end_encoded(self) -> None:
        frame, self._open = self._open, None
        if frame is None or frame.segment is not None:
            return
        if not frame.events:
            return  # nothing queued (all folded or dropped): nothing to bring back
        self._encoded.append(frame)
        if self._flush_timer is None:
            self._flush_timer = self._clock.call_later(0.0, self.flush)

    def flush(self) -> None:
        self._flush_timer = None
        frames = self._encoded
        if self._open is not None and self._open.segment is None and self._open.events:
            frames.append(self._open)
        if not self._buffer and not frames:
            return
        events, self._buffer = self._buffer, []
        self._encoded = []
        segment = self._current
        parts: list[bytes] = []
        now = time.time()
        if events:
            # Relayed events reach this path only when recovered from an older
            # journal's records or offered outside a worker frame: their JSON
            # attributes need an ext wrapper in msgpack.
            payload = _encoder.encode([for_msgpack(event) for event in events]
                                      if self._relayed else events)
            self._relayed = False
            parts += (encode_header(b"", payload, len(events), now), payload)
        for frame in frames:
            parts += (encode_header(b"", frame.payload, frame.count, now), frame.payload)
        try:
            write_all(segment.fd, parts)
            if self._fsync == "always":
                os.fdatasync(segment.fd)
            elif self._fsync == "interval" and self._clock.monotonic() - self._last_sync >= 1:
                self._last_sync = self._clock.monotonic()
                if self._background_sync is not None:
                    self._background_sync(segment.fd)  # a slow disk must not stall the loop
                else:
                    os.fdatasync(segment.fd)
        except OSError as exc:  # disk full: the events still flow; only crash safety is lost
            if not self.failed and self._on_error is not None:
                self._on_error(exc)
            self.failed = True
            return
        self.failed = False
        where = self._where
        for event in events:
            where[event.event_id] = segment
        segment.pending += len(events)
        for frame in frames:
            frame.segment = segment
            for event in frame.events:
                where[event.event_id] = segment
            segment.pending += len(frame.events)

    def _rotate(self) -> None:
        self.flush()
        old = self._current
        old.sealed = True
        self._current = self._open_segment()
        self._maybe_delete(old)

    # -- settling ------------------------------------------------------------------------

    def settle(self, batch: Batch, outcome: str = "delivered") -> None:
        """The batch is durable elsewhere (delivered, parked or spilled): forget its events."""
        self.flush()  # events still in the buffer are settled before they were written
        where = self._where
        touched: set[_Segment] = set()
        for event in batch.events:
            segment = where.pop(event.event_id, None)
            if segment is not None:
                segment.pending -= 1
                touched.add(segment)
        for segment in touched:
            self._maybe_delete(segment)

    def drop(self, event: FaultEvent) -> None:
        """An event was dropped on purpose (evicted, counted): do not bring it back.

        It no longer holds a segment open.  Queued on its own and not yet written, it
        never will be.  Otherwise it is in a record already, or in a worker frame
        whose other events will write it: only if the process crashes before that
        segment is deleted can it come back (at-least-once; there are no tombstones).
        """
        unwritten = [self._buffer, *(frame.events for frame in self._encoded)]
        if self._open is not None and self._open.segment is None:
            unwritten.append(self._open.events)
        for events in unwritten:
            for index in range(len(events) - 1, -1, -1):
                if events[index] is event:
                    del events[index]
                    return
        segment = self._where.pop(event.event_id, None)
        if segment is not None:
            segment.pending -= 1
            self._maybe_delete(segment)

    def _maybe_delete(self, segment: _Segment) -> None:
        if segment.sealed and segment.pending <= 0 and segment in self._segments:
            self._segments.remove(segment)
            os.close(segment.fd)
            segment.path.unlink(missing_ok=True)

    # -- recovery ------------------------------------------------------------------------

    def recover(self) -> list[FaultEvent]:
        """Events a previous run journaled and never settled (torn records skipped)."""
        events: list[FaultEvent] = []
        corrupt = 0
        for path in self._leftovers:
            scan = scan_segment(path)
            corrupt += scan.corrupt
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for offset, length in zip(scan.offsets, scan.lengths, strict=True):
                    try:
                        _, payload = read_record(fd, offset, length)
                        events.extend(decode_relayed(payload))
                    except (CorruptRecord, msgspec.DecodeError, msgspec.ValidationError,
                            ValueError):
                        corrupt += 1
            finally:
                os.close(fd)
        if corrupt:
            log.error("journal: %d damaged records skipped while recovering", corrupt)
        return events

    def forget_leftovers(self) -> None:
        """Delete the previous run's segments, once their events are journaled again."""
        self.flush()
        os.fsync(self._current.fd)
        for path in self._leftovers:
            path.unlink(missing_ok=True)
        self._leftovers = []
        fsync_dir(self.directory)

    def close(self) -> None:
        """Stop journaling; segments whose events all settled are removed."""
        for timer in (self._flush_timer, self._rotate_timer):
            if timer is not None:
                timer.cancel()
        self.flush()
        for segment in list(self._segments):
            segment.sealed = True
            if segment.pending > 0:
                os.fsync(segment.fd)
            self._maybe_delete(segment)
        for segment in self._segments:
            os.close(segment.fd)
        self._segments = []

    def pending_events(self) -> int:
        unwritten = sum(len(frame.events) for frame in self._encoded)
        if self._open is not None and self._open.segment is None:
            unwritten += len(self._open.events)
        return len(self._where) + len(self._buffer) + unwritten

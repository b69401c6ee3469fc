"""The worker -> main process streams: length-prefixed msgpack frames on Unix sockets.

A frame is a 4-byte length, a kind byte and a msgpack payload: `E`, a run of
normalised events (faultd.event.encode_relayed: attributes travel as their JSON),
or `C`, the worker's cumulative counter values (sent twice a second, so the main
process exports one set of metrics).  The worker side batches events per loop
iteration; the main side decodes frames into RelayedEvents and hands them, with
the payload they came in, to the daemon, whose intake journal writes those bytes
as they are (faultd.spill.journal).

Each worker has two uplinks.  Critical events (severity 1) travel on their own,
so they bypass the standard lane's queue here too (DESIGN.md): when the main
process falls behind a storm, the standard uplink backs up (in the kernel and
in the worker, up to BACKLOG_LIMIT), while a critical event is read in the main
process's next loop iteration.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable

import msgspec

from faultd.event import FaultEvent, Severity, decode_relayed, encode_relayed

log = logging.getLogger("faultd.workers")

# The frame format's version, checked when a worker starts: bump it with any change
# to frames or their payloads.  (A package upgrade leaves the running daemon alone,
# and a worker it restarts runs the new code.)  2: attributes as JSON (ext type 1).
PROTOCOL = 2
HEADER = struct.Struct("!I")
MAX_FRAME = 64 << 20
FLUSH_EVENTS = 256  # a frame carries at most this many events
BACKLOG_LIMIT = 32 << 20  # bytes queued towards a slow main process before dropping
CRITICAL = int(Severity.CRITICAL)


EVENTS = ord("E")
COUNTERS = ord("C")

CounterValues = list[tuple[str, str, float]]  # (attribute on Metrics, label value, cumulative)
OnEvents = Callable[[list[FaultEvent], bytes], None]  # events, and their msgpack payload

_encoder = msgspec.msgpack.Encoder()
_counters_decoder = msgspec.msgpack.Decoder(CounterValues)


def encode_frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload) + 1) + bytes((kind,)) + payload


def encode_events(events: list[FaultEvent]) -> bytes:
    """An events frame; the events' attributes are replaced by their JSON."""
    return encode_frame(EVENTS, encode_relayed(events))


class UplinkWriter:
    """Worker side: buffers events and writes one frame per loop iteration.

    With a `critical` transport, severity-1 events are framed onto it instead,
    in the same iteration, never behind the standard backlog.
    """

    def __init__(self, transport: asyncio.WriteTransport, on_drop: Callable[[int], None],
                 critical: asyncio.WriteTransport | None = None) -> None:
        self._transport = transport
        self._critical = critical
        self._on_drop = on_drop
        self._pending: list[FaultEvent] = []
        self._pending_critical: list[FaultEvent] = []
        self._scheduled = False
        self._loop = asyncio.get_running_loop()

    def send(self, event: FaultEvent) -> bool:
        if event.severity == CRITICAL and self._critical is not None:
            self._pending_critical.append(event)
        else:
            self._pending.append(event)
            if len(self._pending) >= FLUSH_EVENTS:
                self._write(self._transport, self._take_standard())
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)
        return True

    def has_capacity(self) -> bool:
        return self._transport.get_write_buffer_size() < BACKLOG_LIMIT

    def flush(self) -> None:
        self._scheduled = False
        if self._pending_critical and self._critical is not None:
            events, self._pending_critical = self._pending_critical, []
            self._write(self._critical, events)
        if self._pending:
            self._write(self._transport, self._take_standard())

    def _take_standard(self) -> list[FaultEvent]:
        events, self._pending = self._pending, []
        return events

    def _write(self, transport: asyncio.WriteTransport, events: list[FaultEvent]) -> None:
        if transport.is_closing():
            self._on_drop(len(events))
            return
        if transport.get_write_buffer_size() >= BACKLOG_LIMIT:
            self._on_drop(len(events))  # main process not keeping up: count, never block
            return
        transport.write(encode_events(events))

    def send_counters(self, values: CounterValues) -> None:
        if not self._transport.is_closing():
            self._transport.write(encode_frame(COUNTERS, _encoder.encode(values)))


class UplinkReader(asyncio.Protocol):
    """Main side: one per worker; decodes frames and dispatches them.

    (Reading through asyncio.BufferedProtocol in 64 KiB bites, to keep loop
    iterations short under a storm, made no measurable difference to the critical
    lane's latency; bench/RESULTS.md, round 4.)
    """

    def __init__(self, on_events: OnEvents, on_counters: Callable[[CounterValues], None]) -> None:
        self._on_events = on_events
        self._on_counters = on_counters
        self._buffer = bytearray()
        self._transport: asyncio.BaseTransport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        while len(buffer) - offset >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, offset)
            if size > MAX_FRAME or size == 0:
                # The stream is out of step: nothing after this can be trusted.
                log.error("worker uplink sent a %d-byte frame; closing it", size)
                buffer.clear()
                if self._transport is not None:
                    self._transport.close()  # the worker exits; the supervisor restarts it
                return
            end = offset + HEADER.size + size
            if len(buffer) < end:
                break
            kind = buffer[offset + HEADER.size]
            with memoryview(buffer) as view:  # one copy; released before the buffer is resized
                payload = bytes(view[offset + HEADER.size + 1:end])  # the journal keeps it
            offset = end
            if kind == EVENTS:
                self._on_events(decode_relayed(payload), payload)
            elif kind == COUNTERS:
                self._on_counters(_counters_decoder.decode(payload))
            else:
                log.error("worker uplink sent a frame of unknown kind %d; skipped", kind)
        del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

"""The canonical fault event and batch envelope (DESIGN.md: faultd.event/v1, faultd.batch/v1).

Every source turns what it reads into a `FaultEvent`; the accumulator groups events
into a `Batch`; sinks serialise batches with `encode_batch`.  These types are the
only thing stages share, so they stay small and free of behaviour.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from enum import IntEnum
from typing import Any, Final

import msgspec

EVENT_SCHEMA: Final = "faultd.event/v1"
BATCH_SCHEMA: Final = "faultd.batch/v1"

LANE_CRITICAL: Final = "critical"
LANE_STANDARD: Final = "standard"

TRIGGERS: Final = ("window", "size", "shutdown", "replay")


class Severity(IntEnum):
    """Fault severity; lower is more urgent."""

    CRITICAL = 1
    MAJOR = 2
    MINOR = 3
    WARNING = 4


SEVERITIES: Final = tuple(Severity)


class FaultEvent(msgspec.Struct, kw_only=True, gc=False):
    """One accepted fault, in the shape every stage after the source sees.

    `gc=False`: events hold only str/float/int and a flat attributes dict of
    scalars, so they cannot form cycles; skipping GC tracking keeps a storm's
    worth of queued events cheap.
    """

    event_id: str
    node_id: str
    source: str
    severity: int
    fault_code: str
    message: str
    timestamp: float
    received_at: float
    tier: str = ""
    dedup_key: str = ""
    duplicates: int = 0
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    schema: str = EVENT_SCHEMA


class Batch(msgspec.Struct, kw_only=True, gc=False):
    """A batch envelope as POSTed downstream (faultd.batch/v1)."""

    batch_id: str
    collector: str
    tier: str
    lane: str
    trigger: str
    opened_at: float
    emitted_at: float
    event_count: int
    events: list[FaultEvent]
    schema: str = BATCH_SCHEMA


_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(Batch)


def encode_batch(batch: Batch) -> bytes:
    """Serialise a batch to the JSON wire form."""
    return _encoder.encode(batch)


def decode_batch(data: bytes) -> Batch:
    """Parse (and validate) a JSON batch envelope; raises msgspec.ValidationError/DecodeError."""
    return _batch_decoder.decode(data)


def dedup_key(node_id: str, fault_code: str, identity: str) -> str:
    """Stable identity hash of an event: node, fault code and the identifying text.

    `identity` is whatever the source says makes two events the same alarm (for
    syslog the message text without stamps; for traps the non-volatile varbind
    values).  The hash is exact: different text, different key.
    """
    h = hashlib.blake2b(digest_size=10)
    h.update(node_id.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(fault_code.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(identity.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class _Uuid7:
    """UUIDv7 generator (RFC 9562): 48-bit ms time, 12-bit counter, 62 random bits.

    Python 3.11 has no uuid.uuid7.  Monotonic within a process: the 12-bit counter
    (rand_a) orders ids inside one millisecond, and borrows the next millisecond
    when it overflows, as RFC 9562 §6.2 method 1 allows.  The random tail comes
    from one os.urandom call per 64 ids to keep this off the hot path's profile.
    """

    __slots__ = ("_counter", "_last_ms", "_lock", "_pool", "_pool_pos")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0
        self._pool = b""
        self._pool_pos = 0

    def __call__(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = 0
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
            ms = self._last_ms
            counter = self._counter
            if self._pool_pos >= len(self._pool):
                self._pool = os.urandom(8 * 64)
                self._pool_pos = 0
            tail = int.from_bytes(self._pool[self._pool_pos : self._pool_pos + 8], "big")
            self._pool_pos += 8
        tail = (tail & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  # variant 10
        hi = (ms << 16) | 0x7000 | counter  # version 7
        h = f"{hi:016x}{tail:016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


new_id: Final = _Uuid7()
"""Return a fresh time-ordered UUIDv7 string; used for event_id and batch_id."""

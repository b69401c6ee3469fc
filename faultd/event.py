"""The canonical fault event and batch envelope (DESIGN.md: faultd.event/v1, faultd.batch/v1).

Every source turns what it reads into a `FaultEvent`; the accumulator groups events
into a `Batch`; sinks serialise batches with `encode_batch`.  These types are the
only thing stages share, so they stay small and free of behaviour.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

import msgspec

from faultd.ids import dedup_key, new_id

__all__ = ["BATCH_SCHEMA", "EVENT_SCHEMA", "LANE_CRITICAL", "LANE_STANDARD", "SEVERITIES",
           "TRIGGERS", "Batch", "FaultEvent", "Severity", "decode_batch", "dedup_key",
           "encode_batch", "new_id"]

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

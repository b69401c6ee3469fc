"""The canonical fault event and batch envelope (DESIGN.md: faultd.event/v1, faultd.batch/v1).

Every source turns what it reads into a `FaultEvent`; the accumulator groups events
into a `Batch`; sinks serialise batches with `encode_batch`.  These types are the
only thing stages share, so they stay small and free of behaviour.

A receive worker (`workers: N`) sends its events to the main process as msgpack
with the attributes already in their JSON form (an msgpack ext of type
ATTRIBUTES_JSON); the main process decodes them as `RelayedEvent`s whose
attributes are that JSON (msgspec.Raw), which `encode_batch` writes out as it is.
The main process never builds, walks or frees the attribute dicts of relayed
events, which were a third of its per-event work.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

import msgspec

from faultd.ids import dedup_key, new_id

__all__ = ["ATTRIBUTES_JSON", "BATCH_SCHEMA", "EVENT_SCHEMA", "LANE_CRITICAL", "LANE_STANDARD",
           "SEVERITIES", "TRIGGERS", "Batch", "FaultEvent", "RelayedEvent", "Severity",
           "attributes_of", "decode_batch", "decode_relayed", "dedup_key", "encode_batch",
           "encode_relayed", "for_msgpack", "new_id"]

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


class RelayedEvent(FaultEvent, kw_only=True, gc=False):
    """A FaultEvent decoded from a receive worker's msgpack: `attributes` may be
    their JSON text (msgspec.Raw), as the worker encoded it.  Same fields, same
    order, same JSON as a FaultEvent (tests/test_event.py)."""

    attributes: Any = msgspec.field(default_factory=dict)


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


# -- relayed events (receive worker -> main process, intake journal) -----------------

ATTRIBUTES_JSON: Final = 1  # msgpack ext type: an event's attributes as JSON text

_msgpack_encoder = msgspec.msgpack.Encoder()
_json_encode = _encoder.encode


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == ATTRIBUTES_JSON:
        # A copy: a view would keep the whole frame alive as long as any one event
        # of it waits in a window (a frame of folded duplicates and one new event).
        return msgspec.Raw(bytes(data))
    raise ValueError(f"unknown msgpack ext type {code} in an event")


_relayed_decoder = msgspec.msgpack.Decoder(list[RelayedEvent], ext_hook=_ext_hook)


def encode_relayed(events: list[FaultEvent]) -> bytes:
    """msgpack of `events` with each attributes dict sent as its JSON (the worker's
    side).  Replaces the events' attributes in place: the caller is done with them."""
    for event in events:
        attributes: Any = event.attributes
        if type(attributes) is dict:
            event.attributes = msgspec.msgpack.Ext(ATTRIBUTES_JSON, _json_encode(attributes))  # type: ignore[assignment]
    return _msgpack_encoder.encode(events)


def decode_relayed(data: bytes) -> list[FaultEvent]:
    """Events from `encode_relayed` (or plain msgpack of FaultEvents); raises
    msgspec.DecodeError/ValidationError."""
    events: list[Any] = _relayed_decoder.decode(data)
    return events


def for_msgpack(event: FaultEvent) -> FaultEvent:
    """`event`, or a copy whose JSON attributes are an ATTRIBUTES_JSON ext, for a
    msgpack encoder (which would write a msgspec.Raw's JSON bytes as they are)."""
    attributes: Any = event.attributes
    if type(attributes) is not msgspec.Raw:
        return event
    return msgspec.structs.replace(
        event, attributes=msgspec.msgpack.Ext(ATTRIBUTES_JSON, bytes(attributes)))


def attributes_of(event: FaultEvent) -> dict[str, Any]:
    """The attributes as a dict, whether the event is local or relayed."""
    attributes: Any = event.attributes
    if type(attributes) is msgspec.Raw:
        decoded: dict[str, Any] = msgspec.json.decode(attributes)
        return decoded
    return event.attributes

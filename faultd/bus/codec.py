"""Event <-> message payload on the bus: msgpack of the canonical FaultEvent.

msgpack (via msgspec) is about half the size of the JSON form and decodes
straight into the typed struct; the schema string travels in the event.
"""

from __future__ import annotations

import msgspec

from faultd.event import FaultEvent, attributes_of

CONTENT_TYPE = "application/vnd.faultd.event.v1+msgpack"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(FaultEvent)


def encode_event(event: FaultEvent) -> bytes:
    """Serialise one event for publishing (a relayed event's JSON attributes as a map,
    so every consumer decodes a plain FaultEvent)."""
    if type(event.attributes) is not dict:
        event = msgspec.structs.replace(event, attributes=attributes_of(event))
    return _encoder.encode(event)


def decode_event(data: bytes) -> FaultEvent:
    """Parse one published event; raises msgspec.DecodeError/ValidationError on garbage."""
    return _decoder.decode(data)

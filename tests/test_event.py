"""Canonical event helpers: ids, dedup keys, envelope round trip."""

from __future__ import annotations

import hashlib
import time
import uuid

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultd import ids as faultd_ids
from faultd.event import (
    Batch,
    FaultEvent,
    RelayedEvent,
    attributes_of,
    decode_batch,
    decode_relayed,
    dedup_key,
    encode_batch,
    encode_relayed,
    for_msgpack,
    new_id,
)


def test_new_id_is_a_unique_uuid7_ordered_by_millisecond() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)


def test_dedup_key_is_exact() -> None:
    a = dedup_key("acc-1", "LINK-3-UPDOWN", "Interface Gi0/1, changed state to down")
    assert a == dedup_key("acc-1", "LINK-3-UPDOWN", "Interface Gi0/1, changed state to down")
    assert a != dedup_key("acc-1", "LINK-3-UPDOWN", "Interface Gi0/2, changed state to down")
    assert a != dedup_key("acc-2", "LINK-3-UPDOWN", "Interface Gi0/1, changed state to down")
    # field boundaries matter: ("ab","c") is not ("a","bc")
    assert dedup_key("ab", "c", "x") != dedup_key("a", "bc", "x")


def test_batch_envelope_round_trips_with_schema_fields() -> None:
    event = FaultEvent(event_id=new_id(), node_id="n", source="snmp", severity=2,
                       fault_code="IF-MIB::linkDown", message="m", timestamp=1.5, received_at=2.5,
                       tier="core", attributes={"ifIndex": 2, "label": "down"})
    batch = Batch(batch_id=new_id(), collector="c", tier="core", lane="standard",
                  trigger="window", opened_at=1.0, emitted_at=3.0, event_count=1, events=[event])
    wire = encode_batch(batch)
    assert b'"schema":"faultd.batch/v1"' in wire and b'"schema":"faultd.event/v1"' in wire
    assert decode_batch(wire) == batch


def _reference_dedup_key(node_id: str, fault_code: str, identity: str) -> str:
    """dedup_key as first written (field by field); keys must never change."""
    h = hashlib.blake2b(digest_size=10)
    h.update(node_id.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(fault_code.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(identity.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@settings(max_examples=300)
@given(st.text(), st.text(), st.text(alphabet=st.characters(codec=None)))
def test_dedup_key_equals_the_field_by_field_hash(node: str, code: str, identity: str) -> None:
    assert dedup_key(node, code, identity) == _reference_dedup_key(node, code, identity)


def test_dedup_key_known_value() -> None:  # pinned: spilled and bus events carry keys
    assert dedup_key("a", "b", "c") == "3775c665d47aee3a45b5"
    assert dedup_key("n", "f", "\ud800x") == _reference_dedup_key("n", "f", "\ud800x")


def test_new_id_has_the_documented_layout() -> None:
    """Same string as the original single-format construction, for the same (ms, n)."""
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(new_id()) for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    counters = []
    for u in ids:
        ms, rand_a, tail = u.int >> 80, (u.int >> 64) & 0xFFF, u.int & (2**64 - 1)
        assert before <= ms <= after
        n = (tail - faultd_ids._ID_BASE) & 0x3FFF_FFFF_FFFF_FFFF  # tail = base + n (mod 2^62)
        assert n & 0xFFF == rand_a
        h = "%012x7%03x%016x" % (ms, n & 0xFFF, tail)  # noqa: UP031 - the original form
        assert str(u) == f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        counters.append(n)
    assert counters == list(range(counters[0], counters[0] + len(counters)))


# -- relayed events: a receive worker sends attributes as their JSON -----------------

_scalars = (st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none()
            | st.floats(allow_nan=False, allow_infinity=False))
_attributes = st.dictionaries(st.text(max_size=10), _scalars, max_size=8)


def _event(i: int, attributes: dict[str, object]) -> FaultEvent:
    return FaultEvent(event_id=f"e{i}", node_id="n", source="syslog", severity=4,
                      fault_code="c", message=f"m{i}", timestamp=1.5, received_at=2.5,
                      dedup_key="k", attributes=attributes)


def _batch(events: list[FaultEvent]) -> Batch:
    return Batch(batch_id="b", collector="c", tier="t", lane="standard", trigger="window",
                 opened_at=1.0, emitted_at=2.0, event_count=len(events), events=events)


@settings(max_examples=300)
@given(st.lists(_attributes, max_size=5),
       st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3))
def test_relayed_events_make_the_same_batch_json(attrs: list[dict[str, object]],
                                                 odd: list[float]) -> None:
    """The worker's JSON attributes, written as they are, give byte-identical batches
    (NaN and infinities included: both ways they become null)."""
    attrs = [*attrs, {f"f{i}": x for i, x in enumerate(odd)}]
    local = [_event(i, a) for i, a in enumerate(attrs)]
    relayed = decode_relayed(encode_relayed([_event(i, dict(a)) for i, a in enumerate(attrs)]))
    assert all(type(e) is RelayedEvent for e in relayed)
    assert encode_batch(_batch(relayed)) == encode_batch(_batch(local))
    # for a msgpack writer (journal, bus) they turn back into the same thing
    again = decode_relayed(msgspec.msgpack.encode([for_msgpack(e) for e in relayed]))
    assert encode_batch(_batch(again)) == encode_batch(_batch(local))


@given(_attributes)
def test_attributes_of_a_relayed_event_equal_the_original(attrs: dict[str, object]) -> None:
    (relayed,) = decode_relayed(encode_relayed([_event(0, dict(attrs))]))
    assert attributes_of(relayed) == attrs
    assert attributes_of(_event(0, attrs)) is attrs


def test_relayed_event_has_faultevents_fields_in_order() -> None:
    assert RelayedEvent.__struct_fields__ == FaultEvent.__struct_fields__
    assert isinstance(RelayedEvent(event_id="e", node_id="n", source="s", severity=1,
                                   fault_code="c", message="m", timestamp=0, received_at=0),
                      FaultEvent)


def test_plain_faultevents_decode_as_relayed() -> None:
    """Journal records written before attributes travelled as JSON still recover."""
    old = msgspec.msgpack.encode([_event(0, {"a": 1})])
    (event,) = decode_relayed(old)
    assert event.attributes == {"a": 1}


def test_unknown_ext_type_is_refused() -> None:
    bad = msgspec.msgpack.encode([_event(0, msgspec.msgpack.Ext(9, b"{}"))])  # type: ignore[arg-type]
    with pytest.raises((ValueError, msgspec.DecodeError)):
        decode_relayed(bad)

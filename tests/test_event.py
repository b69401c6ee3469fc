"""Canonical event helpers: ids, dedup keys, envelope round trip."""

from __future__ import annotations

import uuid

from faultd.event import Batch, FaultEvent, decode_batch, dedup_key, encode_batch, new_id


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

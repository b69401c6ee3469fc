"""Intake journal: queued events survive a crash; settled segments disappear."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from faultd.event import (
    Batch,
    FaultEvent,
    attributes_of,
    decode_relayed,
    encode_relayed,
    new_id,
)
from faultd.spill.journal import IntakeJournal
from support.clock import ManualClock


def event(i: int) -> FaultEvent:
    return FaultEvent(event_id=new_id(), node_id="acc-1", source="syslog", severity=3,
                      fault_code="X", message=f"m{i}", timestamp=1.0, received_at=1.0,
                      attributes={"i": i})


def batch(events: list[FaultEvent]) -> Batch:
    return Batch(batch_id=new_id(), collector="t", tier="all", lane="standard",
                 trigger="window", opened_at=0, emitted_at=0, event_count=len(events),
                 events=events)


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jnl"))


def test_unsettled_events_come_back_after_a_crash(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    events = [event(i) for i in range(10)]
    for e in events:
        journal.record(e)
    clock.advance(0)  # end of the loop iteration: one write
    journal.settle(batch(events[:4]), "delivered")
    # crash: no close(); a new process opens the directory
    again = IntakeJournal(tmp_path, clock=ManualClock())
    recovered = again.recover()
    assert [e.message for e in recovered] == [f"m{i}" for i in range(10)]  # at least once
    for e in recovered:
        again.record(e)
    again.forget_leftovers()
    assert len(files(tmp_path)) == 1  # only the new run's segment


def test_sealed_segment_is_deleted_when_everything_in_it_settled(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock, segment_seconds=2.0)
    events = [event(i) for i in range(5)]
    for e in events:
        journal.record(e)
    clock.advance(2.5)  # flush, then rotate: the first segment is sealed
    assert len(files(tmp_path)) == 2
    journal.settle(batch(events[:3]), "delivered")
    assert len(files(tmp_path)) == 2
    journal.settle(batch(events[3:]), "spilled")
    assert len(files(tmp_path)) == 1
    assert journal.pending_events() == 0


def test_dropped_events_are_never_recovered(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    kept, evicted = event(1), event(2)
    journal.record(kept)
    journal.record(evicted)
    journal.drop(evicted)  # dropped before the loop iteration's write
    clock.advance(0)
    recovered = IntakeJournal(tmp_path, clock=ManualClock()).recover()
    assert [e.message for e in recovered] == ["m1"]


def test_clean_close_leaves_nothing_when_all_settled(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    events = [event(i) for i in range(3)]
    for e in events:
        journal.record(e)
    journal.settle(batch(events), "delivered")
    journal.close()
    assert files(tmp_path) == []


def test_torn_tail_is_skipped_and_the_rest_recovered(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    for i in range(3):
        journal.record(event(i))
    clock.advance(0)
    for i in range(3, 6):
        journal.record(event(i))
    clock.advance(0)
    (path,) = files(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])  # the second record is torn
    recovered = IntakeJournal(tmp_path, clock=ManualClock()).recover()
    assert [e.message for e in recovered] == ["m0", "m1", "m2"]


# -- worker frames journaled as they came (begin_encoded / end_encoded) -------------------


def offer_frame(journal: IntakeJournal, events: list[FaultEvent], queued: set[int],
                during: Callable[[int], None] | None = None) -> bytes:
    """What the daemon does with a worker's frame: the accumulator records the events
    it queues (index in `queued`); the others folded or were dropped."""
    payload = msgspec.msgpack.encode(events)
    journal.begin_encoded(payload, len(events))
    for i, e in enumerate(events):
        if i in queued:
            journal.record(e)
        if during is not None:
            during(i)
    journal.end_encoded()
    return payload


def test_a_worker_frame_is_written_as_it_came(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    events = [event(i) for i in range(4)]
    journal.record(extra := event(9))  # a local event in the same loop iteration
    payload = offer_frame(journal, events, queued={0, 2})
    assert journal.pending_events() == 3
    clock.advance(0)
    (path,) = files(tmp_path)
    assert payload in path.read_bytes()  # not re-encoded
    recovered = IntakeJournal(tmp_path, clock=ManualClock()).recover()
    # the folded ones come back too (they fold again on recovery)
    assert sorted(e.message for e in recovered) == ["m0", "m1", "m2", "m3", "m9"]
    journal.settle(batch([extra, events[0], events[2]]), "delivered")
    assert journal.pending_events() == 0


def test_folded_events_of_a_frame_do_not_hold_its_segment(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock, segment_seconds=2.0)
    events = [event(i) for i in range(5)]
    offer_frame(journal, events, queued={1, 3})
    clock.advance(2.5)  # written, then sealed
    assert len(files(tmp_path)) == 2
    journal.settle(batch([events[1], events[3]]), "delivered")
    assert len(files(tmp_path)) == 1
    offer_frame(journal, [event(7)], queued=set())  # everything folded: nothing written
    clock.advance(0)
    assert journal.pending_events() == 0
    assert IntakeJournal(tmp_path, clock=ManualClock()).recover() == []


def test_a_flush_while_a_frame_is_offered_accounts_for_the_rest(tmp_path: Path) -> None:
    """A size-triggered batch settles in the middle of a frame: settle() writes the
    frame then; events queued after that still hold the segment until settled."""
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock, segment_seconds=2.0)
    events = [event(i) for i in range(4)]

    def during(i: int) -> None:
        if i == 1:
            journal.settle(batch([events[0]]), "delivered")

    offer_frame(journal, events, queued={0, 1, 2, 3}, during=during)
    assert journal.pending_events() == 3
    clock.advance(2.5)
    assert len(files(tmp_path)) == 2  # events 1-3 still hold the sealed segment
    journal.settle(batch(events[1:3]), "delivered")
    assert len(files(tmp_path)) == 2  # event 3, queued after the write, still holds it
    journal.settle(batch(events[3:]), "delivered")
    assert len(files(tmp_path)) == 1
    (path,) = files(tmp_path)
    assert path.read_bytes() == b""  # the frame was written once, in the first segment


def test_an_event_of_a_frame_dropped_before_the_write_does_not_hold_it(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock, segment_seconds=2.0)
    events = [event(i) for i in range(2)]
    offer_frame(journal, events, queued={0, 1})
    journal.drop(events[1])  # evicted before the loop iteration's write
    assert journal.pending_events() == 1
    clock.advance(2.5)
    journal.settle(batch(events[:1]), "delivered")
    assert len(files(tmp_path)) == 1  # only the new, empty segment


def test_relayed_events_outside_a_frame_are_journaled_readably(tmp_path: Path) -> None:
    """Recovered worker events (attributes as JSON text) are journaled again one by
    one; the record must decode, attributes and all."""
    clock = ManualClock()
    journal = IntakeJournal(tmp_path, clock=clock)
    (relayed,) = decode_relayed(encode_relayed([event(1)]))
    journal.record(relayed)
    journal.record(event(2))
    clock.advance(0)
    recovered = IntakeJournal(tmp_path, clock=ManualClock()).recover()
    assert [attributes_of(e) for e in recovered] == [{"i": 1}, {"i": 2}]

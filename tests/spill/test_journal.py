"""Intake journal: queued events survive a crash; settled segments disappear."""

from __future__ import annotations

from pathlib import Path

from faultd.event import Batch, FaultEvent, new_id
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

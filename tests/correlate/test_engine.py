"""Engine behaviour: fibre cut root cause, clears, routing, restart and idempotency."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from faultd.correlate import CorrelationEngine
from faultd.correlate.tickets import TicketView

from .conftest import T0, Clock, batch, ev

Make = Callable[..., CorrelationEngine]


def _fibre_cut_events() -> list:
    children = [ev(f"acc-{i:03d}", ts=T0 + 1 + i * 0.1) for i in range(1, 201)]
    return [ev("agg-1", ts=T0 + 5), *children]


def _only_open(engine: CorrelationEngine) -> TicketView:
    tickets = engine.open_tickets()
    assert len(tickets) == 1, [t.root_cause.node for t in tickets]
    return tickets[0]


@pytest.mark.parametrize("order", ["root_first", "children_first", "shuffled"])
@pytest.mark.parametrize("batches", [1, 4, 13])
def test_fibre_cut_is_one_ticket(make_engine: Make, order: str, batches: int) -> None:
    engine = make_engine()
    events = _fibre_cut_events()
    if order == "children_first":
        events = events[1:] + events[:1]
    elif order == "shuffled":
        random.Random(batches).shuffle(events)
    size = -(-len(events) // batches)
    changes = []
    for i in range(0, len(events), size):
        changes += engine.evaluate(batch(events[i : i + size])).changes
    t = _only_open(engine)
    assert t.root_cause.node == "agg-1"
    assert t.root_cause.fault_code == "IF-MIB::linkDown"
    assert t.root_cause.first_seen == T0 + 5
    assert t.symptom_count == 200
    assert {s.node for s in t.symptoms} == {f"acc-{i:03d}" for i in range(1, 201)}
    assert {"cust-001", "cust-200", "mobile-north", "north-backhaul"} <= set(t.impacted_services)
    assert "lyo-cust-001" not in t.impacted_services
    # every ticket ever emitted besides the root's ended merged into it
    emitted = {c.ticket_id for c in changes}
    last = {c.ticket_id: c for c in changes}
    for tid in emitted - {t.ticket_id}:
        assert last[tid].action == "merge" and last[tid].ticket.merged_into == t.ticket_id
    # the aggregation node's link-up resolves it
    res = engine.evaluate(batch([ev("agg-1", "IF-MIB::linkUp", T0 + 90)]))
    assert [(c.action, c.ticket_id) for c in res.changes] == [("resolve", t.ticket_id)]
    assert res.changes[0].ticket.state == "resolved"
    assert engine.open_tickets() == []


def test_multi_level_root_cause(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("acc-001", ts=T0), ev("acc-002", ts=T0 + 1)]))
    engine.evaluate(batch([ev("agg-1", ts=T0 + 2)]))
    engine.evaluate(batch([ev("core-1", ts=T0 + 3), ev("acc-003", ts=T0 + 4)]))
    t = _only_open(engine)
    assert t.root_cause.node == "core-1"
    assert {s.node for s in t.symptoms} == {"agg-1", "acc-001", "acc-002", "acc-003"}


def test_outside_window_is_a_new_ticket(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("agg-1", ts=T0)]))
    engine.evaluate(batch([ev("acc-001", ts=T0 + 31)]))
    assert sorted(t.root_cause.node for t in engine.open_tickets()) == ["acc-001", "agg-1"]


def test_unrelated_branch_is_separate(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("agg-1", ts=T0), ev("lyo-001", ts=T0 + 1)]))
    assert sorted(t.root_cause.node for t in engine.open_tickets()) == ["agg-1", "lyo-001"]


def test_repeat_is_an_occurrence_and_severity_escalates(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("acc-001", "FRAME-ERR", ts=T0, severity=3)]))
    res = engine.evaluate(batch([ev("acc-001", "FRAME-ERR", ts=T0 + 2, severity=2)]))
    (change,) = res.changes
    assert change.action == "update"
    assert "severity_escalation" in change.reasons
    assert change.ticket.severity == 2
    assert change.ticket.root_cause.occurrences == 2
    assert change.ticket.symptom_count == 0


def test_all_cleared_policy_needs_every_clear(make_engine: Make) -> None:
    engine = make_engine(root_cause={"resolve_when": "all_cleared"})
    engine.evaluate(batch([ev("agg-1", ts=T0), ev("acc-001", ts=T0 + 1)]))
    engine.evaluate(batch([ev("agg-1", "IF-MIB::linkUp", ts=T0 + 5)]))
    assert len(engine.open_tickets()) == 1
    res = engine.evaluate(batch([ev("acc-001", "IF-MIB::linkUp", ts=T0 + 6)]))
    assert [c.action for c in res.changes] == ["resolve"]


def test_clear_needs_same_interface(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("acc-001", ts=T0, attributes={"IF-MIB::ifIndex.3": 3})]))
    res = engine.evaluate(
        batch([ev("acc-001", "IF-MIB::linkUp", T0 + 1, attributes={"ifIndex": 4})])
    )
    assert res.unmatched_clears == 1 and len(engine.open_tickets()) == 1
    res = engine.evaluate(
        batch([ev("acc-001", "IF-MIB::linkUp", T0 + 2, attributes={"ifIndex": 3})])
    )
    assert [c.action for c in res.changes] == ["resolve"]


def test_syslog_updown_pairing(make_engine: Make) -> None:
    engine = make_engine()
    down = "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down"
    up = "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up"
    other_up = "%LINK-3-UPDOWN: Interface GigabitEthernet0/2, changed state to up"
    engine.evaluate(batch([ev("acc-010", "LINK-3-UPDOWN", T0, message=down, source="syslog")]))
    assert engine.open_tickets()[0].root_cause.key == "GigabitEthernet0/1"
    engine.evaluate(batch([ev("acc-010", "LINK-3-UPDOWN", T0 + 1, message=other_up)]))
    assert len(engine.open_tickets()) == 1
    engine.evaluate(batch([ev("acc-010", "LINK-3-UPDOWN", T0 + 2, message=up)]))
    assert engine.open_tickets() == []


def test_attributes_clears_from_normalizer(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("acc-020", "VENDOR-MIB::fanFailure", T0)]))
    clear = ev(
        "acc-020",
        "VENDOR-MIB::fanOk",
        T0 + 3,
        attributes={"ifIndex": 1, "clears": "VENDOR-MIB::fanFailure"},
    )
    res = engine.evaluate(batch([clear]))
    assert [c.action for c in res.changes] == ["resolve"]


def test_drop_rule(make_engine: Make) -> None:
    engine = make_engine(
        rules=[{"match": {"fault_code": "*authenticationFailure"}, "action": "drop"}]
    )
    res = engine.evaluate(batch([ev("acc-001", "SNMPv2-MIB::authenticationFailure", T0)]))
    assert res.dropped == 1 and engine.open_tickets() == []


def test_restart_keeps_open_tickets_and_not_resolved_ones(
    make_engine: Make, tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "persist"
    engine = make_engine(state)
    events = _fibre_cut_events()
    engine.evaluate(batch(events[100:]))
    engine.evaluate(batch(events[:100]))
    engine.evaluate(batch([ev("lyo-001", ts=T0), ev("lyo-002", "X", ts=T0)]))
    engine.evaluate(batch([ev("lyo-001", "IF-MIB::linkUp", ts=T0 + 2)]))
    before = {t.ticket_id: t for t in engine.open_tickets()}
    engine.close()

    again = make_engine(state)
    after = {t.ticket_id: t for t in again.open_tickets()}
    assert after.keys() == before.keys()
    agg = next(t for t in after.values() if t.root_cause.node == "agg-1")
    assert agg.symptom_count == 200
    assert agg == before[agg.ticket_id]
    # the resolved lyo-001 ticket stays resolved: a new fault opens a new ticket
    resolved_id = next(iter(set(engine_ids_all(state)) - set(before)))
    res = again.evaluate(batch([ev("lyo-001", ts=T0 + 3)]))
    assert [c.action for c in res.changes] == ["open"]
    assert res.changes[0].ticket_id != resolved_id
    # correlation state survived too: a late symptom joins the restored ticket
    res = again.evaluate(batch([ev("acc-007", "BER-HIGH", ts=T0 + 20)]))
    assert [(c.action, c.ticket_id) for c in res.changes] == [("update", agg.ticket_id)]
    res = again.evaluate(batch([ev("agg-1", "IF-MIB::linkUp", ts=T0 + 40)]))
    assert [(c.action, c.ticket_id) for c in res.changes] == [("resolve", agg.ticket_id)]


def engine_ids_all(state: Path) -> list[str]:
    from faultd.correlate.reader import TicketReader
    from faultd.correlate.store import db_path

    reader = TicketReader(db_path(state))
    try:
        return [v.ticket_id for v in reader.tickets(state="all") if v.state == "resolved"]
    finally:
        reader.close()


def test_batch_idempotency_across_restart(make_engine: Make, tmp_path: Path) -> None:
    state = tmp_path / "idem"
    engine = make_engine(state)
    b = batch([ev("acc-001", ts=T0), ev("acc-002", ts=T0)])
    first = engine.evaluate(b)
    assert not first.duplicate and first.opened == 2 and len(first.changes) == 2
    again = engine.evaluate(b)
    assert again.duplicate and again.changes == [] and again.opened == 2
    engine.close()
    restarted = make_engine(state)
    third = restarted.evaluate(b)
    assert third.duplicate and third.changes == []
    assert len(restarted.open_tickets()) == 2
    assert restarted.open_tickets()[0].root_cause.occurrences == 1


def test_deterministic_ticket_ids(make_engine: Make, tmp_path: Path) -> None:
    events = _fibre_cut_events()
    a = make_engine(tmp_path / "a").evaluate(batch(list(events)))
    b = make_engine(tmp_path / "b").evaluate(batch(list(reversed(events))))
    assert [c.ticket_id for c in a.changes] == [c.ticket_id for c in b.changes]
    assert [c.ticket for c in a.changes] == [c.ticket for c in b.changes]

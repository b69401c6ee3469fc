"""Policy validation (errors name YAML paths), routing tree, maintenance windows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from faultd.correlate import CorrelationEngine, PolicyError, load_policy, parse_policy

from .conftest import T0, Clock, batch, ev, policy_dict

Make = Callable[..., CorrelationEngine]
ROOT = Path(__file__).resolve().parents[2]


def _errors(**overrides: Any) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(policy_dict(**overrides))
    return info.value.errors


def test_example_policy_is_valid() -> None:
    policy = load_policy(ROOT / "etc" / "correlation.yaml")
    engine = CorrelationEngine(policy)
    assert engine.topology.ancestors["acc-001"] == (("agg-1", 1), ("core-1", 2))


def test_errors_name_yaml_paths() -> None:
    assert _errors(routing={"queue": "noc", "routes": [{"queue": "nope"}]}) == [
        "routing.routes[0].queue: unknown queue 'nope'"
    ]
    assert _errors(root_cause={"correlation_window_seconds": "x"}) == [
        "root_cause.correlation_window_seconds: Expected `float`, got `str`"
    ]
    assert _errors(rules=[{"match": {"bogus": 1}}]) == ["rules[0].match.bogus: unknown key"]
    errs = _errors(rules=[{"match": {"fault_code": "re:(unclosed"}}])
    assert errs[0].startswith("rules[0].match: ")
    errs = _errors(
        maintenance=[
            {
                "name": "m",
                "scope": {"site": "x"},
                "timezone": "Mars/Olympus",
                "recurring": {"days": ["mon"], "start": "01:00", "end": "02:00"},
            }
        ]
    )
    assert errs == ["maintenance[0].timezone: unknown time zone 'Mars/Olympus'"]
    errs = _errors(
        maintenance=[
            {
                "name": "m",
                "scope": {"subtree": "ghost"},
                "once": {"start": "2030-01-01T00:00", "end": "2030-01-01T01:00"},
            }
        ]
    )
    assert errs == ["maintenance[0].scope.subtree: unknown node 'ghost'"]


def test_cycle_and_unknown_parent(tmp_path: Path) -> None:
    nodes = {"a": {"parents": ["b"]}, "b": {"parents": ["a"]}, "c": {"parents": ["zz"]}}
    errs = _errors(topology={"nodes": nodes})
    assert "topology.nodes.c.parents[0]: unknown node 'zz'" in errs
    assert any(e.startswith("topology.nodes: dependency cycle") for e in errs)


def test_bad_inventory_path() -> None:
    errs = _errors(topology={"inventory": ["/nonexistent/inv.csv"]})
    assert errs[0].startswith("topology.inventory[0]: cannot read")


def test_links_get_direction_from_roots() -> None:
    policy = parse_policy(
        {"topology": {"links": [["r", "a"], ["a", "b"], ["b", "c"], ["r", "d"]], "roots": ["r"]}}
    )
    engine = CorrelationEngine(policy)
    assert [a for a, _ in engine.topology.ancestors["c"]] == ["b", "a", "r"]
    assert engine.topology.ancestors["d"] == (("r", 1),)


# --- routing ------------------------------------------------------------------------


def test_critical_core_fault_goes_to_transport(make_engine: Make) -> None:
    engine = make_engine()
    res = engine.evaluate(batch([ev("core-1", "OPTICAL-LOS", T0, severity=3)]))
    (change,) = res.changes
    assert change.ticket.severity == 1
    assert [(r.queue, r.priority, r.group) for r in change.routing] == [
        ("transport", 1, "Transport NOC")
    ]
    # a major core fault misses the critical route and falls to the default
    res = engine.evaluate(batch([ev("core-2", "IF-MIB::linkDown", T0, severity=2)]))
    assert [r.queue for r in res.changes[0].routing] == ["noc"]
    # an access fault goes to access with the queue's own priority
    res = engine.evaluate(batch([ev("lyo-003", "IF-MIB::linkDown", T0 + 100, severity=2)]))
    assert [(r.queue, r.priority) for r in res.changes[0].routing] == [("access", 3)]


ROUTES = [
    {"match": {"severity": "<=2"}, "queue": "transport"},
    {"match": {"node": "acc-*"}, "queue": "access"},
    {"match": {"fault_code": "re:(?i)auth"}, "queue": "security"},
]


def _queues(engine: CorrelationEngine, node: str, code: str, severity: int) -> list[str]:
    # far apart in time, so tickets do not correlate with each other
    ts = T0 + 1000 * len(engine.open_tickets())
    res = engine.evaluate(batch([ev(node, code, ts, severity=severity)]))
    return [r.queue for r in res.changes[0].routing]


def test_first_match_wins(make_engine: Make) -> None:
    engine = make_engine(routing={"queue": "noc", "routes": ROUTES})
    assert _queues(engine, "acc-001", "AuthFail", 2) == ["transport"]
    assert _queues(engine, "acc-002", "AuthFail", 3) == ["access"]
    assert _queues(engine, "core-1", "AuthFail", 3) == ["security"]
    assert _queues(engine, "core-2", "Other", 4) == ["noc"]


def test_continue_collects_more_queues(make_engine: Make) -> None:
    routes = [dict(r, **{"continue": True}) for r in ROUTES[:2]] + ROUTES[2:]
    engine = make_engine(routing={"queue": "noc", "routes": routes})
    assert _queues(engine, "acc-001", "AuthFail", 2) == ["transport", "access", "security"]
    assert _queues(engine, "acc-002", "Other", 2) == ["transport", "access"]


def test_nested_routes_inherit(make_engine: Make) -> None:
    routing = {
        "queue": "noc",
        "routes": [
            {
                "match": {"site": "par-*"},
                "queue": "access",
                "group": "Paris field",
                "routes": [{"match": {"severity": 1}, "priority": 1}],
            },
        ],
    }
    engine = make_engine(routing=routing)
    res = engine.evaluate(batch([ev("acc-001", "OPTICAL-LOS", T0)]))
    assert [(r.queue, r.priority, r.group) for r in res.changes[0].routing] == [
        ("access", 1, "Paris field")
    ]
    res = engine.evaluate(batch([ev("acc-002", "X", T0, severity=3)]))
    assert [(r.queue, r.priority, r.group) for r in res.changes[0].routing] == [
        ("access", 3, "Paris field")
    ]


# --- maintenance --------------------------------------------------------------------

SITE_WINDOW = {
    "name": "north-1-works",
    "scope": {"site": "par-north-1"},
    "action": "suppress",
    "timezone": "Europe/Paris",
    "once": {"start": "2030-03-17T18:00", "end": "2030-03-17T20:00"},  # T0 = 18:46:40 Paris
}


def test_site_window_suppresses_during_not_after(make_engine: Make, clock: Clock) -> None:
    engine = make_engine(maintenance=[SITE_WINDOW])
    res = engine.evaluate(batch([ev("acc-001", ts=clock())]))
    assert res.opened == 1 and res.changes == []
    (t,) = engine.open_tickets()
    assert t.maintenance.state == "suppressed" and t.maintenance.window == "north-1-works"
    # another site is not affected
    res = engine.evaluate(batch([ev("acc-150", ts=clock())]))
    assert [c.action for c in res.changes] == ["open"]
    # after the window (20:00 Paris = 19:00Z, T0 + 4400 s): a new fault on the site is ticketed
    clock.advance(4400)
    res = engine.evaluate(batch([ev("acc-002", ts=clock())]))
    assert [c.action for c in res.changes] == ["open"]
    assert res.changes[0].ticket.maintenance.state == "none"
    # and the suppressed ticket surfaces if its fault is still active after the window
    res = engine.evaluate(batch([ev("acc-001", ts=clock())]))
    assert [c.action for c in res.changes] == ["open"]
    assert "maintenance_ended" in res.changes[0].reasons
    assert res.changes[0].ticket.maintenance.state == "ended"


def test_recurring_downgrade_on_subtree(make_engine: Make, clock: Clock) -> None:
    window = {
        "name": "sunday-night",
        "scope": {"subtree": "agg-1"},
        "action": "downgrade",
        "downgrade_by": 2,
        "timezone": "Europe/Paris",
        "recurring": {"days": ["sun"], "start": "18:00", "end": "01:00"},
    }
    engine = make_engine(maintenance=[window])
    res = engine.evaluate(batch([ev("acc-003", "OPTICAL-LOS", ts=clock())]))
    assert res.changes[0].ticket.severity == 3
    assert res.changes[0].ticket.maintenance.state == "downgraded"
    # 00:30 Monday Paris is still Sunday night's window
    res = engine.evaluate(batch([ev("acc-004", "OPTICAL-LOS", ts=clock() + 5.75 * 3600)]))
    assert res.changes[0].ticket.maintenance.state == "downgraded"
    # 01:30 Monday is not
    res = engine.evaluate(batch([ev("acc-005", "OPTICAL-LOS", ts=clock() + 6.75 * 3600)]))
    assert res.changes[0].ticket.severity == 1
    assert res.changes[0].ticket.maintenance.state == "none"
    # core-1 is not in agg-1's subtree
    res = engine.evaluate(batch([ev("core-1", "OPTICAL-LOS", ts=clock())]))
    assert res.changes[0].ticket.maintenance.state == "none"

"""Shared helpers for correlation tests: an injectable clock, events, batches, policies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultd.correlate import CorrelationEngine, parse_policy
from faultd.correlate.store import TicketStore
from faultd.event import Batch, FaultEvent, new_id

DATA = Path(__file__).resolve().parent.parent / "data" / "topology"
T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z, a Sunday


class Clock:
    """A manual clock: tests move time, never sleep."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ev(
    node: str,
    fault_code: str = "IF-MIB::linkDown",
    ts: float = T0,
    *,
    severity: int = 2,
    tier: str = "",
    message: str = "",
    attributes: dict[str, Any] | None = None,
    source: str = "snmp",
) -> FaultEvent:
    return FaultEvent(
        event_id=new_id(),
        node_id=node,
        source=source,
        severity=severity,
        fault_code=fault_code,
        message=message or f"{fault_code} on {node}",
        timestamp=ts,
        received_at=ts,
        tier=tier,
        attributes=attributes if attributes is not None else {"ifIndex": 1},
    )


def batch(events: list[FaultEvent], batch_id: str | None = None) -> Batch:
    return Batch(
        batch_id=batch_id or new_id(),
        collector="test",
        tier="access",
        lane="standard",
        trigger="window",
        opened_at=T0,
        emitted_at=T0,
        event_count=len(events),
        events=events,
    )


BASE: dict[str, Any] = {
    "topology": {
        "inventory": [str(DATA / "fibre.csv")],
        "services": {"north-backhaul": {"endpoints": ["acc-150", "core-1"]}},
    },
    "fault_codes": [
        {"match": "IF-MIB::linkDown", "category": "link", "description": "Interface down"},
        {"match": "*LOS*", "category": "optical", "severity": 1},
    ],
    "clears": [
        {
            "name": "if-mib",
            "fault": {"fault_code": "IF-MIB::linkDown"},
            "clear": {"fault_code": "IF-MIB::linkUp"},
            "key_attributes": ["ifIndex"],
        },
        {
            "name": "cisco",
            "fault": {"fault_code": "LINK-3-UPDOWN", "message": "re:changed state to down"},
            "clear": {"fault_code": "LINK-3-UPDOWN", "message": "re:changed state to up"},
            "key_regex": "Interface (?P<key>[^,]+)",
        },
    ],
    "root_cause": {"correlation_window_seconds": 30},
    "queues": {
        "noc": {"priority": 4, "group": "NOC L1"},
        "transport": {"priority": 2, "group": "Transport NOC"},
        "access": {"priority": 3, "group": "Access ops"},
        "security": {"priority": 2, "group": "SecOps"},
    },
    "routing": {
        "queue": "noc",
        "routes": [
            {"match": {"tier": "core", "severity": "<=1"}, "queue": "transport", "priority": 1},
            {"match": {"role": "access"}, "queue": "access"},
        ],
    },
}


def policy_dict(**overrides: Any) -> dict[str, Any]:
    d = yaml.safe_load(yaml.safe_dump(BASE))
    d.update(overrides)
    return d


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    def write(**overrides: Any) -> Path:
        path = tmp_path / "correlation.yaml"
        path.write_text(yaml.safe_dump(policy_dict(**overrides)))
        return path

    return write


@pytest.fixture
def make_engine(tmp_path: Path, clock: Clock) -> Callable[..., CorrelationEngine]:
    engines: list[CorrelationEngine] = []

    def make(state: Path | None = None, **overrides: Any) -> CorrelationEngine:
        store = TicketStore((state or tmp_path / "state") / "correlate" / "state.sqlite3")
        engine = CorrelationEngine(parse_policy(policy_dict(**overrides)), store, clock=clock)
        engines.append(engine)
        return engine

    yield make  # type: ignore[misc]
    for e in engines:
        e.close()

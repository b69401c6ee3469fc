"""Helpers shared by the spill tests: a batch factory and a settable clock."""

from __future__ import annotations

from faultd.event import Batch, FaultEvent, new_id


def make_batch(lane: str = "standard", events: int = 3, tag: str = "") -> Batch:
    evs = [
        FaultEvent(
            event_id=new_id(),
            node_id=f"core-{i}",
            source="syslog",
            severity=1 if lane == "critical" else 3,
            fault_code="LINK-3-UPDOWN",
            message=f"Interface Gi0/{i} changed state to down {tag}",
            timestamp=1_700_000_000.0 + i,
            received_at=1_700_000_000.5 + i,
            tier="core",
            attributes={"facility": 23, "tag": tag},
        )
        for i in range(events)
    ]
    return Batch(
        batch_id=new_id(),
        collector="collector-1",
        tier="core",
        lane=lane,
        trigger="window",
        opened_at=1_700_000_000.0,
        emitted_at=1_700_000_002.0,
        event_count=events,
        events=evs,
    )


class FakeClock:
    """A settable clock for ages and fsync intervals (the only thing tests fake)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

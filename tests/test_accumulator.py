"""Accumulator rules (DESIGN.md "Accumulator rules") on a manual clock: no real sleeping."""

from __future__ import annotations

from typing import Any

import pytest

from faultd.accumulator import Accumulator
from faultd.config import AccumulatorConfig, AdaptiveConfig, TierConfig
from faultd.event import Batch, FaultEvent, dedup_key, new_id
from faultd.observe.metrics import Metrics
from support.clock import ManualClock


def make_event(node: str = "acc-1", code: str = "LINK-3-UPDOWN", message: str = "Gi0/1 down",
               severity: int = 3) -> FaultEvent:
    return FaultEvent(event_id=new_id(), node_id=node, source="syslog", severity=severity,
                      fault_code=code, message=message, timestamp=1.0, received_at=1.0,
                      dedup_key=dedup_key(node, code, message))


def tier(name: str, match: list[str], window: float = 10.0, size: int = 100) -> TierConfig:
    return TierConfig(name=name, match=match, window_seconds=window, max_batch_size=size)


class Harness:
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("tiers", [tier("all", ["*"])])
        kwargs.setdefault("adaptive", AdaptiveConfig(enabled=False))
        self.config = AccumulatorConfig(**kwargs)
        self.clock = ManualClock()
        self.metrics = Metrics()
        self.batches: list[Batch] = []
        self.spilled: list[FaultEvent] = []
        self.acc = Accumulator(self.config, clock=self.clock, emit=self.batches.append,
                               metrics=self.metrics, collector="t", overflow=self._spill)

    def _spill(self, event: FaultEvent) -> bool:
        self.spilled.append(event)
        return True

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


def test_window_trigger_flushes_one_window_after_first_event() -> None:
    h = Harness()
    h.acc.offer(make_event(message="a"))
    h.clock.advance(4.0)
    h.acc.offer(make_event(message="b"))
    h.clock.advance(5.9)
    assert h.batches == []
    h.clock.advance(0.2)
    assert len(h.batches) == 1
    batch = h.batches[0]
    assert batch.trigger == "window" and batch.event_count == 2 and batch.lane == "standard"
    assert batch.emitted_at - batch.opened_at == pytest.approx(10.0, abs=0.01)


def test_size_trigger_caps_batches_and_cancels_timer() -> None:
    h = Harness(tiers=[tier("all", ["*"], window=10, size=50)])
    for i in range(120):
        h.acc.offer(make_event(message=f"m{i}"))
    assert [b.event_count for b in h.batches] == [50, 50]
    assert all(b.trigger == "size" for b in h.batches)
    h.clock.advance(10.0)
    assert [b.event_count for b in h.batches] == [50, 50, 20]
    assert h.batches[-1].trigger == "window"
    assert h.clock.pending_timers() == 0


def test_window_and_size_race_emit_each_event_exactly_once() -> None:
    """Size closes the window just before its timer would have; the timer must not re-emit."""
    h = Harness(tiers=[tier("all", ["*"], window=1.0, size=10)])
    for i in range(9):
        h.acc.offer(make_event(message=f"m{i}"))
    h.clock.advance(0.999)
    h.acc.offer(make_event(message="m9"))  # size flush at 0.999
    h.clock.advance(0.002)  # the old timer's moment passes
    h.acc.offer(make_event(message="m10"))
    h.clock.advance(1.0)
    ids = [e.event_id for b in h.batches for e in b.events]
    assert len(ids) == len(set(ids)) == 11
    assert [b.trigger for b in h.batches] == ["size", "window"]


def test_timer_restarts_at_each_flush() -> None:
    h = Harness(tiers=[tier("all", ["*"], window=2.0, size=5)])
    for i in range(5):
        h.acc.offer(make_event(message=f"a{i}"))
    h.clock.advance(1.5)
    h.acc.offer(make_event(message="late"))  # opens a fresh window at t=1.5
    h.clock.advance(1.0)  # t=2.5: the first window's timer would have fired at t=2
    assert len(h.batches) == 1
    h.clock.advance(1.0)  # t=3.5 = 1.5 + 2
    assert len(h.batches) == 2 and h.batches[1].trigger == "window"


def test_two_hundred_identical_alarms_fold_into_one() -> None:
    h = Harness()
    for _ in range(200):
        h.acc.offer(make_event())
    h.clock.advance(10.0)
    (batch,) = h.batches
    (event,) = batch.events
    assert event.duplicates == 199
    assert h.metric("faultd_events_folded_total", tier="all") == 199


def test_alarms_differing_only_in_interface_stay_two() -> None:
    h = Harness()
    h.acc.offer(make_event(message="Interface Gi0/1, changed state to down"))
    h.acc.offer(make_event(message="Interface Gi0/2, changed state to down"))
    h.clock.advance(10.0)
    assert h.batches[0].event_count == 2


def test_dedup_is_per_window_not_forever() -> None:
    h = Harness()
    h.acc.offer(make_event())
    h.clock.advance(10.0)
    h.acc.offer(make_event())
    h.clock.advance(10.0)
    assert [b.events[0].duplicates for b in h.batches] == [0, 0]


def test_critical_lane_has_its_own_short_window() -> None:
    h = Harness(critical_window_seconds=0.25)
    for i in range(50):
        h.acc.offer(make_event(message=f"w{i}", severity=4))
    h.acc.offer(make_event(message="fibre cut", severity=1))
    h.clock.advance(0.25)
    assert len(h.batches) == 1
    assert h.batches[0].lane == "critical" and h.batches[0].events[0].message == "fibre cut"
    h.clock.advance(10.0)
    assert h.batches[1].lane == "standard" and h.batches[1].event_count == 50


def test_batch_orders_most_urgent_first() -> None:
    h = Harness()
    for severity in (4, 3, 2, 4, 2):
        h.acc.offer(make_event(message=f"s{severity}-{new_id()}", severity=severity))
    h.clock.advance(10.0)
    assert [e.severity for e in h.batches[0].events] == [2, 2, 3, 4, 4]


def test_tier_matching_first_match_wins_globs_and_cidrs() -> None:
    h = Harness(tiers=[
        tier("core", ["core-*", "10.0.0.0/16"], window=2),
        tier("metro", ["metro-*", "core-lab-*"], window=5),
        tier("access", ["*"], window=12),
    ])
    assert h.acc.tier_for("core-rtr-1") == "core"
    assert h.acc.tier_for("core-lab-9") == "core"  # first match wins
    assert h.acc.tier_for("10.0.3.4") == "core"
    assert h.acc.tier_for("10.1.3.4") == "access"
    assert h.acc.tier_for("metro-sw-2") == "metro"
    assert h.acc.tier_for("olt-77") == "access"


def test_node_matching_no_tier_goes_to_last_tier() -> None:
    h = Harness(tiers=[tier("core", ["core-*"]), tier("edge", ["edge-*"])])
    assert h.acc.tier_for("random-box") == "edge"


def test_adaptive_window_shrinks_under_storm_and_relaxes_when_calm() -> None:
    adaptive = AdaptiveConfig(enabled=True, min_window_seconds=0.5)
    h = Harness(tiers=[tier("all", ["*"], window=8, size=10)], adaptive=adaptive)
    for round_ in range(6):  # storms: size-triggered flushes
        for i in range(10):
            h.acc.offer(make_event(message=f"r{round_}-{i}"))
    windows = h.acc.current_windows()
    assert windows[("all", "standard")] == 0.5  # 8 -> 4 -> 2 -> 1 -> 0.5, floored
    for round_ in range(20):  # calm: one event per window
        h.acc.offer(make_event(message=f"calm{round_}"))
        h.clock.advance(10)
    assert h.acc.current_windows()[("all", "standard")] == 8.0  # capped at configured
    assert h.metric("faultd_window_seconds", tier="all", lane="standard") == 8.0


def test_flapping_duplicates_do_not_count_as_a_storm() -> None:
    adaptive = AdaptiveConfig(enabled=True, min_window_seconds=0.5)
    h = Harness(tiers=[tier("all", ["*"], window=8, size=10)], adaptive=adaptive)
    for _ in range(3):
        for _ in range(1000):
            h.acc.offer(make_event())
        h.clock.advance(8)
    assert h.acc.current_windows()[("all", "standard")] == 8.0
    assert [b.events[0].duplicates for b in h.batches] == [999, 999, 999]


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest", "spill"])
def test_overflow_policy_when_a_severity_queue_is_full(policy: str) -> None:
    h = Harness(queue_maxsize=5, overflow=policy)
    for i in range(8):
        h.acc.offer(make_event(message=f"m{i}", severity=3))
    h.acc.offer(make_event(message="other severity", severity=4))  # own bound, unaffected
    assert h.acc.pending() == {1: 0, 2: 0, 3: 5, 4: 1}
    h.clock.advance(10)
    kept = [e.message for b in h.batches for e in b.events if e.severity == 3]
    if policy == "drop_newest":
        assert kept == ["m0", "m1", "m2", "m3", "m4"]
        assert h.metric("faultd_events_dropped_total", reason="queue_full") == 3
    elif policy == "drop_oldest":
        assert kept == ["m3", "m4", "m5", "m6", "m7"]
        assert h.metric("faultd_events_dropped_total", reason="drop_oldest") == 3
    else:
        assert kept == ["m0", "m1", "m2", "m3", "m4"]
        assert [e.message for e in h.spilled] == ["m5", "m6", "m7"]
        assert h.metric("faultd_events_dropped_total", reason="queue_full") == 0


def test_duplicates_fold_even_when_queue_is_full() -> None:
    h = Harness(queue_maxsize=2, overflow="drop_newest")
    h.acc.offer(make_event(message="a"))
    h.acc.offer(make_event(message="b"))
    assert h.acc.offer(make_event(message="a"))  # folds, needs no room
    h.clock.advance(10)
    assert sorted(e.duplicates for e in h.batches[0].events) == [0, 1]


def test_queue_depth_gauge_returns_to_zero() -> None:
    h = Harness()
    for i in range(7):
        h.acc.offer(make_event(message=f"m{i}", severity=2))
    assert h.metric("faultd_queue_depth", priority="2") == 7
    h.clock.advance(10)
    assert h.metric("faultd_queue_depth", priority="2") == 0


def test_close_flushes_with_shutdown_trigger_critical_first() -> None:
    h = Harness()
    h.acc.offer(make_event(message="std", severity=3))
    h.acc.offer(make_event(message="crit", severity=1))
    assert h.acc.close() == 2
    assert [(b.lane, b.trigger) for b in h.batches] == [("critical", "shutdown"),
                                                       ("standard", "shutdown")]
    h.acc.offer(make_event(message="after close"))
    assert [e.message for e in h.spilled] == ["after close"]


def test_reconfigure_changes_window_and_keeps_open_events() -> None:
    h = Harness(tiers=[tier("all", ["*"], window=10)])
    h.acc.offer(make_event(message="before"))
    h.acc.reconfigure(AccumulatorConfig(tiers=[tier("all", ["*"], window=1)],
                                        adaptive=AdaptiveConfig(enabled=False)))
    h.clock.advance(10)  # the open window keeps its running timer
    assert [e.message for e in h.batches[0].events] == ["before"]
    h.acc.offer(make_event(message="after"))
    h.clock.advance(1.0)
    assert len(h.batches) == 2


def test_reconfigure_removing_a_tier_flushes_it() -> None:
    h = Harness(tiers=[tier("core", ["core-*"]), tier("all", ["*"])])
    h.acc.offer(make_event(node="core-1"))
    h.acc.reconfigure(AccumulatorConfig(tiers=[tier("all", ["*"])],
                                        adaptive=AdaptiveConfig(enabled=False)))
    assert len(h.batches) == 1 and h.batches[0].tier == "core"


def test_batch_ids_are_unique() -> None:
    h = Harness(tiers=[tier("all", ["*"], size=1)])
    for i in range(500):
        h.acc.offer(make_event(message=f"{i}"))
    assert len({b.batch_id for b in h.batches}) == 500

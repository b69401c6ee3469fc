"""The accumulator: per-tier windows, exact dedup, per-severity bounds, two lanes.

Events enter with `offer()` (synchronous, never blocks, called from the receive
path).  Each (tier, lane) pair has one open `Window`; a window opens with its
first event, schedules one timer for its current length, and closes either when
the timer fires (trigger `window`) or when it holds `max_batch_size` distinct
events (trigger `size`).  Closing is atomic: the window's contents are swapped
out, wrapped in a `Batch` with a fresh batch_id, and handed to `emit`.

Severity 1 goes to the `critical` lane, which has its own short window
(`critical_window_seconds`) and is emitted separately so it never waits behind
standard traffic.  Within a window an event whose dedup_key was seen is folded
into the first (its `duplicates` rises).  Pending events are bounded per
severity across all windows; when a bound is hit the overflow policy decides:
`spill` hands the event to the overflow sink, `drop_newest` refuses it,
`drop_oldest` evicts the oldest pending event of that severity.  Every loss is
counted by reason.  With a journal (faultd.spill.journal) every queued event is
also journaled, so a crash loses none of them.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Final

from faultd.clock import Clock, Timer
from faultd.config import AccumulatorConfig, TierConfig
from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch, FaultEvent, Severity, new_id
from faultd.observe.metrics import Metrics
from faultd.spill.journal import IntakeJournal
from faultd.tiers import TierMatcher
from faultd.window import AdaptiveWindow

_SEVERITY_ORDER: Final = (1, 2, 3, 4)
_CRITICAL: Final = int(Severity.CRITICAL)  # a plain int: compared per event

EmitFn = Callable[[Batch], None]
OverflowFn = Callable[[FaultEvent], bool]  # True when the event was kept (spilled)


class Window:
    """One open accumulation window of one (tier, lane)."""

    __slots__ = (
        "adaptive", "by_key", "count", "lane", "max_batch_size", "opened_at", "opened_mono",
        "queues", "tier", "timer",
    )

    def __init__(self, tier: str, lane: str, adaptive: AdaptiveWindow, max_batch_size: int) -> None:
        self.tier = tier
        self.lane = lane
        self.adaptive = adaptive
        self.max_batch_size = max_batch_size
        self.by_key: dict[str, FaultEvent] = {}
        self.queues: dict[int, deque[FaultEvent]] = {s: deque() for s in _SEVERITY_ORDER}
        self.count = 0
        self.opened_at = 0.0
        self.opened_mono = 0.0
        self.timer: Timer | None = None


class Accumulator:
    def __init__(
        self,
        config: AccumulatorConfig,
        *,
        clock: Clock,
        emit: EmitFn,
        metrics: Metrics,
        collector: str,
        overflow: OverflowFn | None = None,
        journal: IntakeJournal | None = None,
    ) -> None:
        self._clock = clock
        self._journal = journal
        self._emit = emit
        self._metrics = metrics
        self._collector = collector
        self._overflow_sink = overflow
        self._pending = dict.fromkeys(_SEVERITY_ORDER, 0)
        self._windows: dict[tuple[str, str], Window] = {}
        self._closed = False
        self._apply(config)

    # -- configuration -------------------------------------------------------------

    def _apply(self, config: AccumulatorConfig) -> None:
        self.config = config
        self._matcher = TierMatcher(config.tiers)
        self._tier_config: dict[str, TierConfig] = {t.name: t for t in config.tiers}
        # Pre-bound counter children: a fold is the commonest thing in a storm.
        self._folded = {t.name: self._metrics.events_folded.labels(t.name) for t in config.tiers}
        old = self._windows
        windows: dict[tuple[str, str], Window] = {}
        for tier in config.tiers:
            for lane, seconds in (
                (LANE_STANDARD, tier.window_seconds),
                (LANE_CRITICAL, min(config.critical_window_seconds, tier.window_seconds)),
            ):
                key = (tier.name, lane)
                previous = old.get(key)
                if previous is not None:
                    previous.adaptive.reconfigure(seconds, config.adaptive)
                    previous.max_batch_size = tier.max_batch_size
                    windows[key] = previous
                else:
                    adaptive = AdaptiveWindow(seconds, config.adaptive)
                    windows[key] = Window(tier.name, lane, adaptive, tier.max_batch_size)
                self._metrics.window_seconds.labels(tier.name, lane).set(
                    windows[key].adaptive.current)
        # Tiers removed by a reload: flush what they hold so nothing is stranded.
        for key, window in old.items():
            if key not in windows and window.count:
                self._flush(window, "window")
        self._windows = windows

    def reconfigure(self, config: AccumulatorConfig) -> None:
        """Apply a reloaded config live; open windows keep their events.

        A window already open keeps its running timer; the new length applies from
        its next opening.  Windows that became over-full are flushed now.
        """
        self._apply(config)
        for window in list(self._windows.values()):
            if window.count >= window.max_batch_size:
                self._flush(window, "size")

    # -- intake -------------------------------------------------------------------------

    def tier_for(self, node_id: str) -> str:
        return self._matcher.tier_for(node_id)

    def offer(self, event: FaultEvent) -> bool:
        """Take one event. Returns False if it was dropped (counted), True otherwise."""
        # Each field is read once: compiled code reads a msgspec field through the
        # generic getattr (this runs per event).
        tier = event.tier
        if not tier:
            tier = event.tier = self._matcher.tier_for(event.node_id)
        severity = event.severity
        key = event.dedup_key
        lane = LANE_CRITICAL if severity == _CRITICAL else LANE_STANDARD
        window = self._windows.get((tier, lane))
        if window is None:  # tier name from elsewhere (replay, bus): re-match locally
            event.tier = self._matcher.tier_for(event.node_id)
            window = self._windows[(event.tier, lane)]
        first = window.by_key.get(key) if key else None
        if first is not None:
            first.duplicates += 1 + event.duplicates
            self._folded[window.tier].inc()
            return True
        if self._closed:
            return self._overflow(event, "shutdown")
        if self._pending[severity] >= self.config.queue_maxsize and not self._make_room(event):
            return False
        if window.count == 0:
            window.opened_at = self._clock.wall()
            window.opened_mono = self._clock.monotonic()
            window.timer = self._clock.call_later(
                window.adaptive.current, functools.partial(self._on_timer, window))
        if key:
            window.by_key[key] = event
        window.queues[severity].append(event)
        if self._journal is not None:
            self._journal.record(event)
        window.count += 1
        self._pending[severity] += 1
        self._metrics.depth[severity].inc()
        if window.count >= window.max_batch_size:
            self._flush(window, "size")
        return True

    def _make_room(self, event: FaultEvent) -> bool:
        """Severity bound reached: apply the overflow policy. True = go on and queue it."""
        policy = self.config.overflow
        if policy == "drop_oldest":
            if self._evict_oldest(event.severity):
                return True
            self._metrics.dropped["queue_full"].inc()
            return False
        if policy == "spill":
            self._overflow(event, "queue_full")
            return False  # handled: spilled (or counted as lost); not queued here
        self._metrics.dropped["queue_full"].inc()
        return False

    def _overflow(self, event: FaultEvent, reason: str) -> bool:
        if self._overflow_sink is not None and self._overflow_sink(event):
            return True
        self._metrics.dropped["spill_failed" if self._overflow_sink else reason].inc()
        return False

    def _evict_oldest(self, severity: int) -> bool:
        candidates = [w for w in self._windows.values() if w.queues[severity]]
        if not candidates:
            return False
        window = min(candidates, key=lambda w: w.opened_mono)
        victim = window.queues[severity].popleft()
        if self._journal is not None:
            self._journal.drop(victim)
        if victim.dedup_key:
            window.by_key.pop(victim.dedup_key, None)
        window.count -= 1
        self._pending[severity] -= 1
        self._metrics.depth[severity].dec()
        self._metrics.dropped["drop_oldest"].inc()
        if window.count == 0 and window.timer is not None:
            window.timer.cancel()
            window.timer = None
        return True

    # -- closing windows -------------------------------------------------------------

    def _on_timer(self, window: Window) -> None:
        window.timer = None
        if window.count:
            self._flush(window, "window")

    def _flush(self, window: Window, trigger: str) -> Batch:
        if window.timer is not None:
            window.timer.cancel()
            window.timer = None
        events: list[FaultEvent] = []
        for severity in _SEVERITY_ORDER:  # most urgent first inside the batch
            queue = window.queues[severity]
            if queue:
                n = len(queue)
                events.extend(queue)
                queue.clear()
                self._pending[severity] -= n
                self._metrics.depth[severity].dec(n)
        window.by_key = {}
        window.count = 0
        batch = Batch(
            batch_id=new_id(),
            collector=self._collector,
            tier=window.tier,
            lane=window.lane,
            trigger=trigger,
            opened_at=window.opened_at,
            emitted_at=self._clock.wall(),
            event_count=len(events),
            events=events,
        )
        # First event in to batch closed, on the monotonic clock (a wall-clock step
        # cannot bend it): faultd_batch_emit_seconds.
        self._metrics.batch_emit.labels(window.lane).observe(
            max(0.0, self._clock.monotonic() - window.opened_mono))
        current = window.adaptive.after_flush(len(events), window.max_batch_size, trigger)
        self._metrics.window_seconds.labels(window.tier, window.lane).set(current)
        self._metrics.batches_emitted.labels(window.tier, window.lane, trigger).inc()
        self._emit(batch)
        return batch

    def flush_all(self, trigger: str = "shutdown") -> int:
        """Close every non-empty window now (critical lane first). Returns batches emitted."""
        emitted = 0
        for lane in (LANE_CRITICAL, LANE_STANDARD):
            for window in self._windows.values():
                if window.lane == lane and window.count:
                    self._flush(window, trigger)
                    emitted += 1
        return emitted

    def close(self) -> int:
        """Flush everything with trigger `shutdown`; later offers go to the overflow sink."""
        emitted = self.flush_all("shutdown")
        self._closed = True
        return emitted

    # -- introspection ------------------------------------------------------------------

    def pending(self) -> dict[int, int]:
        return dict(self._pending)

    def pending_total(self) -> int:
        return sum(self._pending.values())

    def has_capacity(self) -> bool:
        """False when any severity is at its bound (TCP sources pause reading then)."""
        limit = self.config.queue_maxsize
        return all(n < limit for n in self._pending.values())

    def current_windows(self) -> dict[tuple[str, str], float]:
        return {key: w.adaptive.current for key, w in self._windows.items()}

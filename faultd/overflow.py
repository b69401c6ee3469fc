"""Overflow to spill: events the accumulator cannot hold go to disk as batches.

When a severity queue is at its bound and `accumulator.overflow: spill` (the
default), each refused event is handed here; events are grouped per lane into
batches of up to `batch_size` and appended to the spill store when a group is
full, after `max_delay` seconds, or at shutdown.  The dispatcher's replayer
delivers them later with trigger `replay`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from faultd.clock import Clock, Timer
from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch, FaultEvent, new_id
from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger
from faultd.spill.model import drop_reason

log = logging.getLogger("faultd.overflow")
quiet = QuietLogger(log)


class OverflowSpiller:
    def __init__(self, append: Callable[[Batch], int], *, clock: Clock, metrics: Metrics,
                 collector: str, batch_size: int = 1000, max_delay: float = 1.0) -> None:
        self._append = append
        self._clock = clock
        self._metrics = metrics
        self._collector = collector
        self._batch_size = batch_size
        self._max_delay = max_delay
        self._buffers: dict[str, list[FaultEvent]] = {LANE_CRITICAL: [], LANE_STANDARD: []}
        self._opened: dict[str, float] = {}
        self._timer: Timer | None = None
        self.on_settled: Callable[[Batch, str], None] | None = None  # as Dispatcher.on_settled

    def offer(self, event: FaultEvent) -> bool:
        lane = LANE_CRITICAL if event.severity == 1 else LANE_STANDARD
        buffer = self._buffers[lane]
        if not buffer:
            self._opened[lane] = self._clock.wall()
        buffer.append(event)
        if len(buffer) >= self._batch_size:
            self._write(lane)
        elif self._timer is None:
            self._timer = self._clock.call_later(self._max_delay, self.flush)
        return True

    def flush(self) -> None:
        self._timer = None
        for lane in (LANE_CRITICAL, LANE_STANDARD):
            if self._buffers[lane]:
                self._write(lane)

    def _write(self, lane: str) -> None:
        events = self._buffers[lane]
        self._buffers[lane] = []
        tier = events[0].tier
        batch = Batch(batch_id=new_id(), collector=self._collector, tier=tier, lane=lane,
                      trigger="replay", opened_at=self._opened.get(lane, self._clock.wall()),
                      emitted_at=self._clock.wall(), event_count=len(events), events=events)
        try:
            self._append(batch)
        except Exception as exc:  # disk full / cap: count every event as lost, loudly
            reason = drop_reason(exc)
            self._metrics.dropped[reason].inc(len(events))
            quiet.error(f"overflow:{reason}", "queue overflow could not be spilled, %d events "
                        "lost: %s", len(events), exc)
            return
        self._metrics.spill_records_written.labels("overflow").inc()
        if self.on_settled is not None:
            self.on_settled(batch, "spilled")

"""Batch emission latency on the monotonic clock: faultd_batch_emit_seconds{lane}.

`EmitTimer` sits between the accumulator and the dispatcher (the accumulator's
`emit` callback).  When a batch is closed it asks when its window opened, as a
reading of the same monotonic clock, and observes the difference -- so a wall
clock step (NTP, a VM resume) cannot bend the number.  The end-to-end
`faultd_batch_latency_seconds` (first event in to batch acknowledged) stays on
wall time on purpose: a spilled batch can be acknowledged by a later process.
"""

from __future__ import annotations

from collections.abc import Callable

from faultd.event import Batch
from faultd.observe.metrics import Metrics

OpenedFn = Callable[[str, str], "float | None"]


class EmitTimer:
    __slots__ = ("_emit", "_histograms", "_now", "_opened")

    def __init__(self, metrics: Metrics, emit: Callable[[Batch], None],
                 now: Callable[[], float], opened: OpenedFn) -> None:
        self._emit = emit
        self._now = now
        self._opened = opened  # (tier, lane) -> monotonic time the window opened, or None
        self._histograms = metrics.batch_emit

    def __call__(self, batch: Batch) -> None:
        opened = self._opened(batch.tier, batch.lane)
        if opened is not None:
            self._histograms.labels(batch.lane).observe(max(0.0, self._now() - opened))
        self._emit(batch)

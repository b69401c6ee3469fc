"""A manual clock with the `faultd.clock.Clock` interface: time moves only when told."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class ManualTimer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self.now = start
        self.offset = wall_offset
        self._heap: list[tuple[float, int, ManualTimer, Callable[[], None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer()
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), timer, callback))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running due timers in order (timers may schedule more)."""
        target = self.now + seconds
        while self._heap and self._heap[0][0] <= target:
            when, _, timer, callback = heapq.heappop(self._heap)
            self.now = max(self.now, when)
            if not timer.cancelled:
                callback()
        self.now = target

    def pending_timers(self) -> int:
        return sum(1 for _, _, t, _ in self._heap if not t.cancelled)

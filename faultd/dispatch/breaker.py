"""Circuit breaker for the downstream: stop hammering a dead endpoint, probe it, recover.

closed --(failure_threshold consecutive failures)--> open --(open_seconds)--> half-open
half-open admits one probe: success -> closed, failure -> open again.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    __slots__ = ("_now", "_probing", "failures", "open_seconds", "opened_at", "state",
                 "threshold")

    def __init__(self, threshold: int, open_seconds: float, now: Callable[[], float]) -> None:
        self.threshold = threshold
        self.open_seconds = open_seconds
        self._now = now
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """May a request go out now?  In half-open state only one probe at a time."""
        if self.state == BreakerState.CLOSED:
            return True
        if self.state == BreakerState.OPEN and self._now() - self.opened_at >= self.open_seconds:
            self.state = BreakerState.HALF_OPEN
        if self.state == BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    @property
    def is_open(self) -> bool:
        return self.state != BreakerState.CLOSED

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = self._now()
        self._probing = False

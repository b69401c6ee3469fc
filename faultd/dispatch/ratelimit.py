"""Token bucket: at most `rate` requests per second on average, `burst` at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("_now", "burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._now = now
        self.tokens = float(burst)
        self.updated = now()

    def reconfigure(self, rate: float, burst: int) -> None:
        self._refill()
        self.rate = rate
        self.burst = float(burst)
        self.tokens = min(self.tokens, self.burst)

    def _refill(self) -> None:
        now = self._now()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_take(self) -> float:
        """Take a token if one is there (returns 0.0), else the seconds until one will be."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    async def take(self) -> None:
        """Wait for and take one token (FIFO fairness is not promised; rate is)."""
        while True:
            wait = self.try_take()
            if wait == 0.0:
                return
            await asyncio.sleep(wait)

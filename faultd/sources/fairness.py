"""Per-source fairness: one token bucket per sender address, in a bounded table.

A misbehaving or hostile device sending at many times the normal rate must not
starve the others of the receive loop, the accumulator's queues or the
downstream budget.  `SourceRateLimiter.allow(address)` is called by the syslog
and SNMP sources right after their `allowed_sources` check; a datagram (or TCP
frame) over its sender's budget is refused and counted as
faultd_events_dropped_total{reason="source_rate"} by the caller.

Each address gets a bucket of `burst` tokens refilled at `rate` per second
(monotonic time, so a wall-clock jump neither refills nor drains buckets).  The
table holds at most `max_sources` buckets; when it is full the least recently
seen address is evicted.  A spoofing flood with random source addresses
therefore cannot grow memory: it only churns the table.  Such a flood is not
*limited* by per-source buckets either (every new address starts with a full
bucket); the accumulator's bounded queues and overflow policy are the backstop
for that case (docs/SECURITY.md).  An evicted well-behaved source loses nothing:
it comes back with a full bucket.

Cost per call: one dict lookup, one move_to_end and a little float arithmetic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from faultd.config import SourceRateLimitConfig

DEFAULT_MAX_SOURCES: Final = 65536


class SourceRateLimiter:
    """Token buckets keyed by sender address, LRU-bounded to `max_sources` entries."""

    __slots__ = ("_buckets", "_now", "burst", "evictions", "max_sources", "rate", "refused")

    def __init__(self, rate: float, burst: int, *, max_sources: int = DEFAULT_MAX_SOURCES,
                 now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_sources >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_sources = max_sources
        self._now = now
        # address -> [tokens, last refill time]; a list so the update is in place
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.evictions = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, address: str) -> bool:
        """Take one token from `address`'s bucket; False when it is empty."""
        now = self._now()
        buckets = self._buckets
        bucket = buckets.get(address)
        if bucket is None:
            if len(buckets) >= self.max_sources:
                buckets.popitem(last=False)
                self.evictions += 1
            buckets[address] = [self.burst - 1.0, now]
            return True
        buckets.move_to_end(address)
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        self.refused += 1
        return False


def build_limiter(config: SourceRateLimitConfig | None) -> SourceRateLimiter | None:
    """The limiter for a `source_rate_limit` config section, or None when it is off."""
    if config is None:
        return None
    return SourceRateLimiter(config.per_source_per_second, config.burst,
                             max_sources=config.max_sources)

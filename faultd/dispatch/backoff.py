"""Retry timing: exponential backoff with full jitter, and HTTP Retry-After parsing."""

from __future__ import annotations

import email.utils
import random
import time


def full_jitter(
    attempt: int, initial: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number `attempt` (0-based): uniform(0, min(cap, initial * 2**attempt)).

    "Full jitter" (AWS architecture blog, 2015) spreads a fleet's retries so a
    recovering endpoint is not hit by synchronized waves.
    """
    ceiling = min(cap, initial * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))

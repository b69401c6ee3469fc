"""Token bucket, full-jitter backoff, Retry-After parsing, circuit breaker (fake time)."""

from __future__ import annotations

import email.utils
import random

import pytest

from faultd.dispatch.backoff import full_jitter, parse_retry_after
from faultd.dispatch.breaker import BreakerState, CircuitBreaker
from faultd.dispatch.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_allows_burst_then_rate() -> None:
    now = FakeTime()
    bucket = TokenBucket(rate=10, burst=5, now=now)
    assert [bucket.try_take() for _ in range(5)] == [0.0] * 5
    assert bucket.try_take() == pytest.approx(0.1)
    now.t += 0.35
    assert [bucket.try_take() == 0.0 for _ in range(4)] == [True, True, True, False]


def test_token_bucket_never_exceeds_rate_plus_burst_over_any_interval() -> None:
    now = FakeTime()
    bucket = TokenBucket(rate=20, burst=40, now=now)
    taken = []
    for step in range(10_000):  # 10 s in 1 ms steps, greedy client
        now.t = 100.0 + step / 1000
        while bucket.try_take() == 0.0:
            taken.append(now.t)
    assert len(taken) <= 20 * 10 + 40
    for i, t in enumerate(taken):  # every 1 s sliding window
        in_window = sum(1 for u in taken[i:] if u < t + 1.0)
        assert in_window <= 20 + 40


def test_full_jitter_is_bounded_and_capped() -> None:
    rng = random.Random(7)
    for attempt in range(40):
        delay = full_jitter(attempt, 0.5, 30, rng)
        assert 0 <= delay <= min(30, 0.5 * 2 ** attempt)
    samples = [full_jitter(3, 0.5, 30, rng) for _ in range(2000)]
    assert 1.5 < sum(samples) / len(samples) < 2.5  # uniform(0, 4): mean 2


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(5, usegmt=True), now=1_000_000) == 0


def test_breaker_opens_probes_and_recovers() -> None:
    now = FakeTime()
    breaker = CircuitBreaker(threshold=3, open_seconds=5, now=now)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == BreakerState.OPEN and not breaker.allow()
    now.t += 5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    now.t += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED and breaker.allow()

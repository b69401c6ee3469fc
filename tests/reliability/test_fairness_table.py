"""faultd.sources.fairness.SourceRateLimiter on a manual clock: buckets, refill, bounded table."""

from __future__ import annotations

import pytest

from faultd.config import ConfigError, config_from_mapping
from faultd.sources.fairness import SourceRateLimiter, build_limiter


class Tick:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_rate() -> None:
    t = Tick()
    lim = SourceRateLimiter(10, 5, now=t)
    assert [lim.allow("a") for _ in range(7)] == [True] * 5 + [False] * 2
    t.now += 0.11  # one token back (and a bit)
    assert lim.allow("a") and not lim.allow("a")
    t.now += 100  # refill never exceeds the burst
    assert sum(lim.allow("a") for _ in range(20)) == 5
    assert lim.refused == 2 + 1 + 15


def test_sources_are_independent() -> None:
    t = Tick()
    lim = SourceRateLimiter(1, 3, now=t)
    for _ in range(50):
        lim.allow("10.0.0.1")
    assert all(lim.allow("10.0.0.2") for _ in range(3))


def test_spoofing_flood_cannot_grow_the_table() -> None:
    t = Tick()
    lim = SourceRateLimiter(1, 2, max_sources=1000, now=t)
    for i in range(50_000):
        lim.allow(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(lim) == 1000
    assert lim.evictions == 49_000


def test_recently_seen_source_survives_eviction() -> None:
    t = Tick()
    lim = SourceRateLimiter(1, 2, max_sources=3, now=t)
    lim.allow("keep")
    lim.allow("keep")  # bucket now empty
    for name in ("x", "y", "keep", "z"):  # 'keep' touched again: LRU is x
        lim.allow(name)
    assert not lim.allow("keep")  # still tracked, still empty: no free burst by churn
    assert len(lim) == 3


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        SourceRateLimiter(0, 1)
    with pytest.raises(ValueError):
        SourceRateLimiter(1, 0)


def test_config_fields_default_off_and_validate() -> None:
    cfg = config_from_mapping({})
    assert cfg.syslog.source_rate_limit is None and cfg.snmp.source_rate_limit is None
    assert build_limiter(None) is None
    cfg = config_from_mapping({"syslog": {"source_rate_limit": {"per_source_per_second": 50,
                                                                 "burst": 100}},
                               "snmp": {"source_rate_limit": {}}})
    lim = build_limiter(cfg.syslog.source_rate_limit)
    assert lim is not None and lim.rate == 50 and lim.burst == 100
    assert cfg.snmp.source_rate_limit is not None
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"syslog": {"source_rate_limit": {"per_source_per_second": 0}}})
    assert "syslog.source_rate_limit.per_source_per_second" in str(err.value)

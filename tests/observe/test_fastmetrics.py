"""The hot-path metric types expose exactly what prometheus_client's own types would.

faultd.observe.fastmetrics replaces prometheus_client's Counter/Gauge on the
per-message path for speed; operators and dashboards must not see a difference.
Each test applies the same operations to a library metric and to the fast one in
two registries and compares the rendered exposition byte for byte.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from faultd.observe.fastmetrics import FastCounter, FastGauge
from faultd.observe.metrics import Metrics

LABELS = st.sampled_from(["syslog", "snmp", "queue_full", "a b", 'quo"te', "back\\slash"])
AMOUNTS = st.one_of(st.just(1.0), st.integers(0, 10**6).map(float),
                    st.floats(0, 1e9, allow_nan=False))


def _render(metric_type: type, operations: list[tuple[str, float]], **kwargs: object) -> bytes:
    registry = CollectorRegistry()
    metric = metric_type("faultd_test_total" if metric_type in (Counter, FastCounter)
                         else "faultd_test_depth", "Help text, with \\ and\nnewline", ["label"],
                         registry=registry, **kwargs)
    for label, amount in operations:
        metric.labels(label).inc(amount)
    return generate_latest(registry)


@given(st.lists(st.tuples(LABELS, AMOUNTS), max_size=20))
def test_fast_counter_renders_as_the_library_counter(operations: list[tuple[str, float]]) -> None:
    assert _render(FastCounter, operations) == _render(Counter, operations)


@given(st.lists(st.tuples(LABELS, st.floats(-1e6, 1e6, allow_nan=False)), max_size=20))
def test_fast_gauge_renders_as_the_library_gauge(operations: list[tuple[str, float]]) -> None:
    assert _render(FastGauge, operations) == _render(Gauge, operations)


def test_gauge_dec_and_set_match_the_library() -> None:
    renders = []
    for gauge_type in (Gauge, FastGauge):
        registry = CollectorRegistry()
        gauge = gauge_type("faultd_queue_depth", "Events waiting", ["priority"], registry=registry)
        gauge.labels("1").inc(5)
        gauge.labels("1").dec(2)
        gauge.labels("2").set(7)
        gauge.labels("2").dec()
        renders.append(generate_latest(registry))
    assert renders[0] == renders[1]
    assert b'faultd_queue_depth{priority="2"} 6.0' in renders[1]


def test_counter_name_given_with_total_is_normalised_like_the_library() -> None:
    a, b = CollectorRegistry(), CollectorRegistry()
    Counter("x_total", "h", ["l"], registry=a).labels("v").inc()
    FastCounter("x_total", "h", ["l"], registry=b).labels("v").inc()
    assert generate_latest(a) == generate_latest(b)


def test_wrong_label_count_is_refused() -> None:
    counter = FastCounter("faultd_x_total", "h", ["a", "b"], registry=None)
    with pytest.raises(ValueError, match="expected labels"):
        counter.labels("only-one")


def test_duplicate_name_is_refused_by_the_registry() -> None:
    registry = CollectorRegistry()
    FastCounter("faultd_dup_total", "h", ["l"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("faultd_dup_total", "h", ["l"], registry=registry)


def test_daemon_metrics_expose_the_hot_path_families() -> None:
    metrics = Metrics()
    metrics.received["syslog"].inc()
    metrics.accepted["syslog"].inc(2)
    metrics.depth[3].inc(4)
    metrics.dropped["source_rate"].inc()
    text = generate_latest(metrics.registry).decode()
    assert 'faultd_events_received_total{source="syslog"} 1.0' in text
    assert 'faultd_events_accepted_total{source="syslog"} 2.0' in text
    assert 'faultd_queue_depth{priority="3"} 4.0' in text
    assert 'faultd_events_dropped_total{reason="source_rate"} 1.0' in text
    assert "# TYPE faultd_events_received_total counter" in text
    assert "# TYPE faultd_queue_depth gauge" in text

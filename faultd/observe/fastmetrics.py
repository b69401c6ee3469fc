"""Plain-number counters and gauges for the per-message hot path, exported to Prometheus.

prometheus_client's `Counter.inc()` validates its argument, takes a lock and
goes through two method calls: about 1 µs, and a syslog message made three of
them (received, accepted, queue depth).  faultd's hot paths all run on the event
loop thread (receive workers are processes with their own registry), so a child
here is a float in a slot, changed with `+=`, and the family renders its
children when Prometheus scrapes.

Deviation from the library, for speed: the exposition is the one
prometheus_client writes for its own Counter/Gauge with the same name, help and
labels (`tests/observe/test_fastmetrics.py` renders both and compares them).
Children are NOT thread-safe: increment them from the event loop thread only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class FastChild:
    """One labelled series: a number."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _FastFamily(Collector):
    """A labelled metric family whose children are FastChild numbers."""

    _kind = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 registry: CollectorRegistry | None) -> None:
        if self._kind == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]  # as prometheus_client does: samples get _total back
        self.name = name
        self.documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], FastChild] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> FastChild:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self.name}: expected labels {self._labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = FastChild()
        return child

    def _family(self) -> Metric:
        if self._kind == "counter":
            return CounterMetricFamily(self.name, self.documentation, labels=self._labelnames)
        return GaugeMetricFamily(self.name, self.documentation, labels=self._labelnames)

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)  # type: ignore[attr-defined]
        return [family]


class FastCounter(_FastFamily):
    """Drop-in for a labelled prometheus_client Counter on the hot path."""

    _kind = "counter"


class FastGauge(_FastFamily):
    """Drop-in for a labelled prometheus_client Gauge on the hot path."""

    _kind = "gauge"

"""Counter hand-over from receive workers to the main process's /metrics.

A worker sends the cumulative value of each single-label counter it keeps
(received, parse errors, SNMP refusals, drops); the main process adds the
increase since that worker's previous report to its own counters, so operators
see one set of metrics whichever process read the datagram.  The accepted-events
counter stays with the main process, which counts events as they arrive.
"""

from __future__ import annotations

from faultd.observe.fastmetrics import FastCounter
from faultd.observe.metrics import Metrics

FORWARDED = ("events_received", "parse_errors", "snmp_rejected", "events_dropped")


def snapshot(metrics: Metrics) -> list[tuple[str, str, float]]:
    """(attribute, label value, cumulative value) for every forwarded counter child."""
    out: list[tuple[str, str, float]] = []
    for attribute in FORWARDED:
        counter: FastCounter = getattr(metrics, attribute)
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and len(sample.labels) == 1:
                    out.append((attribute, next(iter(sample.labels.values())), sample.value))
    return out


class CounterMerger:
    """Main side: turns cumulative per-worker reports into increments."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._last: dict[tuple[int, str, str], float] = {}

    def apply(self, worker: int, values: list[tuple[str, str, float]]) -> None:
        for attribute, label, value in values:
            if attribute not in FORWARDED:
                continue
            key = (worker, attribute, label)
            delta = value - self._last.get(key, 0.0)
            self._last[key] = value
            if delta > 0:
                counter: FastCounter = getattr(self._metrics, attribute)
                counter.labels(label).inc(delta)

    def forget(self, worker: int) -> None:
        """A restarted worker counts from zero again."""
        self._last = {k: v for k, v in self._last.items() if k[0] != worker}

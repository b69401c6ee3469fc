"""Every Prometheus metric faultd exports, declared once (DESIGN.md "Process contract").

Each daemon owns one `Metrics` with its own registry (so tests can run several
in one process).  Hot paths take pre-bound label children (e.g.
`metrics.received["syslog"]`) so an increment is not a label lookup; the
per-message families (received, accepted, dropped, parse errors, SNMP refusals,
folded, queue depth) are `faultd.observe.fastmetrics` types whose children are
plain numbers (event loop thread only).  Label values are bounded sets: never node_id.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from faultd.event import LANE_CRITICAL, LANE_STANDARD, SEVERITIES
from faultd.observe.fastmetrics import FastCounter, FastGauge

SOURCES = ("syslog", "snmp")
DROP_REASONS = (
    "queue_full",
    "drop_oldest",
    "spill_failed",
    "disk_full",
    "source_rate",
    "not_allowed",
    "spill_evicted",
    "shutdown",
)
# Buckets spanning sub-second critical latency and multi-second standard windows.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


# The *_created series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events_received = FastCounter(
            "faultd_events_received_total", "Datagrams/messages read, by source", ["source"],
            registry=r)
        self.events_accepted = FastCounter(
            "faultd_events_accepted_total", "Events normalised and handed to the accumulator",
            ["source"], registry=r)
        self.events_dropped = FastCounter(
            "faultd_events_dropped_total", "Events lost on purpose, by reason", ["reason"],
            registry=r)
        self.parse_errors = FastCounter(
            "faultd_parse_errors_total", "Input that could not be parsed", ["source"], registry=r)
        self.snmp_rejected = FastCounter(
            "faultd_snmp_rejected_total", "Traps refused (auth, community, source...)", ["reason"],
            registry=r)
        self.events_folded = FastCounter(
            "faultd_events_folded_total", "Duplicates folded into an earlier event in its window",
            ["tier"], registry=r)
        self.queue_depth = FastGauge(
            "faultd_queue_depth", "Events waiting in the accumulator, by severity", ["priority"],
            registry=r)
        self.window_seconds = Gauge(
            "faultd_window_seconds", "Current accumulation window (adaptive)", ["tier", "lane"],
            registry=r)
        self.batches_emitted = Counter(
            "faultd_batches_emitted_total", "Batches closed by the accumulator",
            ["tier", "lane", "trigger"], registry=r)
        self.batch_latency = Histogram(
            "faultd_batch_latency_seconds", "First event in to batch acknowledged downstream",
            ["lane"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_emit = Histogram(
            "faultd_batch_emit_seconds",
            "First event into a window to its batch closed (loop monotonic clock)",
            ["lane"], buckets=LATENCY_BUCKETS, registry=r)
        self.dispatch_requests = Counter(
            "faultd_dispatch_requests_total", "Delivery attempts by outcome", ["lane", "outcome"],
            registry=r)
        self.dispatch_latency = Histogram(
            "faultd_dispatch_request_seconds", "Duration of one delivery attempt", ["lane"],
            buckets=REQUEST_BUCKETS, registry=r)
        self.dispatch_pending = Gauge(
            "faultd_dispatch_pending_batches", "Batches waiting for delivery in memory", ["lane"],
            registry=r)
        self.events_delivered = Counter(
            "faultd_events_delivered_total", "Events acknowledged downstream", ["lane"], registry=r)
        self.breaker_state = Gauge(
            "faultd_breaker_state", "Downstream circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=r)
        self.spill_bytes = Gauge("faultd_spill_bytes", "Bytes in spill segments", registry=r)
        self.spill_segments = Gauge(
            "faultd_spill_segments", "Spill segment files by lane", ["lane"], registry=r)
        self.spill_oldest_age = Gauge(
            "faultd_spill_oldest_age_seconds", "Age of the oldest spilled record", registry=r)
        self.spill_records_written = Counter(
            "faultd_spill_batches_written_total", "Batches written to spill, by cause", ["cause"],
            registry=r)
        self.spill_replayed = Counter(
            "faultd_spill_batches_replayed_total", "Spilled batches delivered on replay",
            registry=r)
        self.spill_corrupt = Counter(
            "faultd_spill_corrupt_records_total", "Torn or corrupt spill records skipped",
            registry=r)
        self.memory_fraction = Gauge(
            "faultd_memory_usage_ratio", "Process memory / limit (spill watermark input)",
            registry=r)
        self.loop_lag = Histogram(
            "faultd_loop_lag_seconds", "Event loop wake-up delay", buckets=LAG_BUCKETS, registry=r)
        self.config_generation = Gauge(
            "faultd_config_generation", "Config loads applied (1 = initial)", registry=r)
        self.config_reload_success = Gauge(
            "faultd_config_last_reload_success", "1 if the last reload applied, else 0", registry=r)
        self.build_info = Info("faultd_build", "Version information", registry=r)
        self.last_loop_lag = 0.0  # latest probe value, for the systemd STATUS line

        # Pre-bound children for the hot paths.
        self.received = {s: self.events_received.labels(s) for s in SOURCES}
        self.accepted = {s: self.events_accepted.labels(s) for s in SOURCES}
        self.parse_error = {s: self.parse_errors.labels(s) for s in SOURCES}
        self.dropped = {reason: self.events_dropped.labels(reason) for reason in DROP_REASONS}
        self.depth = {int(s): self.queue_depth.labels(str(int(s))) for s in SEVERITIES}
        for lane in (LANE_CRITICAL, LANE_STANDARD):
            self.dispatch_pending.labels(lane)
            self.events_delivered.labels(lane)
        self.config_reload_success.set(1)

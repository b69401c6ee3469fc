"""Prometheus metrics of the bus roles, registered on the daemon's registry.

Label sets are bounded: `partition` takes values 0..bus.partitions-1 and a
partition's series is removed when this member gives it up.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PUBLISH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.publish_latency = Histogram(
            "faultd_bus_publish_latency_seconds", "Publish to JetStream ack, per event",
            buckets=PUBLISH_BUCKETS, registry=registry)
        self.published = Counter(
            "faultd_bus_published_total", "Events acknowledged by JetStream", registry=registry)
        self.outboxed = Counter(
            "faultd_bus_outbox_events_total",
            "Events written to the local outbox because the bus did not ack them", ["reason"],
            registry=registry)
        self.replayed = Counter(
            "faultd_bus_outbox_replayed_total", "Outbox events re-published", registry=registry)
        self.outbox_pending = Gauge(
            "faultd_bus_outbox_pending_batches", "Outbox batches not yet re-published",
            registry=registry)
        self.connected = Gauge(
            "faultd_bus_connected", "1 while connected to a NATS server", registry=registry)


class AccumulatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumer_lag = Gauge(
            "faultd_bus_consumer_lag", "Messages in the stream not yet delivered, per owned "
            "partition", ["partition"], registry=registry)
        self.ack_pending = Gauge(
            "faultd_bus_ack_pending", "Messages delivered and not yet acked, per owned partition",
            ["partition"], registry=registry)
        self.redeliveries = Counter(
            "faultd_bus_redeliveries_total", "Messages delivered more than once", registry=registry)
        self.consumed = Counter(
            "faultd_bus_consumed_total", "Messages taken from the bus", registry=registry)
        self.acked = Counter(
            "faultd_bus_acked_total", "Messages acked after their batch settled",
            registry=registry)
        self.bad_messages = Counter(
            "faultd_bus_bad_messages_total", "Messages that did not decode (terminated)",
            registry=registry)
        self.partitions_owned = Gauge(
            "faultd_bus_partitions_owned", "Partitions this member holds leases on",
            registry=registry)
        self.partition_moves = Counter(
            "faultd_bus_partition_moves_total", "Leases taken or given up", ["change"],
            registry=registry)

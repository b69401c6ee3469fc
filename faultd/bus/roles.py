"""Wiring of the bus roles into a started daemon.

`start_role(daemon)` is called by `Daemon.start()` once the dispatcher and
intake exist, when `bus.role` is not `standalone`; the returned `BusRole` is
closed in two steps by `Daemon.shutdown()`:

- `close()` first thing: a collector publishes what is queued and sends later
  events to its outbox; an accumulator stops consuming and releases its
  leases (what it took stays in its windows and is flushed as usual);
- `finish()` after the dispatcher stopped and before the spill store closes:
  an accumulator sends the acks of the batches that settled meanwhile; a
  collector writes its outbox buffer; both close the connection.

collector:   intake.forward = Publisher.forward (local accumulator unused).
accumulator: partitions -> PartitionConsumer -> AckTracker.offer ->
             Accumulator.offer ... Dispatcher/OverflowSpiller.on_settled ->
             AckTracker.settled -> ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nats.aio.client import Client

from faultd.bus.busmetrics import AccumulatorMetrics, CollectorMetrics
from faultd.bus.connection import (
    connect,
    ensure_consumer,
    ensure_lease_bucket,
    ensure_stream,
    rewind_consumer,
)
from faultd.bus.consumer import PartitionConsumer
from faultd.bus.leases import LeaseManager
from faultd.bus.publisher import Publisher
from faultd.bus.tracker import AckTracker
from faultd.cancel import cancel_and_wait
from faultd.spill.store import SpillStore

if TYPE_CHECKING:
    from faultd.daemon import Daemon

log = logging.getLogger("faultd.bus")

LAG_REFRESH_SECONDS = 2.0
ACK_DRAIN_SECONDS = 5.0
OUTBOX_DIRECTORY = "bus-outbox"


class BusRole(Protocol):
    async def close(self) -> None: ...

    async def finish(self) -> None: ...


async def _close_connection(nc: Client) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2.0):
            await nc.flush()
    with contextlib.suppress(Exception):
        await nc.close()


class CollectorRole:
    def __init__(self, nc: Client, publisher: Publisher, shutdown_timeout: float) -> None:
        self.nc = nc
        self.publisher = publisher
        self._timeout = shutdown_timeout

    async def close(self) -> None:
        await self.publisher.close(self._timeout)

    async def finish(self) -> None:
        self.publisher.finish()
        await _close_connection(self.nc)


async def start_collector(daemon: Daemon) -> CollectorRole:
    config = daemon.config
    bus = config.bus
    nc = await connect(bus, f"faultd-collector-{config.collector_name}")
    try:
        await ensure_stream(nc.jetstream(), bus)
        outbox = SpillStore(Path(config.state_directory) / OUTBOX_DIRECTORY,
                            fsync=config.spill.fsync, max_bytes=config.spill.max_bytes)
    except BaseException:
        await nc.close()
        raise
    publisher = Publisher(nc, bus, outbox, CollectorMetrics(daemon.metrics.registry),
                          config.collector_name)
    publisher.start()
    daemon.intake.forward = publisher.forward
    log.info("bus collector: publishing to %s.<0..%d> on stream %s", bus.subject_prefix,
             bus.partitions - 1, bus.stream)
    return CollectorRole(nc, publisher, min(config.dispatch.shutdown_timeout_seconds, 5.0))


class AccumulatorRole:
    def __init__(self, daemon: Daemon, nc: Client, tracker: AckTracker,
                 metrics: AccumulatorMetrics) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.tracker = tracker
        self.consumers: dict[int, PartitionConsumer] = {}
        self.leases: LeaseManager | None = None
        self._daemon = daemon
        self._metrics = metrics
        self._lag_task: asyncio.Task[None] | None = None

    async def acquire(self, partition: int, rewind: bool) -> None:
        bus = self._daemon.config.bus
        if rewind:
            redelivered = await rewind_consumer(self.js, bus, partition)
            if redelivered:
                log.warning("partition %d: previous holder left %d messages unacked; "
                            "redelivering them now", partition, redelivered)
        consumer = PartitionConsumer(self.js, bus, partition, self.tracker,
                                     self._daemon.accumulator.has_capacity, self._metrics)
        await consumer.start()
        self.consumers[partition] = consumer

    async def release(self, partition: int) -> None:
        consumer = self.consumers.pop(partition, None)
        if consumer is not None:
            await consumer.stop()

    async def _refresh_lag(self) -> None:
        while True:
            await asyncio.sleep(LAG_REFRESH_SECONDS)
            for consumer in list(self.consumers.values()):
                with contextlib.suppress(Exception):
                    await consumer.refresh_lag()

    def start(self, leases: LeaseManager) -> None:
        self.leases = leases
        self.tracker.start()
        leases.start()
        self._lag_task = asyncio.create_task(self._refresh_lag(), name="bus-lag")

    async def close(self) -> None:
        if self._lag_task is not None:
            await cancel_and_wait([self._lag_task])
        if self.leases is not None:
            await self.leases.close()
        for partition in list(self.consumers):
            await self.release(partition)

    async def finish(self) -> None:
        await self.tracker.drain(ACK_DRAIN_SECONDS)
        held = self.tracker.held_messages()
        if held:
            log.warning("%d bus messages left unacked; the stream redelivers them", held)
        await _close_connection(self.nc)


async def start_accumulator(daemon: Daemon) -> AccumulatorRole:
    config = daemon.config
    bus = config.bus
    member = bus.member_name or config.collector_name
    nc = await connect(bus, f"faultd-accumulator-{member}")
    try:
        js = nc.jetstream()
        await ensure_stream(js, bus)
        for partition in range(bus.partitions):
            await ensure_consumer(js, bus, partition)
        kv = await ensure_lease_bucket(js, bus)
    except BaseException:
        await nc.close()
        raise
    metrics = AccumulatorMetrics(daemon.metrics.registry)
    tracker = AckTracker(daemon.accumulator.offer, metrics,
                         refused_is_spilled=config.accumulator.overflow == "spill")
    daemon.dispatcher.on_settled = tracker.settled
    daemon.overflow.on_settled = tracker.settled
    role = AccumulatorRole(daemon, nc, tracker, metrics)
    leases = LeaseManager(kv, member, bus.partitions, bus.lease_ttl_seconds,
                          acquire=role.acquire, release=role.release, metrics=metrics)
    role.start(leases)
    log.info("bus accumulator %s: joined the group on stream %s (%d partitions)", member,
             bus.stream, bus.partitions)
    return role


async def start_role(daemon: Daemon) -> BusRole:
    role = daemon.config.bus.role
    if role == "collector":
        return await start_collector(daemon)
    if role == "accumulator":
        return await start_accumulator(daemon)
    raise ValueError(f"bus.role {role!r} has no bus wiring")

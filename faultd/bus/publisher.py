"""Collector side: publish every accepted event to JetStream, or to a local outbox.

`forward(event)` is the `Intake.forward` hook: synchronous, never blocks, never
drops.  Events queue in memory (bounded by `QUEUE_LIMIT`) and a publisher task
sends them in pipelined chunks with `publish_async` (header
`Nats-Msg-Id: <event_id>`, so the stream drops a re-publish inside its
duplicate window) and waits up to `publish_timeout_seconds` for the acks.

An event whose publish fails or is not acked in time goes to the outbox: a
`SpillStore` under `<state_directory>/bus-outbox`, as `Batch` records of up to
`OUTBOX_BATCH` events per lane.  While the client is disconnected, or for
`BACKOFF_SECONDS` after a failed chunk, new events go straight to the outbox
instead of waiting for timeouts.  A replay task re-publishes outbox batches
(critical first, oldest first) once publishing works again, and acks a record
only when every event in it was acked by JetStream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator, Sequence

from nats.aio.client import Client
from nats.js.api import PubAck

from faultd.bus.busmetrics import CollectorMetrics
from faultd.bus.codec import encode_event
from faultd.bus.partition import partition_of, subject_for
from faultd.cancel import cancel_and_wait
from faultd.config import BusConfig
from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch, FaultEvent, new_id
from faultd.observe.quietlog import QuietLogger
from faultd.spill.model import SpilledBatch
from faultd.spill.store import SpillStore

log = logging.getLogger("faultd.bus.publisher")
quiet = QuietLogger(log)

QUEUE_LIMIT = 200_000  # events waiting for a publish slot before they go to the outbox
CHUNK = 1024  # events published before waiting for their acks
OUTBOX_BATCH = 1000
OUTBOX_DELAY = 0.5  # seconds an outbox buffer may wait before it is written
BACKOFF_SECONDS = 1.0
REPLAY_POLL_SECONDS = 0.5


class Publisher:
    def __init__(self, nc: Client, config: BusConfig, outbox: SpillStore,
                 metrics: CollectorMetrics, collector: str) -> None:
        self._nc = nc
        self._js = nc.jetstream(
            publish_async_max_pending=max(CHUNK, config.max_in_flight_publishes))
        self._config = config
        self._outbox = outbox
        self._metrics = metrics
        self._collector = collector
        self._loop = asyncio.get_running_loop()
        self._queue: deque[FaultEvent] = deque()
        self._wakeup = asyncio.Event()
        self._buffers: dict[str, list[FaultEvent]] = {LANE_CRITICAL: [], LANE_STANDARD: []}
        self._outbox_timer: asyncio.TimerHandle | None = None
        self._backoff_until = 0.0
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="bus-publish"),
            asyncio.create_task(self._replay_loop(), name="bus-outbox-replay"),
        ]

    async def close(self, deadline_seconds: float) -> None:
        """Publish what is queued (up to `deadline_seconds`); later events go to the outbox."""
        self._closing = True
        self._wakeup.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_seconds):
                await self._idle.wait()
        await cancel_and_wait(self._tasks)
        while self._queue:
            self._to_outbox(self._queue.popleft(), "shutdown")

    def finish(self) -> None:
        """Write buffered outbox events to disk and close the outbox."""
        self._flush_outbox()
        self._outbox.close()

    # -- intake --------------------------------------------------------------------

    def healthy(self) -> bool:
        return (not self._closing and self._nc.is_connected
                and self._loop.time() >= self._backoff_until)

    def forward(self, event: FaultEvent) -> bool:
        if not self.healthy():
            self._to_outbox(event, "disconnected" if not self._closing else "shutdown")
        elif len(self._queue) >= QUEUE_LIMIT:
            self._to_outbox(event, "backlog")
        else:
            self._queue.append(event)
            self._idle.clear()
            self._wakeup.set()
        return True

    def queued(self) -> int:
        return len(self._queue)

    # -- publishing ----------------------------------------------------------------

    async def publish(self, events: Sequence[FaultEvent]) -> list[FaultEvent]:
        """Publish `events` and wait for their acks; returns the ones not acked."""
        prefix, partitions = self._config.subject_prefix, self._config.partitions
        timeout = self._config.publish_timeout_seconds
        futures: list[asyncio.Future[PubAck]] = []
        failed: list[FaultEvent] = []
        started = self._loop.time()
        observe = self._metrics.publish_latency.observe
        for index, event in enumerate(events):
            subject = subject_for(prefix, partition_of(event.node_id, partitions))
            try:
                future = await self._js.publish_async(
                    subject, encode_event(event), wait_stall=timeout,
                    headers={"Nats-Msg-Id": event.event_id})
            except Exception as exc:  # closed connection, too many stalled
                quiet.warning("publish", "publish failed (%r); using the outbox", exc)
                failed.extend(events[index:])
                break
            future.add_done_callback(lambda _f: observe(self._loop.time() - started))
            futures.append(future)
        if futures:
            _, not_done = await asyncio.wait(futures, timeout=timeout)
            for late in not_done:
                late.cancel()
            acked = 0
            for event, sent in zip(events, futures, strict=False):
                if sent.cancelled() or sent.exception() is not None:
                    failed.append(event)
                else:
                    acked += 1
            self._metrics.published.inc(acked)
        if failed:
            self._backoff_until = self._loop.time() + BACKOFF_SECONDS
        return failed

    async def _publish_loop(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not self._nc.is_connected or self._loop.time() < self._backoff_until:
                while self._queue:
                    self._to_outbox(self._queue.popleft(), "disconnected")
                continue
            chunk = [self._queue.popleft() for _ in range(min(CHUNK, len(self._queue)))]
            for event in await self.publish(chunk):
                self._to_outbox(event, "unacked")

    # -- outbox ----------------------------------------------------------------------

    def _to_outbox(self, event: FaultEvent, reason: str) -> None:
        lane = LANE_CRITICAL if event.severity == 1 else LANE_STANDARD
        buffer = self._buffers[lane]
        buffer.append(event)
        self._metrics.outboxed.labels(reason).inc()
        if len(buffer) >= OUTBOX_BATCH:
            self._write_outbox(lane)
        elif self._outbox_timer is None:
            self._outbox_timer = self._loop.call_later(OUTBOX_DELAY, self._flush_outbox)

    def _flush_outbox(self) -> None:
        if self._outbox_timer is not None:
            self._outbox_timer.cancel()
        self._outbox_timer = None
        for lane in (LANE_CRITICAL, LANE_STANDARD):
            if self._buffers[lane]:
                self._write_outbox(lane)

    def _write_outbox(self, lane: str) -> None:
        events, self._buffers[lane] = self._buffers[lane], []
        now = self._loop.time()
        batch = Batch(batch_id=new_id(), collector=self._collector, tier=events[0].tier or "bus",
                      lane=lane, trigger="replay", opened_at=now, emitted_at=now,
                      event_count=len(events), events=events)
        try:
            self._outbox.append(batch)
        except Exception as exc:  # disk full / cap: loud, counted by the caller's metrics
            quiet.error("outbox", "bus outbox write failed, %d events lost: %s", len(events), exc)
            self._metrics.outboxed.labels("lost").inc(len(events))
            return
        log.debug("outbox: %d events spilled (%s)", len(events), lane)

    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(REPLAY_POLL_SECONDS)
            pending = self._outbox.stats().records_pending
            self._metrics.outbox_pending.set(pending)
            self._metrics.connected.set(1 if self._nc.is_connected else 0)
            if pending and self.healthy():
                await self._replay_pass()

    async def _replay_pass(self) -> None:
        items: Iterator[SpilledBatch] = self._outbox.replay()
        sentinel = None
        replayed = 0
        while self.healthy():
            item = await asyncio.to_thread(next, items, sentinel)
            if item is None:
                break
            events = item.batch.events
            if await self.publish(events):
                break  # still failing: the record stays, retried on the next pass
            self._outbox.ack(item.ref)
            self._metrics.replayed.inc(len(events))
            replayed += len(events)
        if replayed:
            log.info("outbox: re-published %d events", replayed)

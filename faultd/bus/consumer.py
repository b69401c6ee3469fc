"""One partition's fetch loop: pull messages, decode, hand them to the ack tracker.

A `PartitionConsumer` binds to the partition's durable pull consumer and
fetches up to `fetch_batch` messages per request (long-polling `FETCH_SECONDS`).
It pauses while the accumulator is at a queue bound, so a storm waits in the
stream rather than in memory.  A message that does not decode is terminated
(never redelivered) and counted; an event the accumulator refuses is nak'ed
with a delay.  `stop()` finishes the fetch in progress, offers whatever that
fetch already brought in, and unsubscribes; the messages it took stay tracked
and are acked when their batches settle, even after the partition has moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from faultd.bus.busmetrics import AccumulatorMetrics
from faultd.bus.codec import decode_event
from faultd.bus.partition import durable_for
from faultd.bus.tracker import AckTracker
from faultd.config import BusConfig
from faultd.observe.quietlog import QuietLogger

log = logging.getLogger("faultd.bus.consumer")
quiet = QuietLogger(log)

FETCH_SECONDS = 1.0
PAUSE_SECONDS = 0.05
NAK_DELAY_SECONDS = 1.0


class PartitionConsumer:
    def __init__(self, js: JetStreamContext, config: BusConfig, partition: int,
                 tracker: AckTracker, has_capacity: Callable[[], bool],
                 metrics: AccumulatorMetrics) -> None:
        self.partition = partition
        self._js = js
        self._config = config
        self._tracker = tracker
        self._has_capacity = has_capacity
        self._metrics = metrics
        self._stopping = False
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._sub = await self._js.pull_subscribe_bind(
            durable=durable_for(self._config.stream, self.partition), stream=self._config.stream)
        self._task = asyncio.create_task(self._loop(), name=f"bus-p{self.partition}")

    async def _loop(self) -> None:
        assert self._sub is not None
        batch = self._config.fetch_batch
        while not self._stopping:
            if not self._has_capacity():
                await asyncio.sleep(PAUSE_SECONDS)
                continue
            try:
                msgs = await self._sub.fetch(batch, timeout=FETCH_SECONDS)
            except nats.errors.TimeoutError:
                continue
            except Exception as exc:  # disconnected, consumer gone during a rewind
                quiet.warning(f"fetch:{self.partition}", "fetch on partition %d failed: %r",
                              self.partition, exc)
                await asyncio.sleep(FETCH_SECONDS)
                continue
            for msg in msgs:
                self._handle(msg)

    def _handle(self, msg: Msg) -> None:
        self._metrics.consumed.inc()
        try:
            if msg.metadata.num_delivered > 1:
                self._metrics.redeliveries.inc()
        except (ValueError, AttributeError, IndexError):
            pass
        try:
            event = decode_event(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._metrics.bad_messages.inc()
            quiet.warning("decode", "undecodable message on partition %d terminated: %s",
                          self.partition, exc)
            self._spawn(msg.term())
            return
        msg.data = b""  # only the reply subject is needed from here on (for the ack)
        if not self._tracker.offer(event, msg):
            self._spawn(msg.nak(delay=NAK_DELAY_SECONDS))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sub is not None:
            # messages that arrived for the last fetch after it returned
            queue: asyncio.Queue[Msg] | None = getattr(
                getattr(self._sub, "_sub", None), "_pending_queue", None)
            while queue is not None and not queue.empty():
                msg = queue.get_nowait()
                if not JetStreamContext.is_status_msg(msg):
                    self._handle(msg)
            try:
                await self._sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribe of partition %d: %r", self.partition, exc)
        for gauge in (self._metrics.consumer_lag, self._metrics.ack_pending):
            with contextlib.suppress(KeyError):
                gauge.remove(str(self.partition))

    async def refresh_lag(self) -> None:
        info = await self._js.consumer_info(
            self._config.stream, durable_for(self._config.stream, self.partition))
        if not self._stopping:
            self._metrics.consumer_lag.labels(str(self.partition)).set(info.num_pending or 0)
            self._metrics.ack_pending.labels(str(self.partition)).set(info.num_ack_pending or 0)

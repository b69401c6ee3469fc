"""The dispatcher: two lanes of batches to one sink, shaped, retried, spilled, replayed.

`submit(batch)` is synchronous and never blocks the loop.  Each lane
(`critical`, `standard`) has its own bounded in-memory queue, its own token
bucket and its own `max_in_flight` workers, so critical batches never wait
behind standard ones.  A delivery is retried with full-jitter backoff (or the
server's Retry-After) until it succeeds, is rejected for good (parked under
spill `rejected/`), or the circuit breaker opens — then the batch goes to the
spill store, and the replayer re-sends spilled batches (critical first, oldest
first) once the breaker lets a probe through.  A batch keeps its batch_id, and
so its Idempotency-Key, across every retry and replay.

Batches also go straight to spill when the lane queue is full, when memory is
above the watermark, and at shutdown for whatever the drain timeout left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import cast

from faultd.cancel import cancel_and_wait
from faultd.config import DispatchConfig
from faultd.dispatch.backoff import full_jitter
from faultd.dispatch.breaker import CircuitBreaker
from faultd.dispatch.encode import encode_batch_sliced
from faultd.dispatch.ratelimit import TokenBucket
from faultd.dispatch.sinks import Outcome, Sink
from faultd.event import LANE_CRITICAL, LANE_STANDARD, Batch
from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger
from faultd.spill.model import SpilledBatch, drop_reason
from faultd.spill.store import SpillStore

log = logging.getLogger("faultd.dispatch")
quiet = QuietLogger(log)

LANES = (LANE_CRITICAL, LANE_STANDARD)


class Result(Enum):
    DELIVERED = "delivered"
    REJECTED = "rejected"
    DEFERRED = "deferred"  # not delivered now (breaker open, shutting down): keep it


def _outcome_label(outcome: Outcome) -> str:
    if outcome.kind == "ok":
        return "ok"
    if outcome.kind == "reject":
        return "rejected"
    if outcome.status is None:
        return "unreachable"
    if outcome.status in (429, 503):
        return "throttled"
    return "server_error"


class _Lane:
    __slots__ = ("bucket", "in_flight", "name", "queue", "wakeup", "workers")

    def __init__(self, name: str, bucket: TokenBucket) -> None:
        self.name = name
        self.bucket = bucket
        self.queue: deque[Batch] = deque()
        self.wakeup = asyncio.Event()
        self.workers: list[asyncio.Task[None]] = []
        self.in_flight: set[str] = set()


class Dispatcher:
    def __init__(
        self,
        config: DispatchConfig,
        *,
        sink: Sink,
        spill: SpillStore | None,
        metrics: Metrics,
        now: Callable[[], float],
        wall: Callable[[], float],
        memory_pressure: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.sink = sink
        self.spill = spill
        self._metrics = metrics
        self._now = now
        self._wall = wall
        self._memory_pressure = memory_pressure
        self.breaker = CircuitBreaker(
            config.breaker.failure_threshold, config.breaker.open_seconds, now)
        self._lanes = {
            LANE_CRITICAL: _Lane(LANE_CRITICAL, TokenBucket(
                config.critical_rate_limit.requests_per_second, config.critical_rate_limit.burst,
                now)),
            LANE_STANDARD: _Lane(LANE_STANDARD, TokenBucket(
                config.rate_limit.requests_per_second, config.rate_limit.burst, now)),
        }
        self._replayer: asyncio.Task[None] | None = None
        self._spill_wakeup = asyncio.Event()
        self._draining = False
        self._started = False
        # Called once per batch when it is safe downstream: "delivered", "rejected"
        # (parked) or "spilled" (on disk).  The bus accumulator acks its messages here.
        self.on_settled: Callable[[Batch, str], None] | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        for lane in self._lanes.values():
            self._spawn_workers(lane)
        self._replayer = asyncio.create_task(self._replay_loop(), name="dispatch-replay")
        self._started = True

    def _spawn_workers(self, lane: _Lane) -> None:
        while len(lane.workers) < self.config.max_in_flight:
            index = len(lane.workers)
            lane.workers.append(asyncio.create_task(
                self._worker(lane), name=f"dispatch-{lane.name}-{index}"))

    def reconfigure(self, config: DispatchConfig, sink: Sink | None = None) -> Sink | None:
        """Apply a reloaded config; returns the previous sink if it was replaced (caller closes)."""
        self.config = config
        lanes = self._lanes
        lanes[LANE_STANDARD].bucket.reconfigure(
            config.rate_limit.requests_per_second, config.rate_limit.burst)
        lanes[LANE_CRITICAL].bucket.reconfigure(
            config.critical_rate_limit.requests_per_second, config.critical_rate_limit.burst)
        self.breaker.threshold = config.breaker.failure_threshold
        self.breaker.open_seconds = config.breaker.open_seconds
        old = None
        if sink is not None:
            old, self.sink = self.sink, sink
            self.breaker.record_success()  # a new endpoint starts with a clean slate
        if self._started:
            for lane in lanes.values():
                self._spawn_workers(lane)
        return old

    async def stop(self, deadline_seconds: float) -> None:
        """Deliver what is queued within `deadline_seconds`, spill the rest, close the sink."""
        self._draining = True
        if self._replayer is not None:
            self._replayer.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        while self.pending_batches() and loop.time() < deadline:  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.02)
        workers = [t for lane in self._lanes.values() for t in lane.workers]
        await cancel_and_wait(workers)
        if self._replayer is not None:
            await cancel_and_wait([self._replayer])
        for lane in self._lanes.values():
            while lane.queue:
                self._to_spill(lane.queue.popleft(), "shutdown")
            self._metrics.dispatch_pending.labels(lane.name).set(0)
        await self.sink.close()

    def pending_batches(self) -> int:
        return sum(len(lane.queue) + len(lane.in_flight) for lane in self._lanes.values())

    # -- intake -----------------------------------------------------------------------

    def submit(self, batch: Batch) -> None:
        lane = self._lanes[batch.lane]
        if self.spill is not None:
            if self.breaker.is_open:
                self._to_spill(batch, "downstream_down")
                return
            if len(lane.queue) >= self.config.max_pending_batches:
                self._to_spill(batch, "queue_full")
                return
            if self._memory_pressure():
                self._to_spill(batch, "memory")
                return
        lane.queue.append(batch)
        self._metrics.dispatch_pending.labels(lane.name).set(len(lane.queue))
        lane.wakeup.set()

    def _to_spill(self, batch: Batch, cause: str) -> bool:
        if self.spill is None:
            quiet.error("nospill", "no spill store: %d events lost (%s)", batch.event_count, cause)
            self._metrics.dropped["spill_failed"].inc(batch.event_count)
            return False
        try:
            self.spill.append(batch)
        except Exception as exc:  # SpillFull, SpillDiskFull, OSError: counted, loud, not fatal
            reason = drop_reason(exc)
            quiet.error(f"spill:{reason}", "cannot spill batch %s (%d events, %s): %s",
                        batch.batch_id, batch.event_count, batch.lane, exc)
            self._metrics.dropped[reason].inc(batch.event_count)
            if self.on_settled is not None:  # dropped by design and counted: settled
                self.on_settled(batch, "dropped")
            return False
        self._metrics.spill_records_written.labels(cause).inc()
        self._spill_wakeup.set()
        if self.on_settled is not None:
            self.on_settled(batch, "spilled")
        return True

    # -- delivery ------------------------------------------------------------------------

    async def _worker(self, lane: _Lane) -> None:
        while True:
            if not lane.queue:
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            batch = lane.queue.popleft()
            self._metrics.dispatch_pending.labels(lane.name).set(len(lane.queue))
            lane.in_flight.add(batch.batch_id)
            try:
                result = await self._deliver(lane, batch)
            except asyncio.CancelledError:
                self._to_spill(batch, "shutdown")
                raise
            finally:
                lane.in_flight.discard(batch.batch_id)
            if result is not Result.DEFERRED and self.on_settled is not None:
                self.on_settled(batch, result.value)
            deferred = result is Result.DEFERRED
            if deferred and not self._to_spill(batch, "downstream_down") and self.spill is None:
                lane.queue.appendleft(batch)  # nowhere to keep it: hold it in memory, back off
                await asyncio.sleep(self.config.breaker.open_seconds)

    async def _deliver(self, lane: _Lane, batch: Batch) -> Result:
        """Attempt delivery until success, permanent rejection, or breaker open."""
        body = await encode_batch_sliced(batch)
        retry = self.config.retry
        attempt = 0
        while True:
            if not self.breaker.allow():
                return Result.DEFERRED
            await lane.bucket.take()
            started = self._now()
            try:
                outcome = await self.sink.deliver(batch, body)
            except Exception as exc:  # a sink bug must not kill the worker: treat as retryable
                log.exception("sink %s raised", self.sink.name)
                outcome = Outcome("retry", None, None, repr(exc))
            self._metrics.dispatch_latency.labels(lane.name).observe(self._now() - started)
            self._metrics.dispatch_requests.labels(lane.name, _outcome_label(outcome)).inc()
            if outcome.kind == "ok":
                self.breaker.record_success()
                self._metrics.breaker_state.set(self.breaker.state)
                self._metrics.events_delivered.labels(lane.name).inc(batch.event_count)
                self._metrics.batch_latency.labels(lane.name).observe(
                    max(0.0, self._wall() - batch.opened_at))
                return Result.DELIVERED
            if outcome.kind == "reject":
                self.breaker.record_success()  # the endpoint is alive; this batch is bad
                log.error("batch %s rejected by %s (HTTP %s): %s", batch.batch_id,
                          self.sink.name, outcome.status, outcome.detail,
                          extra={"FAULTD_BATCH_ID": batch.batch_id})
                if self.spill is not None:
                    self.spill.park_rejected(batch, f"HTTP {outcome.status}: {outcome.detail}")
                return Result.REJECTED
            self.breaker.record_failure()
            self._metrics.breaker_state.set(self.breaker.state)
            quiet.warning(f"retry:{lane.name}", "delivery of batch %s failed (%s %s), retrying",
                          batch.batch_id, outcome.status or "", outcome.detail)
            if self.breaker.is_open:
                return Result.DEFERRED
            delay = full_jitter(attempt, retry.initial_backoff_seconds, retry.max_backoff_seconds)
            if outcome.retry_after is not None:
                delay = max(delay, min(outcome.retry_after, 3600.0))
            attempt += 1
            await asyncio.sleep(delay)

    # -- replay of spilled batches -------------------------------------------------------

    async def _replay_loop(self) -> None:
        """Re-send spilled batches once the downstream takes traffic again."""
        spill = self.spill
        if spill is None:
            return
        while not self._draining:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._spill_wakeup.wait()
            self._spill_wakeup.clear()
            if spill.stats().records_pending == 0:
                continue
            if self.breaker.is_open and not self._breaker_probe_due():
                continue
            await self._replay_pass(spill)

    def _breaker_probe_due(self) -> bool:
        return self._now() - self.breaker.opened_at >= self.breaker.open_seconds

    async def _replay_pass(self, spill: SpillStore) -> None:
        items = spill.replay()
        sentinel = object()
        while not self._draining:
            # Live traffic first: wait while a lane has a backlog in memory.
            while any(len(lane.queue) >= 2 for lane in self._lanes.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            item: object = await asyncio.to_thread(next, items, sentinel)
            if item is sentinel:
                return
            spilled = cast(SpilledBatch, item)
            lane = self._lanes[spilled.batch.lane]
            lane.in_flight.add(spilled.batch.batch_id)
            try:
                result = await self._deliver(lane, spilled.batch)
            finally:
                lane.in_flight.discard(spilled.batch.batch_id)
            if result is Result.DEFERRED:
                return  # still down: leave it (and the rest) in spill
            spill.ack(spilled.ref)
            if result is Result.DELIVERED:
                self._metrics.spill_replayed.inc()

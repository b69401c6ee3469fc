"""Async wrapper: the engine runs in one dedicated worker, off the receiving loop.

Design (single writer): exactly one engine exists, inside one worker; batches
are sent to it one at a time through `loop.run_in_executor`, so evaluation is
serial and deterministic and the SQLite store has one writer.

Acknowledgement: `evaluate` returns a batch's result only once the batch is
durable.  Evaluation and the store's transaction are pipelined across
concurrent callers: the worker is released as soon as a batch is decided
(`engine.submit`), so the next caller's batch is evaluated while the previous
one commits on the store's writer thread (`writer.py`); each caller then waits
for its own batch's commit.  Commits finish in submission order, so results are
handed out in that order.  After a failed commit every later batch fails too
(`StoreFailed`) until the worker is restarted from the store.

- ``mode="process"`` (default): a one-process `ProcessPoolExecutor` (spawn
  context: the daemon's threads and uvloop must not be forked) builds the engine
  in its initializer; batches travel as faultd.batch/v1 JSON and results come
  back as msgpack.  CPU work never holds the daemon's GIL.
- ``mode="thread"``: a one-thread executor; cheaper to start, shares the GIL.
  The clock may then be any callable (tests inject one); in process mode it must
  be picklable (a module-level function).

Readers (the NOC view) do not go through the worker: they read the store's
committed state with a `TicketReader`.

`reload(policy_path)` validates the new policy in the caller (a bad one raises
`PolicyError` and the running policy stays), then swaps it into the engine
between two batches; open tickets are kept (see `CorrelationEngine.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import msgspec

from faultd.correlate.engine import CorrelationEngine, EvaluationResult
from faultd.correlate.policy import Policy, load_policy
from faultd.correlate.reader import TicketReader
from faultd.correlate.store import db_path
from faultd.correlate.writer import Pending
from faultd.event import Batch, decode_batch, encode_batch

_engine: CorrelationEngine | None = None
_inflight: dict[int, Pending[EvaluationResult]] = {}  # submitted, not yet known durable
_seq = 0
_durable = 0  # every batch up to this sequence number is durable
_result_encoder = msgspec.msgpack.Encoder()
_result_decoder = msgspec.msgpack.Decoder(EvaluationResult)


def _init_worker(policy_path: str, state_directory: str, clock: Callable[[], float]) -> None:
    global _engine
    # The parent decides when this worker ends (close() after the last batch).  A
    # SIGTERM/SIGINT sent to the whole process group (systemd's default KillMode,
    # coreutils timeout, Ctrl-C) must not kill it before the parent has drained.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _engine = CorrelationEngine.open(Path(policy_path), Path(state_directory), clock=clock)


def _advance() -> int:
    """Move the durable mark past the finished, successful commits (in order)."""
    global _durable
    while _inflight:
        seq = next(iter(_inflight))
        p = _inflight[seq]
        if not p.done():
            break
        p.result()  # raises a failed commit's error; the entry stays for its waiter
        del _inflight[seq]
        _durable = seq
    if not _inflight:
        _durable = _seq
    return _durable


def _submit_in_worker(data: bytes) -> tuple[int, bytes, int]:
    """Decide a batch; returns (its sequence number, its result, the durable mark)."""
    global _seq
    assert _engine is not None, "worker not initialised"
    pending = _engine.submit(decode_batch(data))
    _seq += 1
    _inflight[_seq] = pending
    out = _result_encoder.encode(pending.value)
    try:
        durable = _advance()
    except Exception:  # an earlier batch failed: its own waiter reports it
        durable = _durable
    return _seq, out, durable


def _wait_in_worker(seq: int) -> int:
    """Wait until batch `seq` is durable (raises its commit's error); returns the mark."""
    for s in list(_inflight):
        if s > seq:
            break
        _inflight[s].result()
        del _inflight[s]
    with contextlib.suppress(Exception):  # a later batch failed: its own waiter reports it
        _advance()
    return max(_durable, seq)


def _reload_in_worker(policy: Policy) -> None:
    assert _engine is not None, "worker not initialised"
    _engine.reload(policy)


def _ping() -> bool:
    return _engine is not None


def _close_worker() -> None:
    global _engine
    _inflight.clear()
    if _engine is not None:
        _engine.close()
        _engine = None


def _with_plain_attributes(batch: Batch, body: bytes | None) -> Batch:
    """`batch`, or its decoded JSON when some events were relayed by a receive worker
    (their attributes are JSON text, faultd.event.RelayedEvent): the engine reads
    attributes as dicts.  Runs on the correlator's thread."""
    if all(type(event.attributes) is dict for event in batch.events):
        return batch
    return decode_batch(body if body is not None else encode_batch(batch))


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Turns:
    """Results are handed out in the order their batches were submitted (a caller whose
    batch is durable early waits for the callers before it), so ticket changes reach
    the ticket log and webhooks in the order they were decided."""

    def __init__(self) -> None:
        self._issued = 0
        self._next = 0
        self._finished: set[int] = set()
        self._waiters: dict[int, asyncio.Future[None]] = {}

    def take(self) -> int:
        turn = self._issued
        self._issued += 1
        return turn

    async def wait(self, turn: int) -> None:
        if turn == self._next:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[turn] = fut
        try:
            await fut
        finally:
            self._waiters.pop(turn, None)

    def finish(self, turn: int) -> None:
        """`turn` is over (handed out, failed or cancelled): wake the next one."""
        self._finished.add(turn)
        while self._next in self._finished:
            self._finished.discard(self._next)
            self._next += 1
        fut = self._waiters.get(self._next)
        if fut is not None:
            _resolve(fut)


class AsyncCorrelator:
    """One engine in one worker; `await evaluate(batch)` from the event loop."""

    def __init__(
        self,
        policy_path: Path,
        state_directory: Path,
        *,
        mode: Literal["process", "thread"] = "process",
        clock: Callable[[], float] = time.time,
    ) -> None:
        load_policy(policy_path)  # fail fast (PolicyError) in the caller's process
        self.policy_path = policy_path
        self.state_directory = state_directory
        self.mode = mode
        self._clock = clock
        self._executor: Executor | None = None
        self._engine: CorrelationEngine | None = None  # thread mode only
        self._lock = asyncio.Lock()
        self._durable = 0  # process mode: the worker's last reported durable mark
        self._turns = _Turns()
        self.reader: TicketReader | None = None

    async def start(self) -> None:
        """Start the worker and load the persisted state."""
        loop = asyncio.get_running_loop()
        self._durable = 0  # a new worker numbers its batches from 1
        self._turns = _Turns()
        if self.mode == "process":
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(str(self.policy_path), str(self.state_directory), self._clock),
            )
            await loop.run_in_executor(self._executor, _ping)
        else:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="correlate")
            self._engine = await loop.run_in_executor(
                self._executor,
                lambda: CorrelationEngine.open(
                    self.policy_path, self.state_directory, clock=self._clock
                ),
            )
        self.reader = TicketReader(db_path(self.state_directory))

    async def evaluate(self, batch: Batch, body: bytes | None = None) -> EvaluationResult:
        """Evaluate one batch in the worker (batches are applied one at a time); returns
        once the batch is durable (see the module docstring).  `body`: the batch's JSON
        (`encode_batch(batch)`) when the caller already has it, as the dispatcher does;
        process mode then sends it as it is instead of encoding the batch again."""
        if self._executor is None:
            raise RuntimeError("AsyncCorrelator not started")
        turns = self._turns
        turn = turns.take()
        try:
            if self._engine is not None:
                result = await self._evaluate_in_thread(self._engine, batch, body)
            else:
                result = await self._evaluate_in_process(self._executor, batch, body)
            await turns.wait(turn)  # hand results out in submission order
            return result
        finally:
            turns.finish(turn)

    async def _evaluate_in_thread(
        self, engine: CorrelationEngine, batch: Batch, body: bytes | None
    ) -> EvaluationResult:
        loop = asyncio.get_running_loop()
        async with self._lock:
            pending = await loop.run_in_executor(
                self._executor, lambda: engine.submit(_with_plain_attributes(batch, body)))
        if not pending.done():
            done: asyncio.Future[None] = loop.create_future()

            def wake(_p: Pending[EvaluationResult]) -> None:
                loop.call_soon_threadsafe(_resolve, done)

            pending.add_done_callback(wake)
            await done
        return pending.result()

    async def _evaluate_in_process(self, executor: Executor, batch: Batch,
                                   body: bytes | None) -> EvaluationResult:
        loop = asyncio.get_running_loop()
        if body is None:
            body = encode_batch(batch)
        async with self._lock:
            seq, data, durable = await loop.run_in_executor(executor, _submit_in_worker, body)
            self._durable = max(self._durable, durable)
        while True:  # a later caller's submit may report it durable first
            if self._executor is not executor:  # restarted: its marks count anew
                raise RuntimeError("correlator worker restarted before the batch was durable")
            if self._durable >= seq:
                break
            async with self._lock:
                if self._executor is executor and self._durable < seq:
                    durable = await loop.run_in_executor(executor, _wait_in_worker, seq)
                    self._durable = max(self._durable, durable)
        return _result_decoder.decode(data)

    async def reload(self, policy_path: Path) -> None:
        """Validate `policy_path` and swap it in between batches; raises PolicyError (or
        OSError) with the running policy left in place.  Later restarts use the new path."""
        policy = await asyncio.to_thread(load_policy, policy_path)
        if self._executor is None:
            raise RuntimeError("AsyncCorrelator not started")
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._engine is not None:
                await loop.run_in_executor(self._executor, self._engine.reload, policy)
            else:
                await loop.run_in_executor(self._executor, _reload_in_worker, policy)
            self.policy_path = policy_path

    async def close(self) -> None:
        """Stop the worker (after the batch in progress) and close the store."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._engine is not None:
                await loop.run_in_executor(executor, self._engine.close)
                self._engine = None
            else:
                await loop.run_in_executor(executor, _close_worker)
        await loop.run_in_executor(None, executor.shutdown)
        if self.reader is not None:
            self.reader.close()
            self.reader = None

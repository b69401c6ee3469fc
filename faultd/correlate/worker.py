"""Async wrapper: the engine runs in one dedicated worker, off the receiving loop.

Design (single writer): exactly one engine exists, inside one worker; batches
are sent to it one at a time through `loop.run_in_executor`, so evaluation is
serial and deterministic and the SQLite store has one writer.

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
from faultd.event import Batch, decode_batch, encode_batch

_engine: CorrelationEngine | None = None
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


def _evaluate_in_worker(data: bytes) -> bytes:
    assert _engine is not None, "worker not initialised"
    return _result_encoder.encode(_engine.evaluate(decode_batch(data)))


def _reload_in_worker(policy: Policy) -> None:
    assert _engine is not None, "worker not initialised"
    _engine.reload(policy)


def _ping() -> bool:
    return _engine is not None


def _close_worker() -> None:
    global _engine
    if _engine is not None:
        _engine.close()
        _engine = None


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
        self.reader: TicketReader | None = None

    async def start(self) -> None:
        """Start the worker and load the persisted state."""
        loop = asyncio.get_running_loop()
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

    async def evaluate(self, batch: Batch) -> EvaluationResult:
        """Evaluate one batch in the worker (batches are applied one at a time)."""
        if self._executor is None:
            raise RuntimeError("AsyncCorrelator not started")
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._engine is not None:
                return await loop.run_in_executor(self._executor, self._engine.evaluate, batch)
            data = await loop.run_in_executor(
                self._executor, _evaluate_in_worker, encode_batch(batch)
            )
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

"""Store writes on a dedicated thread, in order, overlapped with evaluation.

The engine decides a batch in memory and hands its rows (immutable tuples and
bytes) to `StoreWriter.submit`; one thread writes them with
`TicketStore.commit_batch`, one transaction per batch, in submission order.
SQLite's C code releases the GIL while it steps and commits, so on a
multi-core host the transaction of batch N runs on another core while the
engine evaluates batch N+1.

Durability is per batch and explicit: `submit` returns a `Commit`, and a batch
may be acknowledged only once its commit is done (`Commit.wait()`,
`add_done_callback`).  Commits finish in submission order, so a finished commit
implies every earlier one is durable too.

A failed commit poisons the writer: every commit queued after it fails with
`StoreFailed` (their state builds on the batch that was not written), and so
does every later `submit`.  The in-memory state that produced them is then ahead
of the disk, so the owner must reopen the engine from the store (the daemon's
correlator sink restarts its worker; batches are retried, idempotent on their
id).  Other jobs (`call`, e.g. retention pruning) run in the same order; their
failure is theirs alone.

The queue is bounded (`depth` jobs waiting): when the disk is slower than
evaluation, `submit` blocks, so memory stays bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from faultd.correlate.store import FaultRow, TicketRow, TicketStore

log = logging.getLogger("faultd.correlate")

T = TypeVar("T")


class StoreFailed(RuntimeError):
    """An earlier commit failed; nothing after it is (or will be) written."""


class Job(Generic[T]):
    """One queued write: done when its thread finished it (`wait` re-raises its error)."""

    __slots__ = ("_callbacks", "_done", "_error", "_fn", "_lock", "_value")

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._value: T | None = None
        self._callbacks: list[Callable[[Job[T]], None]] = []

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> T:
        """Block until written; returns the job's value or raises its error."""
        if not self._done.wait(timeout):
            raise TimeoutError("store write still pending")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def error(self) -> BaseException | None:
        """The failure of a finished job, else None."""
        return self._error

    def add_done_callback(self, fn: Callable[[Job[T]], None]) -> None:
        """Call `fn(job)` once done: right away if it is, else on the writer thread."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def _finish(self, value: T | None, error: BaseException | None) -> None:
        self._value, self._error = value, error
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn(self)
            except Exception:  # a caller's callback must not stop the writer
                log.exception("store write callback failed")


Commit = Job[None]
"""A batch's pending transaction."""


class StoreWriter:
    """The one thread that writes a `TicketStore` (see the module docstring)."""

    def __init__(self, store: TicketStore, *, depth: int = 2) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[Job[object], bool] | None] = queue.Queue(depth)
        self._failed: BaseException | None = None
        self._last: Job[object] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="correlate-writer", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> BaseException | None:
        """The error of the commit that poisoned this writer, if any."""
        return self._failed

    def submit(
        self,
        batch_id: str,
        seen_at: float,
        summary: bytes,
        tickets: Sequence[TicketRow],
        faults: Sequence[FaultRow],
        meta: dict[str, str],
    ) -> Commit:
        """Queue one batch's transaction (blocks while `depth` jobs wait); raises
        `StoreFailed` once an earlier commit failed."""
        store = self.store

        def commit() -> None:
            store.commit_batch(batch_id, seen_at, summary, tickets, faults, meta)

        return self._put(Job(commit), True)

    def call(self, fn: Callable[[TicketStore], T]) -> Job[T]:
        """Run `fn(store)` on the writer thread after everything queued before it."""
        store = self.store
        return self._put(Job(lambda: fn(store)), False)

    def barrier(self) -> Job[object]:
        """A job done once everything submitted so far is written (or failed)."""
        last = self._last
        if last is None:
            done: Job[object] = Job(lambda: None)
            done._finish(None, None)
            return done
        return last

    def flush(self) -> None:
        """Wait until everything submitted so far is written; raises if a commit failed."""
        self.barrier().wait()
        if self._failed is not None:
            raise StoreFailed(f"an earlier commit failed: {self._failed!r}") from self._failed

    def close(self) -> None:
        """Write what is queued, then stop the thread (the store stays open)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _put(self, job: Job[T], is_commit: bool) -> Job[T]:
        if self._closed:
            raise RuntimeError("store writer closed")
        if self._failed is not None:
            raise StoreFailed(f"an earlier commit failed: {self._failed!r}") from self._failed
        self._queue.put((job, is_commit))  # type: ignore[arg-type]
        self._last = job  # type: ignore[assignment]
        return job

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, is_commit = item
            failed = self._failed
            if failed is not None:
                err = StoreFailed(f"an earlier commit failed: {failed!r}")
                err.__cause__ = failed
                job._finish(None, err)
                continue
            try:
                value = job._fn()
            except BaseException as exc:  # handed to whoever waits
                if is_commit:
                    self._failed = exc
                    log.error("correlation store commit failed: %r", exc)
                job._finish(None, exc)
            else:
                job._finish(value, None)


R = TypeVar("R")


class Pending(Generic[R]):
    """A value (a batch's result) to hand out once its store write is durable."""

    __slots__ = ("_job", "value")

    def __init__(self, value: R, job: Job[Any] | None = None) -> None:
        self.value = value
        self._job = job

    def done(self) -> bool:
        return self._job is None or self._job.done()

    def result(self, timeout: float | None = None) -> R:
        """The value, once written; raises the write's error (e.g. `StoreFailed`)."""
        if self._job is not None:
            self._job.wait(timeout)
        return self.value

    def add_done_callback(self, fn: Callable[[Pending[R]], None]) -> None:
        """Call `fn(self)` once written (right away, or on the writer thread)."""
        if self._job is None:
            fn(self)
        else:
            self._job.add_done_callback(lambda _job: fn(self))

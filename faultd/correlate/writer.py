"""Store writes in a dedicated process, in order, overlapped with evaluation.

The engine decides a batch in memory and hands its rows (tuples of scalars and
bytes) to `StoreWriter.submit`; a writer process applies them with
`TicketStore.commit_batch`, one transaction per batch, in submission order, on
its own connection to the same database.  On a multi-core host the
transaction of batch N runs on another core while the engine evaluates batch
N+1.

Why a process, not a thread: the sqlite3 module releases the GIL around every
statement step, so ``executemany`` takes the GIL back once per row; while the
evaluating thread runs Python, each of those takes waits up to the 5 ms switch
interval, and a writer thread fell far behind (measured: 17 s of commit time
for 4 s of commit CPU).  The process has its own GIL.  Rows travel pickled over
a socket pair (about 1 ms per 2,000-event batch); the process reads them on a helper
thread so the sender never waits for a commit in progress.

Durability is per batch and explicit: `submit` returns a `Commit`, and a batch
may be acknowledged only once its commit is done (`Commit.wait()`,
`add_done_callback`).  Commits finish in submission order, so a finished commit
implies every earlier one is durable too.

A failed commit poisons the writer: every commit queued after it fails with
`StoreFailed` (their state builds on the batch that was not written), and so
does every later `submit`; so does the writer process dying.  The in-memory
state that produced them is then ahead of the disk, so the owner must reopen
the engine from the store (the daemon's correlator sink restarts its worker;
batches are retried, idempotent on their id).  Pruning (`prune`) runs in the
same order; its failure is its own.  If the engine's process dies, the writer
process commits what it had received, then exits: those batches were never
acknowledged, and their retries are recognised as duplicates.

At most `depth` writes are in flight: when the disk is slower than evaluation,
`submit` blocks, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

import faultd
from faultd.correlate.policy import Retention
from faultd.correlate.store import Rows, TicketStore

log = logging.getLogger("faultd.correlate")

T = TypeVar("T")


class StoreFailed(RuntimeError):
    """An earlier commit failed; nothing after it is (or will be) written."""


class Job(Generic[T]):
    """One queued write: done when the writer answered it (`wait` re-raises its error)."""

    __slots__ = ("_callbacks", "_done", "_error", "_lock", "_value")

    def __init__(self) -> None:
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
        """Call `fn(job)` once done: right away if it is, else on the acknowledging thread."""
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


def _dumps(obj: object) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an unpicklable error: its text still travels
        assert isinstance(obj, tuple)
        return pickle.dumps((obj[0], RuntimeError(repr(obj[1]))))


def _main() -> None:
    """Entry point of the writer process: ``<fd> <database> <cache_mib> <0|1>``."""
    fd, path, cache_mib, background = sys.argv[1:5]
    _serve(Connection(int(fd)), path, int(cache_mib), background == "1")


def _serve(conn: Connection, path: str, cache_mib: int, background_checkpoints: bool) -> None:
    """The writer process: apply messages in order, reply to each."""
    # the engine's process decides when this one ends (EOF on the socket), even when a
    # signal is sent to the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = TicketStore(
        Path(path),
        cache_mib=cache_mib,
        background_checkpoints=background_checkpoints,
        checkpoint_thread=False,
    )
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def pump() -> None:  # read ahead: the sender never waits for a commit in progress
        while True:
            try:
                inbox.put(conn.recv_bytes())
            except (EOFError, OSError):
                inbox.put(None)
                return

    threading.Thread(target=pump, name="correlate-writer-inbox", daemon=True).start()
    failed: BaseException | None = None
    try:
        while (data := inbox.get()) is not None:
            msg = pickle.loads(data)
            kind = msg[0]
            if kind in ("stop", "cpu"):
                conn.send_bytes(_dumps((True, time.process_time())))
                if kind == "stop":
                    break
                continue
            try:
                if kind == "commit":
                    if failed is not None:
                        raise StoreFailed(f"an earlier commit failed: {failed!r}")
                    store.commit_batch(*msg[1:])
                    value: object = None
                else:
                    value = store.prune(*msg[1:])
                reply: tuple[bool, object] = (True, value)
            except Exception as exc:  # handed to whoever waits for this write
                if kind == "commit" and failed is None:
                    failed = exc
                reply = (False, exc)
            with contextlib.suppress(OSError):  # the engine is gone: write what arrived
                conn.send_bytes(_dumps(reply))
    finally:
        store.close()


class StoreWriter:
    """The process that writes a `TicketStore`'s batches (see the module docstring)."""

    def __init__(self, store: TicketStore, *, depth: int = 2, inline_rows: int = 64) -> None:
        self.store = store
        self.inline_rows = inline_rows  # see submit
        self.child_cpu_seconds = 0.0  # the writer process's CPU time, known after close()
        ours, theirs = socket.socketpair()
        # a fresh interpreter (not fork: the caller may have threads; not multiprocessing:
        # it would re-import the caller's __main__), importing this very faultd
        root = str(Path(faultd.__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.insert(0, {root!r}); "
            "from faultd.correlate.writer import _main; _main()"
        )
        args = [str(theirs.fileno()), str(store.path), str(store.cache_mib)]
        args.append("1" if store.background_checkpoints else "0")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._waiting: deque[tuple[Job[Any], int, bool]] = deque()  # sent, not answered
        self._slots = threading.Semaphore(depth)
        self._send_lock = threading.Lock()
        self._failed: BaseException | None = None
        self._gone: StoreFailed | None = None  # set once the process stopped answering
        self._last: Job[Any] | None = None
        self._closed = False
        self._acks = threading.Thread(target=self._read, name="correlate-writer-acks", daemon=True)
        self._acks.start()

    @property
    def failed(self) -> BaseException | None:
        """The error of the commit that poisoned this writer, if any."""
        return self._failed

    def submit(
        self,
        batch_id: str,
        seen_at: float,
        summary: bytes,
        rows: Rows,
        meta: dict[str, str],
    ) -> Commit:
        """Queue one batch's transaction (`TicketStore.commit_batch`; blocks while `depth`
        writes are in flight); raises `StoreFailed` once an earlier commit failed.

        A batch of at most `inline_rows` rows submitted while nothing is in flight is
        committed right here, on the engine's own connection (in order: the writer
        process is idle): a serial caller with small batches (the critical lane, a
        replay of sparse alarms) pays no round trip."""
        if self._failed is not None:
            raise StoreFailed(f"an earlier commit failed: {self._failed!r}") from self._failed
        if len(rows) <= self.inline_rows:
            job: Commit = Job()
            with self._send_lock:
                if not self._waiting and self._gone is None and self._failed is None:
                    # the writer is idle and the batch small: committing here is cheaper
                    # than the round trip, and there is nothing to overlap it with
                    try:
                        self.store.commit_batch(batch_id, seen_at, summary, rows, meta)
                    except Exception as exc:
                        self._failed = exc
                        log.error("correlation store commit failed: %r", exc)
                        job._finish(None, exc)
                    else:
                        job._finish(None, None)
                    self._last = job
                    return job
        msg = ("commit", batch_id, seen_at, summary, rows, meta)
        return self._send(msg, len(rows), True)

    def prune(self, now: float, retention: Retention) -> Job[tuple[int, int]]:
        """`TicketStore.prune` in the writer, after everything queued before it."""
        return self._send(("prune", now, retention), 0, False)

    def cpu_seconds(self) -> float:
        """CPU time the writer process has used so far (after what is queued)."""
        return float(self._send(("cpu",), 0, False, check=False).wait(60))

    def barrier(self) -> Job[Any]:
        """A job done once everything submitted so far is written (or failed)."""
        last = self._last
        if last is None:
            done: Job[Any] = Job()
            done._finish(None, None)
            return done
        return last

    def flush(self) -> None:
        """Wait until everything submitted so far is written; raises if a commit failed."""
        self.barrier().wait()
        if self._failed is not None:
            raise StoreFailed(f"an earlier commit failed: {self._failed!r}") from self._failed

    def close(self) -> None:
        """Write what is queued, then stop the process (the engine's store stays open)."""
        if self._closed:
            return
        stop: Job[float] | None = None
        with contextlib.suppress(OSError, RuntimeError):  # already gone
            stop = self._send(("stop",), 0, False, check=False)
        self._closed = True
        if stop is not None:
            try:
                self.child_cpu_seconds = stop.wait(60)
            except Exception:
                log.warning("correlation store writer did not stop cleanly", exc_info=True)
        self._conn.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._acks.join(10)

    def _send(
        self, msg: tuple[Any, ...], rows: int, is_commit: bool, *, check: bool = True
    ) -> Job[Any]:
        if self._closed:
            raise RuntimeError("store writer closed")
        if check and self._failed is not None:
            raise StoreFailed(f"an earlier commit failed: {self._failed!r}") from self._failed
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        self._slots.acquire()
        job: Job[Any] = Job()
        with self._send_lock:
            if self._gone is not None:  # nobody will answer
                self._slots.release()
                job._finish(None, self._gone)
                return job
            self._waiting.append((job, rows, is_commit))
            self._last = job
            try:
                self._conn.send_bytes(data)
            except OSError as exc:  # the process died: the reader fails what is waiting
                log.error("correlation store writer is gone: %r", exc)
        return job

    def _read(self) -> None:
        while True:
            try:
                ok, value = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                break
            job, rows, is_commit = self._waiting.popleft()
            if ok:
                if is_commit:
                    self.store.committed(rows)
                job._finish(value, None)
            else:
                if isinstance(value, StoreFailed) and self._failed is not None:
                    value.__cause__ = self._failed
                elif is_commit and self._failed is None:
                    self._failed = value
                    log.error("correlation store commit failed: %r", value)
                job._finish(None, value)
            self._slots.release()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)
        gone = StoreFailed(f"store writer process exited (code {self._proc.returncode})")
        if not self._closed and self._failed is None:
            self._failed = gone
        with self._send_lock:
            self._gone = gone
            waiting = list(self._waiting)
            self._waiting.clear()
        for job, _rows, _is_commit in waiting:
            job._finish(None, gone)
            self._slots.release()


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
        """Call `fn(self)` once written (right away, or on the acknowledging thread)."""
        if self._job is None:
            fn(self)
        else:
            self._job.add_done_callback(lambda _job: fn(self))

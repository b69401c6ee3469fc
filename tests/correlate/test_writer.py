"""The store's writer process (writer.py): a batch is decided before its commit, acknowledged
only once durable, commits in submission order, a failed commit (or a dead writer) poisons
the engine, and a crash with batches in the pipeline keeps batch-id idempotency.  Real
SQLite files; commits are held back with a real write lock from another connection and made
to fail with a real trigger."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from faultd.correlate import AsyncCorrelator, CorrelationEngine, parse_policy
from faultd.correlate.policy import Retention
from faultd.correlate.store import Rows, TicketStore, db_path
from faultd.correlate.writer import StoreFailed, StoreWriter
from faultd.event import Batch, encode_batch

from .conftest import T0, Clock, batch, ev, policy_dict

ROOT = Path(__file__).resolve().parents[2]


def _sql(state: Path, *statements: str) -> None:
    db = sqlite3.connect(db_path(state), isolation_level=None)
    try:
        for stmt in statements:
            db.execute(stmt)
    finally:
        db.close()


@contextmanager
def _write_locked(state: Path) -> Iterator[None]:
    """Hold the database's write lock: the writer's next commit waits (up to its 5 s)."""
    db = sqlite3.connect(db_path(state), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def _committed(state: Path) -> list[str]:
    db = sqlite3.connect(db_path(state))
    try:
        return [r[0] for r in db.execute("SELECT batch_id FROM batches ORDER BY rowid")]
    finally:
        db.close()


def _engine(state: Path, clock: Clock, *, inline: bool = False) -> CorrelationEngine:
    """An engine whose batches all go through the writer process (these tests' batches
    are small: by default an idle writer lets the engine commit them itself)."""
    engine = CorrelationEngine(
        parse_policy(policy_dict()), TicketStore(db_path(state)), clock=clock
    )
    if not inline:
        assert engine._writer is not None
        engine._writer.inline_rows = -1
    return engine


def test_batch_is_decided_before_and_acknowledged_after_its_commit(
    tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "s"
    engine = _engine(state, clock)
    try:
        with _write_locked(state):
            first = engine.submit(batch([ev("acc-001", ts=T0)], "b-1"))
            # decided (the result is there) but not durable: not done, not in the database
            assert first.value.opened == 1
            with pytest.raises(TimeoutError):
                first.result(timeout=0.3)
            assert not first.done()
            # the next batch is evaluated meanwhile, on the state the first one left
            second = engine.submit(batch([ev("acc-001", "BER-HIGH", ts=T0 + 1)], "b-2"))
            assert [c.action for c in second.value.changes] == ["update"]
            # a retry of the pending batch is a duplicate, acknowledged once it is durable
            retry = engine.submit(batch([ev("acc-001", ts=T0)], "b-1"))
            assert retry.value.duplicate and not retry.done()
            assert not second.done() and _committed(state) == []
        assert first.result(timeout=10).opened == 1
        assert retry.result(timeout=10).duplicate
        assert second.result(timeout=10).updated == 1
        assert _committed(state) == ["b-1", "b-2"]  # in submission order
    finally:
        engine.close()


def test_failed_commit_surfaces_and_poisons_the_engine(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "s"
    engine = _engine(state, clock)
    engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
    _sql(
        state,
        "CREATE TRIGGER fail_b2 BEFORE INSERT ON batches WHEN NEW.batch_id = 'b-2'"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    )
    with _write_locked(state):
        bad = engine.submit(batch([ev("acc-002", ts=T0 + 1)], "b-2"))
        after = engine.submit(batch([ev("acc-003", ts=T0 + 2)], "b-3"))  # built on b-2
    with pytest.raises(sqlite3.IntegrityError, match="disk I/O error"):
        bad.result(timeout=10)
    with pytest.raises(StoreFailed) as err:
        after.result(timeout=10)
    assert isinstance(err.value.__cause__, sqlite3.IntegrityError)
    # no further batch, not even a duplicate, is taken by the poisoned engine
    with pytest.raises(StoreFailed):
        engine.submit(batch([ev("acc-004", ts=T0 + 3)], "b-4"))
    with pytest.raises(StoreFailed):
        engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
    engine.close()
    assert _committed(state) == ["b-1"]
    _sql(state, "DROP TRIGGER fail_b2")
    # reopened from the store: b-1 is a duplicate, b-2 and b-3 are applied (the retries)
    again = _engine(state, clock)
    try:
        assert again.evaluate(batch([ev("acc-001", ts=T0)], "b-1")).duplicate
        assert again.evaluate(batch([ev("acc-002", ts=T0 + 1)], "b-2")).opened == 1
        assert again.evaluate(batch([ev("acc-003", ts=T0 + 2)], "b-3")).opened == 1
        roots = {t.root_cause.node for t in again.open_tickets()}
        assert roots == {"acc-001", "acc-002", "acc-003"}
    finally:
        again.close()


def test_a_dead_writer_process_poisons_the_engine(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "s"
    engine = _engine(state, clock)
    try:
        engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
        writer = engine._writer
        assert writer is not None
        writer._proc.kill()
        writer._proc.wait(10)
        with pytest.raises(StoreFailed, match="exited"):
            engine.evaluate(batch([ev("acc-002", ts=T0 + 1)], "b-2"))
        with pytest.raises(StoreFailed):
            engine.submit(batch([ev("acc-003", ts=T0 + 2)], "b-3"))
    finally:
        engine.close()
    assert _committed(state) == ["b-1"]


def test_prune_runs_in_order_and_its_failure_is_its_own(tmp_path: Path) -> None:
    store = TicketStore(db_path(tmp_path))
    writer = StoreWriter(store)
    try:
        writer.submit("b-1", T0, b"{}", Rows(), {})
        assert writer.prune(T0 + 1, Retention(batch_ids_seconds=0.5)).wait(10) == (0, 1)
        assert _committed(tmp_path) == []  # pruned after b-1 was written
        _sql(
            tmp_path,
            "CREATE TRIGGER keep BEFORE DELETE ON batches"
            " BEGIN SELECT RAISE(ABORT, 'prune failed'); END",
        )
        writer.submit("b-2", T0 + 2, b"{}", Rows(), {})
        failing = writer.prune(T0 + 10, Retention(batch_ids_seconds=0.5))
        with pytest.raises(sqlite3.IntegrityError, match="prune failed"):
            failing.wait(10)
        assert writer.failed is None  # not a commit: later writes go on
        writer.submit("b-3", T0 + 3, b"{}", Rows(), {}).wait(10)
        writer.flush()
        assert _committed(tmp_path) == ["b-2", "b-3"]
    finally:
        writer.close()
        store.close()
    assert writer.child_cpu_seconds > 0


def _shape(engine: CorrelationEngine) -> list[tuple[object, ...]]:
    """Open tickets without their ids and times (event ids differ between runs)."""
    return sorted(
        (
            v.root_cause.node,
            v.root_cause.fault_code,
            v.root_cause.occurrences,
            v.state,
            v.severity,
            v.version,
            tuple(s.node for s in v.symptoms),
        )
        for v in engine.open_tickets()
    )


_CRASH = """
import os, signal, sqlite3, sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from faultd.correlate import CorrelationEngine, parse_policy
from faultd.correlate.store import Rows, TicketStore, db_path
from correlate.conftest import T0, Clock, batch, ev, policy_dict

os.setpgrp()  # a group of our own: "group" kills the engine and its writer, not pytest
state = Path({state!r})
engine = CorrelationEngine(parse_policy(policy_dict()), TicketStore(db_path(state)), clock=Clock())
engine._writer.inline_rows = -1
engine.evaluate(batch([ev("agg-1", ts=T0)], "b-1"))
two = engine.submit(batch([ev("acc-001", ts=T0 + 1)], "b-2"))
two.result(timeout=10)
lock = sqlite3.connect(db_path(state), isolation_level=None)
lock.execute("BEGIN IMMEDIATE")  # b-3 is decided and sent, its commit waits for the lock
three = engine.submit(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
print(engine._writer._proc.pid, flush=True)
os.killpg(0, signal.SIGKILL) if {group!r} else os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("group", [True, False], ids=["engine-and-writer", "engine-only"])
def test_crash_with_batches_in_the_pipeline_keeps_idempotency(
    tmp_path: Path, clock: Clock, group: bool
) -> None:
    state = tmp_path / "crash"
    script = _CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"), state=str(state), group=group)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    writer_pid = int(proc.stdout.split()[0])
    for _ in range(1000):  # the writer ends once it has written what it received
        try:
            os.kill(writer_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the writer process outlived its engine")
    # killed together, b-3 (decided, never acknowledged) was not written; an orphaned
    # writer commits it once the lock is gone.  Either way the senders retry b-2 and b-3:
    # b-2 is a duplicate, b-3 is applied or a duplicate, and the state is as without crash
    assert _committed(state) == (["b-1", "b-2"] if group else ["b-1", "b-2", "b-3"])
    again = _engine(state, clock)
    try:
        assert again.evaluate(batch([ev("acc-001", ts=T0 + 1)], "b-2")).duplicate
        res = again.evaluate(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
        assert res.duplicate is not group and res.opened == 1
        tickets = _shape(again)
    finally:
        again.close()
    ref = _engine(tmp_path / "ref", clock)
    try:
        ref.evaluate(batch([ev("agg-1", ts=T0)], "b-1"))
        ref.evaluate(batch([ev("acc-001", ts=T0 + 1)], "b-2"))
        ref.evaluate(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
        assert _shape(ref) == tickets
    finally:
        ref.close()


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_concurrent_callers_are_pipelined_and_answered_in_order(
    tmp_path: Path, mode: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_dict()))
    batches = [batch([ev(f"lyo-{i:03d}", ts=T0 + i)], f"b-{i}") for i in range(1, 13)]
    correlator = AsyncCorrelator(policy, tmp_path / "state", mode=mode)  # type: ignore[arg-type]
    await correlator.start()
    answered: list[str] = []
    durable_when_answered: list[bool] = []

    async def send(b: Batch) -> None:
        # half the callers hand over the JSON they already have, as the dispatcher does
        res = await correlator.evaluate(b, encode_batch(b) if int(b.batch_id[2:]) % 2 else None)
        answered.append(res.batch_id)
        durable_when_answered.append(res.batch_id in _committed(tmp_path / "state"))

    try:
        await asyncio.gather(*(send(b) for b in batches))
        assert answered == [b.batch_id for b in batches]
        assert all(durable_when_answered)
        assert (await correlator.evaluate(batches[3])).duplicate  # a retry
    finally:
        await correlator.close()


def test_updates_of_rows_not_in_the_store_fail_the_commit(tmp_path: Path, clock: Clock) -> None:
    """Repeats update only a stored row's changing columns (not its indexed ones); a row
    missing underneath fails the commit instead of being silently skipped."""
    state = tmp_path / "s"
    engine = _engine(state, clock)
    try:
        engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
        engine.evaluate(batch([ev("acc-001", ts=T0 + 1)], "b-2"))  # a repeat: an update
        db = sqlite3.connect(db_path(state))
        try:
            assert db.execute("SELECT occurrences FROM faults").fetchall() == [(2,)]
            assert db.execute("SELECT state, count(*) FROM tickets").fetchall() == [("open", 1)]
        finally:
            db.close()
        _sql(state, "DELETE FROM faults")
        with pytest.raises(sqlite3.IntegrityError, match="rows missing"):
            engine.evaluate(batch([ev("acc-001", ts=T0 + 2)], "b-3"))
        with pytest.raises(StoreFailed):
            engine.evaluate(batch([ev("acc-002", ts=T0 + 3)], "b-4"))
    finally:
        engine.close()
    assert _committed(state) == ["b-1", "b-2"]


def test_small_batches_of_a_serial_caller_are_committed_without_the_round_trip(
    tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "s"
    engine = _engine(state, clock, inline=True)
    writer = engine._writer
    assert writer is not None
    try:
        before = writer.cpu_seconds()
        assert engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1")).opened == 1
        assert _committed(state) == ["b-1"]  # durable on return
        # a big batch goes to the writer process; a small one submitted while it is in
        # flight queues behind it (in order), not past it
        big = [ev(f"lyo-{i:03d}", ts=T0 + 1) for i in range(1, 80)]
        with _write_locked(state):
            first = engine.submit(batch(big, "b-2"))
            second = engine.submit(batch([ev("acc-001", ts=T0 + 2)], "b-3"))
            assert not first.done() and not second.done()
        first.result(timeout=10)
        second.result(timeout=10)
        assert _committed(state) == ["b-1", "b-2", "b-3"]
        assert writer.cpu_seconds() > before
        # a failed commit here poisons the engine like one in the writer process
        _sql(
            state,
            "CREATE TRIGGER fail_b4 BEFORE INSERT ON batches WHEN NEW.batch_id = 'b-4'"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
        )
        with pytest.raises(sqlite3.IntegrityError, match="disk I/O error"):
            engine.evaluate(batch([ev("acc-002", ts=T0 + 3)], "b-4"))
        with pytest.raises(StoreFailed):
            engine.evaluate(batch([ev("acc-003", ts=T0 + 4)], "b-5"))
    finally:
        engine.close()
    assert _committed(state) == ["b-1", "b-2", "b-3"]

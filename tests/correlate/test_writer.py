"""The store's writer thread (writer.py): a batch is decided before its commit, acknowledged
only once durable, commits in submission order, a failed commit poisons the engine, and a
crash with batches in the pipeline keeps batch-id idempotency.  Real SQLite files."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from faultd.correlate import AsyncCorrelator, CorrelationEngine, parse_policy
from faultd.correlate.store import FaultRow, TicketRow, TicketStore, db_path
from faultd.correlate.writer import StoreFailed, StoreWriter
from faultd.event import Batch

from .conftest import T0, Clock, batch, ev, policy_dict

ROOT = Path(__file__).resolve().parents[2]


class GatedStore(TicketStore):
    """A store whose commits wait for a gate (one per batch id) and may be made to fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gates: dict[str, threading.Event] = {}
        self.fail: set[str] = set()
        self.order: list[str] = []

    def commit_batch(
        self,
        batch_id: str,
        seen_at: float,
        summary: bytes,
        tickets: Sequence[TicketRow],
        faults: Sequence[FaultRow],
        meta: dict[str, str],
    ) -> None:
        gate = self.gates.get(batch_id)
        if gate is not None:
            assert gate.wait(30), "gate never opened"
        if batch_id in self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        super().commit_batch(batch_id, seen_at, summary, tickets, faults, meta)
        self.order.append(batch_id)


def _committed_batches(state: Path) -> set[str]:
    db = sqlite3.connect(db_path(state))
    try:
        return {r[0] for r in db.execute("SELECT batch_id FROM batches")}
    finally:
        db.close()


def _engine(state: Path, clock: Clock, store: TicketStore | None = None) -> CorrelationEngine:
    return CorrelationEngine(
        parse_policy(policy_dict()), store or TicketStore(db_path(state)), clock=clock
    )


def test_batch_is_decided_before_and_acknowledged_after_its_commit(
    tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "s"
    store = GatedStore(db_path(state))
    engine = _engine(state, clock, store)
    try:
        store.gates["b-1"] = gate = threading.Event()
        first = engine.submit(batch([ev("acc-001", ts=T0)], "b-1"))
        # decided (the result is there) but not durable: not done, not in the database
        assert first.value.opened == 1 and not first.done()
        with pytest.raises(TimeoutError):
            first.result(timeout=0.05)
        # the next batch is evaluated meanwhile, on the state the first one left
        second = engine.submit(batch([ev("acc-001", "BER-HIGH", ts=T0 + 1)], "b-2"))
        assert [c.action for c in second.value.changes] == ["update"]
        assert not second.done() and _committed_batches(state) == set()
        # a retry of the pending batch is a duplicate, acknowledged only once it is durable
        retry = engine.submit(batch([ev("acc-001", ts=T0)], "b-1"))
        assert retry.value.duplicate and not retry.done()
        gate.set()
        assert first.result(timeout=10).opened == 1
        assert second.result(timeout=10).updated == 1
        assert retry.result(timeout=10).duplicate
        assert store.order == ["b-1", "b-2"]  # in submission order
        assert _committed_batches(state) == {"b-1", "b-2"}
    finally:
        engine.close()


def test_failed_commit_surfaces_and_poisons_the_engine(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "s"
    store = GatedStore(db_path(state))
    engine = _engine(state, clock, store)
    engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
    store.fail.add("b-2")
    store.gates["b-2"] = gate = threading.Event()
    bad = engine.submit(batch([ev("acc-002", ts=T0 + 1)], "b-2"))
    after = engine.submit(batch([ev("acc-003", ts=T0 + 2)], "b-3"))  # built on b-2's state
    gate.set()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        bad.result(timeout=10)
    with pytest.raises(StoreFailed) as err:
        after.result(timeout=10)
    assert isinstance(err.value.__cause__, sqlite3.OperationalError)
    # no further batch, not even a duplicate, is taken by the poisoned engine
    with pytest.raises(StoreFailed):
        engine.submit(batch([ev("acc-004", ts=T0 + 3)], "b-4"))
    with pytest.raises(StoreFailed):
        engine.evaluate(batch([ev("acc-001", ts=T0)], "b-1"))
    engine.close()
    assert _committed_batches(state) == {"b-1"}
    # reopened from the store: b-1 is a duplicate, b-2 and b-3 are applied (the retries)
    again = _engine(state, clock)
    try:
        assert again.evaluate(batch([ev("acc-001", ts=T0)], "b-1")).duplicate
        assert again.evaluate(batch([ev("acc-002", ts=T0 + 1)], "b-2")).opened == 1
        assert again.evaluate(batch([ev("acc-003", ts=T0 + 2)], "b-3")).opened == 1
        assert {t.root_cause.node for t in again.open_tickets()} == {
            "acc-001",
            "acc-002",
            "acc-003",
        }
    finally:
        again.close()


def test_writer_call_runs_in_order_and_its_failure_is_its_own(tmp_path: Path) -> None:
    store = TicketStore(db_path(tmp_path))
    writer = StoreWriter(store)
    try:
        seen: list[int] = []
        jobs = [writer.call(lambda _s, i=i: seen.append(i)) for i in range(20)]
        writer.flush()
        assert all(j.done() for j in jobs) and seen == list(range(20))

        def boom(_s: TicketStore) -> None:
            raise ValueError("prune failed")

        failing = writer.call(boom)
        with pytest.raises(ValueError, match="prune failed"):
            failing.wait(10)
        assert writer.failed is None  # not a commit: later writes go on
        writer.submit("b-1", T0, b"{}", [], [], {}).wait(10)
        assert _committed_batches(tmp_path) == {"b-1"}
    finally:
        writer.close()
        store.close()


_CRASH = """
import os, signal, sys, threading
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from faultd.correlate import CorrelationEngine, parse_policy
from faultd.correlate.store import TicketStore, db_path
from correlate.conftest import T0, Clock, batch, ev, policy_dict

class Stuck(TicketStore):
    def commit_batch(self, batch_id, *rest):
        if batch_id == "b-3":
            threading.Event().wait()  # the process dies with this commit pending
        super().commit_batch(batch_id, *rest)

state = Path({state!r})
engine = CorrelationEngine(parse_policy(policy_dict()), Stuck(db_path(state)), clock=Clock())
engine.evaluate(batch([ev("agg-1", ts=T0)], "b-1"))
two = engine.submit(batch([ev("acc-001", ts=T0 + 1)], "b-2"))
three = engine.submit(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
two.result(timeout=10)
print("b-2 durable", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_crash_with_batches_in_the_pipeline_keeps_idempotency(
    tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "crash"
    script = _CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"), state=str(state))
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "b-2 durable" in proc.stdout
    assert _committed_batches(state) == {"b-1", "b-2"}
    # the senders retry what was not acknowledged: b-2 (acknowledged) is a duplicate,
    # b-3 (decided, never durable) is applied; the result is as if nothing had crashed
    again = _engine(state, clock)
    try:
        assert again.evaluate(batch([ev("acc-001", ts=T0 + 1)], "b-2")).duplicate
        res = again.evaluate(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
        assert not res.duplicate and res.opened == 1
        roots = sorted(t.root_cause.node for t in again.open_tickets())
    finally:
        again.close()
    ref = _engine(tmp_path / "ref", clock)
    try:
        ref.evaluate(batch([ev("agg-1", ts=T0)], "b-1"))
        ref.evaluate(batch([ev("acc-001", ts=T0 + 1)], "b-2"))
        ref.evaluate(batch([ev("lyo-001", ts=T0 + 2)], "b-3"))
        assert sorted(t.root_cause.node for t in ref.open_tickets()) == roots
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
        res = await correlator.evaluate(b)
        answered.append(res.batch_id)
        durable_when_answered.append(res.batch_id in _committed_batches(tmp_path / "state"))

    try:
        await asyncio.gather(*(send(b) for b in batches))
        assert answered == [b.batch_id for b in batches]
        assert all(durable_when_answered)
        # a retry of any of them is a duplicate
        again = await correlator.evaluate(batches[3])
        assert again.duplicate
    finally:
        await correlator.close()
    assert os.path.exists(db_path(tmp_path / "state"))

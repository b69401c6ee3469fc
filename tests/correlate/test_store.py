"""Store and batch lifecycle: v1 migration, pruning, incremental payloads, GC pause, routing memo.

Real SQLite files under tmp_path; time only moves through the injected clock.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from faultd.correlate import CorrelationEngine
from faultd.correlate.store import TicketStore, db_path, decode_stored, view_of
from faultd.correlate.tickets import FaultView, encode

from .conftest import T0, Clock, batch, ev

Make = Callable[..., CorrelationEngine]

V1_SCHEMA = """
CREATE TABLE tickets(ticket_id TEXT PRIMARY KEY, state TEXT NOT NULL, suppressed INTEGER NOT NULL,
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, view BLOB NOT NULL, internal BLOB NOT NULL,
    root_fid INTEGER NOT NULL);
CREATE INDEX tickets_state ON tickets(state, opened_at);
CREATE TABLE faults(fid INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL, node TEXT NOT NULL,
    fault_code TEXT NOT NULL, key TEXT NOT NULL, severity INTEGER NOT NULL, first_seen REAL NOT NULL,
    last_seen REAL NOT NULL, occurrences INTEGER NOT NULL, cleared INTEGER NOT NULL,
    message TEXT NOT NULL, event_id TEXT NOT NULL);
CREATE INDEX faults_ticket ON faults(ticket_id);
CREATE TABLE batches(batch_id TEXT PRIMARY KEY, seen_at REAL NOT NULL, summary BLOB NOT NULL);
CREATE INDEX batches_seen ON batches(seen_at);
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def _fibre_cut(ts: float = T0) -> list:
    return [ev("agg-1", ts=ts + 5)] + [ev(f"acc-{i:03d}", ts=ts + 1 + i) for i in range(1, 21)]


def _rows(state: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(db_path(state))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_v1_database_is_migrated(make_engine: Make, tmp_path: Path) -> None:
    """A database written by the first store layout (text ticket keys) opens and continues."""
    engine = make_engine(tmp_path / "v2")
    b = batch(_fibre_cut())
    engine.evaluate(b)
    engine.evaluate(batch([ev("lyo-001", ts=T0)]))
    before = engine.open_tickets()
    engine.close()
    # rewrite the same state in the version-1 layout
    src = sqlite3.connect(db_path(tmp_path / "v2"))
    (tmp_path / "v1" / "correlate").mkdir(parents=True)
    old = sqlite3.connect(db_path(tmp_path / "v1"))
    old.executescript(V1_SCHEMA)
    ids = dict(src.execute("SELECT tno, ticket_id FROM tickets"))
    for r in src.execute("SELECT * FROM tickets"):
        st = decode_stored(r[6])  # v1 kept the payload as JSON (root included) + internal JSON
        root = src.execute("SELECT * FROM faults WHERE fid = ?", (r[0],)).fetchone()
        root_view = FaultView(
            node=root[2], fault_code=root[3], key=root[4], severity=root[5],
            first_seen=root[6], last_seen=root[7], occurrences=root[8], cleared=bool(root[9]),
            message=root[10], event_id=root[11],
        )  # fmt: skip
        internal = {
            "root_fid": r[0],
            "emitted": st.emitted,
            "downgrade_by": st.downgrade_by,
            "last_activity": st.last_activity,
            "attributes": st.attributes,
            "source": st.source,
            "role": st.role,
        }
        old.execute(
            "INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?)",
            (*r[1:6], encode(view_of(st, root_view, [])), msgspec.json.encode(internal), r[0]),
        )
    for r in src.execute("SELECT * FROM faults"):
        old.execute(
            "INSERT INTO faults VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (r[0], ids[r[1]], *r[2:])
        )
    for table in ("batches", "meta"):
        for r in src.execute(f"SELECT * FROM {table}"):
            old.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(r))})", r)
    old.commit()
    old.close()
    src.close()

    migrated = make_engine(tmp_path / "v1")
    assert migrated.open_tickets() == before
    assert _rows(tmp_path / "v1", "PRAGMA user_version") == [(2,)]
    assert migrated.evaluate(b).duplicate  # batch ids survived
    agg = next(t for t in before if t.root_cause.node == "agg-1")
    res = migrated.evaluate(batch([ev("agg-1", "IF-MIB::linkUp", T0 + 30)]))
    assert [(c.action, c.ticket_id) for c in res.changes] == [("resolve", agg.ticket_id)]
    assert res.changes[0].ticket.symptom_count == 20


def test_pruning_every_n_batches(make_engine: Make, tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "prune"
    retention = {
        "resolved_tickets_seconds": 3600,
        "batch_ids_seconds": 600,
        "prune_every_batches": 3,
    }
    engine = make_engine(state, retention=retention)
    engine.evaluate(batch(_fibre_cut(), "b-1"))
    engine.evaluate(batch([ev("agg-1", "IF-MIB::linkUp", T0 + 30)], "b-2"))  # resolves it
    engine.evaluate(batch([ev("lyo-001", ts=T0 + 40)], "b-3"))  # stays open; prune runs: none due
    # the children opened before agg-1 were adopted within the batch: never stored
    assert _rows(state, "SELECT state, count(*) FROM tickets GROUP BY state ORDER BY 1") == [
        ("open", 1),
        ("resolved", 1),
    ]
    assert _rows(state, "SELECT count(*) FROM faults") == [(22,)]
    clock.advance(900)  # batch ids b-1..b-3 are now past their 600 s retention
    engine.evaluate(batch([ev("lyo-002", ts=T0 + 50)], "b-4"))
    engine.evaluate(batch([ev("lyo-003", ts=T0 + 60)], "b-5"))
    assert len(_rows(state, "SELECT * FROM batches")) == 5  # not yet: every 3rd batch
    engine.evaluate(batch([ev("lyo-004", ts=T0 + 70)], "b-6"))
    assert sorted(r[0] for r in _rows(state, "SELECT batch_id FROM batches")) == [
        "b-4",
        "b-5",
        "b-6",
    ]
    assert _rows(state, "SELECT count(*) FROM tickets WHERE state = 'resolved'") == [(1,)]
    clock.advance(3600)  # the resolved ticket is past its retention; open ones stay
    for i in range(3):
        engine.evaluate(batch([ev(f"lyo-01{i}", ts=T0 + 100 + i)]))
    assert _rows(state, "SELECT count(*) FROM tickets WHERE state != 'open'") == [(0,)]
    open_ids = {t.ticket_id for t in engine.open_tickets()}
    assert {r[0] for r in _rows(state, "SELECT ticket_id FROM tickets")} == open_ids
    assert _rows(state, "SELECT count(*) FROM faults") == [(len(open_ids),)]
    # the in-memory duplicate check still knows recent batches; a restart prunes on open
    engine.close()
    clock.advance(10 * 86400)
    restarted = make_engine(state, retention=retention)
    assert _rows(state, "SELECT count(*) FROM batches") == [(0,)]
    assert len(restarted.open_tickets()) == len(open_ids)


def test_payloads_follow_changes_and_stay_immutable(make_engine: Make) -> None:
    """Views are cached per fault and rebuilt when the fault changes; emitted ones never change."""
    engine = make_engine()
    first = engine.evaluate(batch(_fibre_cut()))
    (opened,) = [c for c in first.changes if c.action == "open"]
    sym = next(s for s in opened.ticket.symptoms if s.node == "acc-003")
    assert sym.occurrences == 1 and not sym.cleared
    second = engine.evaluate(batch([ev("acc-003", ts=T0 + 10), ev("acc-003", ts=T0 + 11)]))
    (update,) = second.changes
    again = next(s for s in update.ticket.symptoms if s.node == "acc-003")
    assert again.occurrences == 3 and again.last_seen == T0 + 11
    assert sym.occurrences == 1  # the earlier payload is unchanged
    untouched = next(s for s in update.ticket.symptoms if s.node == "acc-004")
    assert untouched is next(s for s in opened.ticket.symptoms if s.node == "acc-004")
    third = engine.evaluate(batch([ev("acc-003", "IF-MIB::linkUp", T0 + 12)]))
    cleared = next(s for s in third.changes[0].ticket.symptoms if s.node == "acc-003")
    assert cleared.cleared and not again.cleared
    # a new symptom extends the (cached) symptom and service lists
    fourth = engine.evaluate(batch([ev("acc-150", ts=T0 + 13)]))
    view = fourth.changes[0].ticket
    assert view.symptom_count == 21 and view.symptoms[-1].node == "acc-150"
    assert "cust-150" in view.impacted_services
    assert view.impacted_services == sorted(view.impacted_services)


def test_gc_state_is_restored(make_engine: Make) -> None:
    engine = make_engine()
    assert gc.isenabled()
    engine.evaluate(batch([ev("acc-001", ts=T0)]))
    assert gc.isenabled()
    gc.disable()
    try:
        engine.evaluate(batch([ev("acc-002", ts=T0 + 100)]))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_routing_follows_severity_and_message(make_engine: Make) -> None:
    """Memoised routing still distinguishes what routes look at."""
    routes = [
        {"match": {"severity": 1}, "queue": "transport"},
        {"match": {"role": "access"}, "queue": "access"},
    ]
    engine = make_engine(routing={"queue": "noc", "routes": routes})
    res = engine.evaluate(batch([ev("acc-001", ts=T0, severity=3)]))
    assert [r.queue for r in res.changes[0].routing] == ["access"]
    # the same fault on the same kind of node, escalated: routed again, differently
    res = engine.evaluate(batch([ev("acc-001", ts=T0 + 1, severity=1)]))
    assert res.changes[0].reasons == ["severity_escalation"]
    assert [r.queue for r in res.changes[0].routing] == ["transport"]
    res = engine.evaluate(batch([ev("acc-002", ts=T0 + 500, severity=3)]))
    assert [r.queue for r in res.changes[0].routing] == ["access"]
    # a route on the message text is evaluated per ticket, not memoised on fields
    by_text = [{"match": {"message": "re:fibre"}, "queue": "transport"}]
    engine = make_engine(routing={"queue": "noc", "routes": by_text})
    a = engine.evaluate(batch([ev("lyo-001", ts=T0, message="fibre cut")]))
    b = engine.evaluate(batch([ev("lyo-002", ts=T0 + 500, message="power")]))
    assert [r.queue for r in a.changes[0].routing] == ["transport"]
    assert [r.queue for r in b.changes[0].routing] == ["noc"]


def test_store_opens_with_cache_and_wal(tmp_path: Path) -> None:
    store = TicketStore(db_path(tmp_path))
    try:
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        store.close()


def test_background_checkpoint_moves_commits_into_the_database(
    make_engine: Make, tmp_path: Path
) -> None:
    state = tmp_path / "ckpt"
    engine = make_engine(state)
    engine.evaluate(batch(_fibre_cut()))
    store = engine._store
    assert store is not None and store._ckpt is not None
    # nothing checkpointed yet: the main file alone (WAL ignored) has no tickets
    immutable = f"file:{db_path(state)}?mode=ro&immutable=1"

    def main_file_tickets() -> int:
        db = sqlite3.connect(immutable, uri=True)
        try:
            return int(db.execute("SELECT count(*) FROM tickets").fetchone()[0])
        except sqlite3.OperationalError:  # not even the schema is in the main file yet
            return 0
        finally:
            db.close()

    assert main_file_tickets() == 0
    store._ckpt.committed(10_000)  # as if ~40 MiB of WAL had been written
    for _ in range(1000):  # wait for the thread (bounded), never asserting how long it took
        if store._ckpt.checkpoints:
            break
        threading.Event().wait(0.01)
    assert store._ckpt.checkpoints >= 1
    assert main_file_tickets() == 1
    engine.close()

"""SQLite persistence of correlation state under the state directory.

One writer (`TicketStore`, owned by the engine; its batches are committed by
the writer process, `writer.py`) and any number of readers
(`reader.TicketReader`, used by the NOC view, possibly in another process).  WAL mode
lets readers see the last committed batch while the writer works.  Everything a
batch changed is written in one transaction together with the batch id, so a
crash either keeps the whole batch (and its id: a retry is acknowledged
without re-applying) or none of it.

Layout (``PRAGMA user_version`` 2): a ticket row is keyed by its number ``tno``
(the fid of its root fault: unique, and increasing in opening order), so fault
rows point at it with an integer and the faults index grows at its end.  The
ticket itself is one compact msgpack array (`StoredTicket`: the payload's fields
without its faults, which are fault rows, plus the engine's internal fields).
A batch's `Rows` are upserted, except rows already stored whose indexed
columns (a ticket's state, a fault's ticket) did not change: those are updated
without them, since setting an indexed column rewrites its index entry even
when the value is the same.
Version 1 databases (text ticket keys, JSON views) are migrated in place on open.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from faultd.correlate.checkpoint import Checkpointer
from faultd.correlate.policy import Retention
from faultd.correlate.tickets import (
    FaultView,
    MaintenanceState,
    RouteTarget,
    TicketState,
    TicketView,
    decode_view,
)

VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets(
    tno INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
    suppressed INTEGER NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_state ON tickets(state, opened_at);
CREATE TABLE IF NOT EXISTS faults(
    fid INTEGER PRIMARY KEY, tno INTEGER NOT NULL, node TEXT NOT NULL, fault_code TEXT NOT NULL,
    key TEXT NOT NULL, severity INTEGER NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    occurrences INTEGER NOT NULL, cleared INTEGER NOT NULL, message TEXT NOT NULL,
    event_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS faults_tno ON faults(tno);
CREATE TABLE IF NOT EXISTS batches(batch_id TEXT PRIMARY KEY, seen_at REAL NOT NULL,
    summary BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS batches_seen ON batches(seen_at);
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""

_MIGRATE_V1 = """
DROP INDEX IF EXISTS tickets_state;
DROP INDEX IF EXISTS faults_ticket;
ALTER TABLE tickets RENAME TO tickets_v1;
ALTER TABLE faults RENAME TO faults_v1;
"""
_COPY_V1 = """
INSERT INTO faults SELECT f.fid, t.root_fid, f.node, f.fault_code, f.key, f.severity,
    f.first_seen, f.last_seen, f.occurrences, f.cleared, f.message, f.event_id
    FROM faults_v1 f JOIN tickets_v1 t ON t.ticket_id = f.ticket_id;
DROP TABLE tickets_v1;
DROP TABLE faults_v1;
"""

_UPSERT_TICKET = (
    "INSERT INTO tickets VALUES (?,?,?,?,?,?,?) ON CONFLICT(tno) DO UPDATE SET"
    " state=excluded.state, suppressed=excluded.suppressed, updated_at=excluded.updated_at,"
    " data=excluded.data"
)
_UPSERT_FAULT = (
    "INSERT INTO faults VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(fid) DO UPDATE SET"
    " tno=excluded.tno, severity=excluded.severity, last_seen=excluded.last_seen,"
    " occurrences=excluded.occurrences, cleared=excluded.cleared"
)

TicketRow = tuple[int, str, str, int, float, float, bytes]
"""tno (root fault id), ticket_id, state, suppressed, opened_at, updated_at, StoredTicket"""
FaultRow = tuple[int, int, str, str, str, int, float, float, int, int, str, str]
"""fid, tno, node, fault_code, key, severity, first_seen, last_seen, occurrences,
cleared, message, event_id"""
TicketUpdate = tuple[int, float, bytes, int]
"""suppressed, updated_at, StoredTicket, tno: a stored ticket whose state is unchanged"""
FaultUpdate = tuple[int, float, int, int, int]
"""severity, last_seen, occurrences, cleared, fid: a stored fault of an unchanged ticket"""

# An UPDATE that sets an indexed column rewrites its index entry even when the value is
# the same: rows whose state (tickets) or ticket (faults) did not change are updated
# without those columns, which halves the pages a batch of repeats writes.
_UPDATE_TICKET = "UPDATE tickets SET suppressed=?, updated_at=?, data=? WHERE tno=?"
_UPDATE_FAULT = "UPDATE faults SET severity=?, last_seen=?, occurrences=?, cleared=? WHERE fid=?"


class Rows:
    """A batch's store rows: upserts, and updates of rows whose indexed columns (a
    ticket's state, a fault's ticket) did not change."""

    __slots__ = ("fault_updates", "faults", "ticket_updates", "tickets")

    def __init__(self) -> None:
        self.tickets: list[TicketRow] = []
        self.faults: list[FaultRow] = []
        self.ticket_updates: list[TicketUpdate] = []
        self.fault_updates: list[FaultUpdate] = []

    def __len__(self) -> int:
        return (
            len(self.tickets)
            + len(self.faults)
            + len(self.ticket_updates)
            + len(self.fault_updates)
        )


class StoredTicket(msgspec.Struct, array_like=True, gc=False):
    """A ticket row's data: the payload without its faults, plus what the engine needs
    back after a restart.  Encoded as a msgpack array (no field names)."""

    ticket_id: str
    state: TicketState
    version: int
    severity: int
    category: str
    title: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    root_site: str
    symptom_count: int
    impacted_services: list[str]
    routing: list[RouteTarget]
    maintenance: MaintenanceState
    merged_into: str | None
    tier: str
    emitted: bool
    downgrade_by: int
    last_activity: float
    attributes: dict[str, Any]
    source: str
    role: str


encode_stored = msgspec.msgpack.Encoder().encode
decode_stored = msgspec.msgpack.Decoder(StoredTicket).decode

_NO_ROOT = FaultView(
    node="",
    fault_code="",
    key="",
    severity=4,
    first_seen=0,
    last_seen=0,
    occurrences=0,
    cleared=True,
)


def view_of(st: StoredTicket, root: FaultView | None, symptoms: list[FaultView]) -> TicketView:
    """The payload of a stored ticket, given its root fault and listed symptoms."""
    return TicketView(
        ticket_id=st.ticket_id,
        state=st.state,
        version=st.version,
        severity=st.severity,
        category=st.category,
        title=st.title,
        opened_at=st.opened_at,
        updated_at=st.updated_at,
        resolved_at=st.resolved_at,
        root_cause=root or _NO_ROOT,
        root_site=st.root_site,
        symptom_count=st.symptom_count,
        symptoms=symptoms,
        impacted_services=st.impacted_services,
        routing=st.routing,
        maintenance=st.maintenance,
        merged_into=st.merged_into,
        tier=st.tier,
    )


def _from_v1(view_json: bytes, internal_json: bytes) -> StoredTicket:
    view = decode_view(view_json)
    internal = msgspec.json.decode(internal_json)
    return StoredTicket(
        ticket_id=view.ticket_id,
        state=view.state,
        version=view.version,
        severity=view.severity,
        category=view.category,
        title=view.title,
        opened_at=view.opened_at,
        updated_at=view.updated_at,
        resolved_at=view.resolved_at,
        root_site=view.root_site,
        symptom_count=view.symptom_count,
        impacted_services=view.impacted_services,
        routing=view.routing,
        maintenance=view.maintenance,
        merged_into=view.merged_into,
        tier=view.tier,
        emitted=internal["emitted"],
        downgrade_by=internal["downgrade_by"],
        last_activity=internal["last_activity"],
        attributes=internal["attributes"],
        source=internal["source"],
        role=internal["role"],
    )


def db_path(state_directory: Path) -> Path:
    """Where the correlation database lives under a state directory."""
    return state_directory / "correlate" / "state.sqlite3"


class TicketStore:
    """The single writer."""

    def __init__(
        self,
        path: Path,
        *,
        cache_mib: int = 32,
        background_checkpoints: bool = True,
        checkpoint_thread: bool = True,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.cache_mib = cache_mib
        self.background_checkpoints = background_checkpoints
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # durable at each checkpoint, atomic per batch: a power cut may lose the last
        # batches (their senders retry them), never half of one
        self._db.execute("PRAGMA synchronous=NORMAL")
        # checkpoints (and their fsync) run in a background thread every ~16 MiB of WAL
        # (checkpoint.py); the writer itself only checkpoints past ~128 MiB, as a backstop
        self._db.execute(
            "PRAGMA wal_autocheckpoint=32768"
            if background_checkpoints
            else "PRAGMA wal_autocheckpoint=16384"
        )
        self._db.execute("PRAGMA journal_size_limit=67108864")
        # the hot part of the ticket/fault trees stays in memory between batches
        self._db.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        self._migrate()
        # the writer process (writer.py) commits without a checkpoint thread of its own: the
        # engine's store runs it and is told about each commit (`committed`)
        self._ckpt = Checkpointer(path) if background_checkpoints and checkpoint_thread else None

    def _migrate(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == VERSION:
            db.executescript(SCHEMA)
            return
        old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tickets'").fetchone()
        db.execute("BEGIN IMMEDIATE")
        try:
            if old and version < VERSION:
                for stmt in _MIGRATE_V1.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            if old and version < VERSION:
                v1 = db.execute(
                    "SELECT root_fid, ticket_id, state, suppressed, opened_at, updated_at, view,"
                    " internal FROM tickets_v1"
                ).fetchall()
                db.executemany(
                    "INSERT INTO tickets VALUES (?,?,?,?,?,?,?)",
                    [(*r[:6], encode_stored(_from_v1(r[6], r[7]))) for r in v1],
                )
                for stmt in _COPY_V1.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            db.execute(f"PRAGMA user_version={VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def batch_summary(self, batch_id: str) -> bytes | None:
        """The stored summary of a batch seen before, else None."""
        # the last committed state: a batch still on its way to disk (writer.py) is
        # found in memory (emit.SeenBatches)
        row = self._db.execute(
            "SELECT summary FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def commit_batch(
        self,
        batch_id: str,
        seen_at: float,
        summary: bytes,
        rows: Rows,
        meta: dict[str, str],
    ) -> None:
        """Write one batch's changes and its id in one transaction.  Tickets and faults are
        upserted; the updates name rows that must exist (else nothing is written)."""
        db = self._db
        db.execute("BEGIN")
        try:
            if rows.tickets:
                db.executemany(_UPSERT_TICKET, rows.tickets)
            if rows.faults:
                db.executemany(_UPSERT_FAULT, rows.faults)
            for sql, updates in (
                (_UPDATE_TICKET, rows.ticket_updates),
                (_UPDATE_FAULT, rows.fault_updates),
            ):
                if updates and db.executemany(sql, updates).rowcount != len(updates):
                    raise sqlite3.IntegrityError(f"rows missing for {sql.split()[1]} updates")
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
            db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?,?,?)", (batch_id, seen_at, summary)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.committed(len(rows))

    def committed(self, rows: int) -> None:
        """A batch of `rows` rows was committed (here or by the writer process): lets the
        background checkpointer run when enough WAL has accumulated."""
        if self._ckpt is not None:  # ~ pages written: rows are a few hundred bytes
            self._ckpt.committed(1 + rows // 16)

    def prune(self, now: float, retention: Retention) -> tuple[int, int]:
        """Apply a retention policy at `now`; returns (tickets, batch ids) deleted."""
        return (
            self.prune_tickets(now - retention.resolved_tickets_seconds),
            self.prune_batches(now - retention.batch_ids_seconds),
        )

    def prune_batches(self, older_than: float) -> int:
        """Forget batch ids seen before `older_than` (epoch s); returns how many."""
        cur = self._db.execute("DELETE FROM batches WHERE seen_at < ?", (older_than,))
        return cur.rowcount

    def prune_tickets(self, older_than: float) -> int:
        """Delete resolved and merged tickets last updated before `older_than` (epoch s),
        with their fault rows, in one transaction; returns how many tickets."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS prune(tno INTEGER PRIMARY KEY)")
            db.execute("DELETE FROM temp.prune")
            db.execute(
                "INSERT INTO temp.prune SELECT tno FROM tickets"
                " WHERE state != 'open' AND updated_at < ?",
                (older_than,),
            )
            db.execute("DELETE FROM faults WHERE tno IN (SELECT tno FROM temp.prune)")
            n = db.execute("DELETE FROM tickets WHERE tno IN (SELECT tno FROM temp.prune)").rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return n

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT k, v FROM meta").fetchall())

    def load_open(self) -> list[tuple[TicketRow, list[FaultRow]]]:
        """Open tickets with their faults, oldest first."""
        tickets: list[TicketRow] = [
            (r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]))
            for r in self._db.execute(
                "SELECT * FROM tickets WHERE state = 'open' ORDER BY opened_at, tno"
            )
        ]
        out = []
        for t in tickets:
            rows: list[FaultRow] = self._db.execute(
                "SELECT * FROM faults WHERE tno = ? ORDER BY fid", (t[0],)
            ).fetchall()
            out.append((t, rows))
        return out

    def close(self) -> None:
        if self._ckpt is not None:
            self._ckpt.close()
        self._db.close()

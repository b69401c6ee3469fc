"""SQLite persistence of correlation state under the state directory.

One writer (`TicketStore`, owned by the engine) and any number of readers
(`TicketReader`, used by the NOC view, possibly in another process).  WAL mode
lets readers see the last committed batch while the writer works.  Everything a
batch changed is written in one transaction together with the batch id, so a
crash either keeps the whole batch (and its id: a retry is acknowledged
without re-applying) or none of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from faultd.correlate.tickets import FaultView, TicketView, decode_view

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets(
    ticket_id TEXT PRIMARY KEY, state TEXT NOT NULL, suppressed INTEGER NOT NULL,
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, view BLOB NOT NULL, internal BLOB NOT NULL,
    root_fid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_state ON tickets(state, opened_at);
CREATE TABLE IF NOT EXISTS faults(
    fid INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL, node TEXT NOT NULL, fault_code TEXT NOT NULL,
    key TEXT NOT NULL, severity INTEGER NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    occurrences INTEGER NOT NULL, cleared INTEGER NOT NULL, message TEXT NOT NULL,
    event_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS faults_ticket ON faults(ticket_id);
CREATE TABLE IF NOT EXISTS batches(batch_id TEXT PRIMARY KEY, seen_at REAL NOT NULL,
    summary BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS batches_seen ON batches(seen_at);
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""

TicketRow = tuple[str, str, int, float, float, bytes, bytes, int]
"""ticket_id, state, suppressed, opened_at, updated_at, view JSON (symptoms not listed: they
are the ticket's fault rows), internal JSON, root fault id"""
FaultRow = tuple[int, str, str, str, str, int, float, float, int, int, str, str]
"""fid, ticket_id, node, fault_code, key, severity, first_seen, last_seen, occurrences,
cleared, message, event_id"""


def db_path(state_directory: Path) -> Path:
    """Where the correlation database lives under a state directory."""
    return state_directory / "correlate" / "state.sqlite3"


class TicketStore:
    """The single writer."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # checkpoint (and fsync) every ~64 MiB of WAL rather than every 4 MiB
        self._db.execute("PRAGMA wal_autocheckpoint=16384")
        self._db.execute("PRAGMA journal_size_limit=67108864")
        self._db.executescript(SCHEMA)

    def batch_summary(self, batch_id: str) -> bytes | None:
        """The stored summary of a batch seen before, else None."""
        row = self._db.execute(
            "SELECT summary FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def commit_batch(
        self,
        batch_id: str,
        seen_at: float,
        summary: bytes,
        tickets: Sequence[TicketRow],
        faults: Sequence[FaultRow],
        meta: dict[str, str],
    ) -> None:
        """Write one batch's changes and its id in one transaction."""
        db = self._db
        db.execute("BEGIN")
        try:
            if tickets:
                db.executemany("INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?)", tickets)
            if faults:
                db.executemany(
                    "INSERT OR REPLACE INTO faults VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", faults
                )
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
            db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?,?,?)", (batch_id, seen_at, summary)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def prune_batches(self, older_than: float) -> int:
        """Forget batch ids seen before `older_than` (epoch s); returns how many."""
        cur = self._db.execute("DELETE FROM batches WHERE seen_at < ?", (older_than,))
        return cur.rowcount

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT k, v FROM meta").fetchall())

    def load_open(self) -> list[tuple[TicketRow, list[FaultRow]]]:
        """Open tickets with their faults, oldest first."""
        tickets: list[TicketRow] = [
            (r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bytes(r[6]), r[7])
            for r in self._db.execute(
                "SELECT * FROM tickets WHERE state = 'open' ORDER BY opened_at, ticket_id"
            )
        ]
        out = []
        for t in tickets:
            rows: list[FaultRow] = self._db.execute(
                "SELECT * FROM faults WHERE ticket_id = ? ORDER BY fid", (t[0],)
            ).fetchall()
            out.append((t, rows))
        return out

    def close(self) -> None:
        self._db.close()


class TicketReader:
    """Read-only access for the NOC view (safe in another thread or process)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            TicketStore(path).close()
        self._db = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )

    def tickets(
        self, *, state: str = "open", include_suppressed: bool = False, max_symptoms: int = 500
    ) -> list[TicketView]:
        """Tickets newest first (at most 5,000); state 'open', 'resolved', 'merged' or 'all'."""
        where: list[str] = []
        args: list[Any] = []
        if state != "all":
            where.append("state = ?")
            args.append(state)
        if not include_suppressed:
            where.append("suppressed = 0")
        sql = "SELECT view, root_fid FROM tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY opened_at DESC, ticket_id LIMIT 5000"
        rows = self._db.execute(sql, args).fetchall()
        return [self._complete(bytes(r[0]), r[1], max_symptoms) for r in rows]

    def ticket(self, ticket_id: str, max_symptoms: int = 500) -> TicketView | None:
        row = self._db.execute(
            "SELECT view, root_fid FROM tickets WHERE ticket_id = ?", (ticket_id,)
        ).fetchone()
        return self._complete(bytes(row[0]), row[1], max_symptoms) if row else None

    def _complete(self, view_json: bytes, root_fid: int, max_symptoms: int) -> TicketView:
        view = decode_view(view_json)
        if view.state == "merged" or not view.symptom_count:
            return view
        rows = self._db.execute(
            "SELECT node, fault_code, key, severity, first_seen, last_seen, occurrences, cleared,"
            " message, event_id FROM faults WHERE ticket_id = ? AND fid != ? ORDER BY fid LIMIT ?",
            (view.ticket_id, root_fid, max_symptoms),
        ).fetchall()
        view.symptoms = [
            FaultView(
                node=r[0],
                fault_code=r[1],
                key=r[2],
                severity=r[3],
                first_seen=r[4],
                last_seen=r[5],
                occurrences=r[6],
                cleared=bool(r[7]),
                message=r[8],
                event_id=r[9],
            )
            for r in rows
        ]
        return view

    def counts(self) -> dict[str, int]:
        rows: Iterable[tuple[str, int]] = self._db.execute(
            "SELECT state, count(*) FROM tickets GROUP BY state"
        )
        return dict(rows)

    def close(self) -> None:
        self._db.close()

"""Read-only access to the correlation store for the NOC view: `TicketReader`.

Safe in another thread or process: it opens the database read-only and, in WAL
mode, sees the last committed batch while the engine writes.  Payloads are put
back together from a ticket's `StoredTicket` record and its fault rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faultd.correlate.store import TicketStore, decode_stored, view_of
from faultd.correlate.tickets import FaultView, TicketView

_FAULT_COLUMNS = (
    "SELECT node, fault_code, key, severity, first_seen, last_seen, occurrences, cleared,"
    " message, event_id FROM faults"
)


def _fault_view(r: tuple[Any, ...]) -> FaultView:
    return FaultView(
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
        sql = "SELECT data, tno FROM tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY opened_at DESC, ticket_id LIMIT 5000"
        rows = self._db.execute(sql, args).fetchall()
        return [self._complete(bytes(r[0]), r[1], max_symptoms) for r in rows]

    def ticket(self, ticket_id: str, max_symptoms: int = 500) -> TicketView | None:
        row = self._db.execute(
            "SELECT data, tno FROM tickets WHERE ticket_id = ?", (ticket_id,)
        ).fetchone()
        return self._complete(bytes(row[0]), row[1], max_symptoms) if row else None

    def _complete(self, data: bytes, tno: int, max_symptoms: int) -> TicketView:
        st = decode_stored(data)
        root = self._db.execute(_FAULT_COLUMNS + " WHERE fid = ?", (tno,)).fetchone()
        rows = []
        if st.state != "merged" and st.symptom_count:
            rows = self._db.execute(
                _FAULT_COLUMNS + " WHERE tno = ? AND fid != ? ORDER BY fid LIMIT ?",
                (tno, tno, max_symptoms),
            ).fetchall()
        return view_of(st, _fault_view(root) if root else None, [_fault_view(r) for r in rows])

    def counts(self) -> dict[str, int]:
        rows: Iterable[tuple[str, int]] = self._db.execute(
            "SELECT state, count(*) FROM tickets GROUP BY state"
        )
        return dict(rows)

    def close(self) -> None:
        self._db.close()

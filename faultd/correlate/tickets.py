"""Ticket wire types and the embedded ticket log.

The wire types are ``gc=False`` msgspec structs: they hold only scalars, lists
and other such structs, never form reference cycles, and so need no cyclic-GC
tracking (the engine builds many of them per batch).

`TicketView` is the ticket payload (what the NOC view, the store and webhooks
see); `TicketChange` (schema ``faultd.ticket_change/v1``) is one emitted change
(open / update / resolve / merge).  `TicketLog` appends changes as JSON lines
to ``<state_directory>/tickets/tickets.jsonl`` for queues without a webhook.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import msgspec

CHANGE_SCHEMA: Final = "faultd.ticket_change/v1"

TicketState = Literal["open", "resolved", "merged"]
ChangeAction = Literal["open", "update", "resolve", "merge"]


class RouteTarget(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where a ticket goes: queue, priority (1 = most urgent), assignment group, webhook."""

    queue: str
    priority: int
    group: str
    webhook: str | None = None


class FaultView(msgspec.Struct, kw_only=True, gc=False):
    """One fault in a ticket (its root cause or a symptom)."""

    node: str
    fault_code: str
    key: str
    severity: int
    first_seen: float
    last_seen: float
    occurrences: int
    cleared: bool
    message: str = ""
    event_id: str = ""


class MaintenanceState(msgspec.Struct, kw_only=True, gc=False):
    """Maintenance state of a ticket: none, suppressed, downgraded, or ended (was suppressed)."""

    state: Literal["none", "suppressed", "downgraded", "ended"] = "none"
    window: str | None = None


class TicketView(msgspec.Struct, kw_only=True, gc=False):
    """The ticket payload."""

    ticket_id: str
    state: TicketState
    version: int
    severity: int
    category: str
    title: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    root_cause: FaultView
    root_site: str
    symptom_count: int
    symptoms: list[FaultView]
    impacted_services: list[str]
    routing: list[RouteTarget]
    maintenance: MaintenanceState
    merged_into: str | None = None
    tier: str = ""


class TicketChange(msgspec.Struct, kw_only=True, gc=False):
    """One change to a ticket, emitted once per ticket per evaluated batch.

    `reasons` says why (``new_symptoms``, ``severity_escalation``, ``occurrence``,
    ``cleared``, ``maintenance_ended``, ``adopted``, ``auto_resolved`` …).
    `routing` repeats the ticket's routing: send one copy to each target's webhook,
    or to the ticket log when the target has none.
    """

    change_id: str
    action: ChangeAction
    ticket_id: str
    version: int
    at: float
    reasons: list[str]
    batch_id: str
    routing: list[RouteTarget]
    ticket: TicketView
    schema: str = CHANGE_SCHEMA


_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(TicketChange)
_view_decoder = msgspec.json.Decoder(TicketView)


def encode(obj: object) -> bytes:
    """JSON-encode a view, change or list of them."""
    return _encoder.encode(obj)


def decode_change(data: bytes) -> TicketChange:
    return _change_decoder.decode(data)


def decode_view(data: bytes) -> TicketView:
    return _view_decoder.decode(data)


class TicketLog:
    """Append-only JSON-lines log of ticket changes (thread-safe, fsync optional).

    One line per change: the `TicketChange` JSON.  Lines are written with a
    single `os.write` on an O_APPEND descriptor, so concurrent writers (even
    other processes) never interleave within a line.
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._fsync = fsync
        self._lock = threading.Lock()

    @classmethod
    def under(cls, state_directory: Path, *, fsync: bool = False) -> TicketLog:
        """The log at its standard place: <state_directory>/tickets/tickets.jsonl."""
        return cls(state_directory / "tickets" / "tickets.jsonl", fsync=fsync)

    def append(self, changes: Iterable[TicketChange]) -> int:
        """Append changes; returns how many lines were written."""
        lines = [_encoder.encode(c) + b"\n" for c in changes]
        if not lines:
            return 0
        data = b"".join(lines)
        with self._lock:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if self._fsync:
                os.fsync(self._fd)
        return len(lines)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_log(path: Path) -> list[TicketChange]:
    """Read a ticket log back (skips a torn last line)."""
    out: list[TicketChange] = []
    if not path.exists():
        return out
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                out.append(_change_decoder.decode(line))
            except msgspec.DecodeError:
                continue
    return out

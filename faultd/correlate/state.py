"""The engine's mutable in-memory model: faults, tickets, and their views and rows.

A `Ticket` groups faults: its root cause, further faults on the root node, and
symptoms on nodes depending on it.  Conversions to `TicketView` (the payload),
to store rows and back live here so the engine only decides, never formats.

Payload building is incremental: a fault keeps its `FaultView` until it changes
(the engine calls `Fault.changed`), a ticket keeps its fid-ordered symptom list
and sorted service list until a fault or service is added.  Views are shared
between successive payloads, so treat emitted payloads as read-only.
"""

from __future__ import annotations

from typing import Any

from faultd.correlate.store import (
    FaultRow,
    StoredTicket,
    TicketRow,
    TicketUpdate,
    decode_stored,
    encode_stored,
)
from faultd.correlate.tickets import (
    FaultView,
    MaintenanceState,
    RouteTarget,
    TicketState,
    TicketView,
)

FaultKey = tuple[str, str, str]
"""node, fault_code, identity key (e.g. ``ifIndex=3``)"""


class Fault:
    """One fault instance (a node + fault code + identity) inside a ticket."""

    __slots__ = (
        "cached",
        "cleared",
        "event_id",
        "fid",
        "first_seen",
        "key",
        "last_seen",
        "message",
        "occurrences",
        "severity",
        "stored_tno",
        "ticket",
    )

    def __init__(
        self,
        fid: int,
        key: FaultKey,
        ticket: Ticket,
        severity: int,
        ts: float,
        message: str,
        event_id: str,
        occurrences: int = 1,
    ) -> None:
        self.fid = fid
        self.key = key
        self.ticket = ticket
        self.severity = severity
        self.first_seen = ts
        self.last_seen = ts
        self.occurrences = occurrences
        self.cleared = False
        self.message = message
        self.event_id = event_id
        self.cached: FaultView | None = None
        self.stored_tno = 0  # the ticket number its store row has (0: no row yet)

    def view(self) -> FaultView:
        """The fault's view, built once per change (see `changed`)."""
        v = self.cached
        if v is None:
            v = self.cached = self._build_view()
        return v

    def _build_view(self) -> FaultView:
        return FaultView(
            node=self.key[0],
            fault_code=self.key[1],
            key=self.key[2],
            severity=self.severity,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            occurrences=self.occurrences,
            cleared=self.cleared,
            message=self.message,
            event_id=self.event_id,
        )

    def row(self) -> FaultRow:
        """The store row; also forgets the cached view (rows are taken once per change)."""
        self.cached = None
        self.stored_tno = self.ticket.tno
        return (
            self.fid,
            self.ticket.tno,
            self.key[0],
            self.key[1],
            self.key[2],
            self.severity,
            self.first_seen,
            self.last_seen,
            self.occurrences,
            int(self.cleared),
            self.message,
            self.event_id,
        )


def _fid(f: Fault) -> int:
    return f.fid


_MAINTENANCE: dict[tuple[str, str | None], MaintenanceState] = {}


def _maintenance(state: str, window: str | None) -> MaintenanceState:
    """The (shared, read-only) `MaintenanceState` of a ticket."""
    m = _MAINTENANCE.get((state, window))
    if m is None:
        m = MaintenanceState(state=state, window=window)  # type: ignore[arg-type]
        if len(_MAINTENANCE) < 1024:
            _MAINTENANCE[(state, window)] = m
    return m


class Ticket:
    """An open (or just closed) ticket."""

    __slots__ = (
        "attributes",
        "base_severity",
        "category",
        "downgrade_by",
        "emitted",
        "faults",
        "last_activity",
        "maintenance",
        "merged_into",
        "opened_at",
        "resolved_at",
        "role",
        "root",
        "root_uncleared",
        "routed",
        "routing",
        "services",
        "services_sorted",
        "severity",
        "site",
        "source",
        "state",
        "stored_state",
        "symptoms",
        "ticket_id",
        "tier",
        "title",
        "tno",
        "uncleared",
        "updated_at",
        "version",
        "window",
    )

    def __init__(self, ticket_id: str, now: float, tno: int = 0) -> None:
        self.ticket_id = ticket_id
        self.tno = tno  # the root fault's fid: the store's key
        self.state: TicketState = "open"
        self.stored_state: TicketState | None = None  # its store row's state (None: no row)
        self.version = 0
        self.opened_at = now
        self.updated_at = now
        self.resolved_at: float | None = None
        self.root: Fault | None = None
        self.faults: dict[FaultKey, Fault] = {}
        self.uncleared = 0
        self.root_uncleared = 0
        self.severity = 4
        self.base_severity = 4  # min severity over all faults, kept as faults change
        self.category = ""
        self.title = ""
        self.tier = ""
        self.site = ""
        self.role = ""
        self.source = ""
        self.attributes: dict[str, Any] = {}
        self.routing: list[RouteTarget] = []
        self.routed = -1  # policy generation the routing was computed under (-1: never)
        self.maintenance = "none"
        self.window: str | None = None
        self.downgrade_by = 0
        self.emitted = False
        self.merged_into: Ticket | None = None
        self.last_activity = 0.0
        # frozenset: shared with the topology's memo until a symptom adds a service
        self.services: frozenset[str] | set[str] = frozenset()
        self.services_sorted: list[str] | None = None
        self.symptoms: list[Fault] | None = None  # fid order, root excluded; None: stale

    def live(self) -> Ticket:
        """The ticket this one was merged into (transitively), or itself."""
        t = self
        while t.merged_into is not None:
            t = t.merged_into
        return t

    def retire(self) -> None:
        """Forget the faults of a finished (resolved or merged) ticket once it is emitted and
        stored.  Faults point at their ticket; dropping the way back breaks the cycles, so
        the ticket and its faults are freed by reference counting rather than by full
        cyclic-GC passes over the whole engine state.  Only `state`, `merged_into` and the
        ids remain meaningful."""
        self.faults = {}
        self.symptoms = None
        self.root = None

    def effective_severity(self) -> int:
        return min(4, self.base_severity + self.downgrade_by)

    def add_services(self, services: frozenset[str] | set[str]) -> None:
        if not services <= self.services:
            self.services = self.services | services  # a new set: never the shared one
            self.services_sorted = None

    def symptom_views(self, max_symptoms: int) -> list[FaultView]:
        """The first `max_symptoms` symptoms' views, in fid order."""
        syms = self.symptoms
        if syms is None:
            root = self.root
            syms = [f for f in self.faults.values() if f is not root]
            syms.sort(key=_fid)
            self.symptoms = syms
        return [f.view() for f in syms[:max_symptoms]]

    def view(self, symptoms: list[FaultView]) -> TicketView:
        root = self.root
        assert root is not None
        services = self.services_sorted
        if services is None:
            services = self.services_sorted = sorted(self.services)
        return TicketView(
            ticket_id=self.ticket_id,
            state=self.state,
            version=self.version,
            severity=self.severity,
            category=self.category,
            title=self.title,
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            resolved_at=self.resolved_at,
            root_cause=root.view(),
            root_site=self.site,
            symptom_count=len(self.faults) - 1,
            symptoms=symptoms,
            impacted_services=services,
            routing=self.routing,  # replaced, never mutated, when the ticket is re-routed
            maintenance=_maintenance(self.maintenance, self.window),
            merged_into=self.merged_into.ticket_id if self.merged_into else None,
            tier=self.tier,
        )

    def row(self) -> TicketRow:
        """The store row (the faults, root included, are fault rows)."""
        self.stored_state = self.state
        return (
            self.tno,
            self.ticket_id,
            self.state,
            int(self.maintenance == "suppressed"),
            self.opened_at,
            self.updated_at,
            self._data(),
        )

    def update_row(self) -> TicketUpdate:
        """The changing columns of a stored ticket whose state is unchanged."""
        return (
            int(self.maintenance == "suppressed"),
            self.updated_at,
            self._data(),
            self.tno,
        )

    def _data(self) -> bytes:
        services = self.services_sorted
        if services is None:
            services = self.services_sorted = sorted(self.services)
        data = StoredTicket(
            ticket_id=self.ticket_id,
            state=self.state,
            version=self.version,
            severity=self.severity,
            category=self.category,
            title=self.title,
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            resolved_at=self.resolved_at,
            root_site=self.site,
            symptom_count=len(self.faults) - 1,
            impacted_services=services,
            routing=self.routing,
            maintenance=_maintenance(self.maintenance, self.window),
            merged_into=self.merged_into.ticket_id if self.merged_into else None,
            tier=self.tier,
            emitted=self.emitted,
            downgrade_by=self.downgrade_by,
            last_activity=self.last_activity,
            attributes=self.attributes,
            source=self.source,
            role=self.role,
        )
        return encode_stored(data)


def restore(row: TicketRow, fault_rows: list[FaultRow]) -> Ticket:
    """Rebuild an open ticket from its store rows."""
    st = decode_stored(row[6])
    t = Ticket(st.ticket_id, st.opened_at, row[0])
    t.version = st.version
    t.stored_state = st.state
    t.updated_at = st.updated_at
    t.severity = st.severity
    t.category = st.category
    t.title = st.title
    t.tier = st.tier
    t.site = st.root_site
    t.routing = list(st.routing)
    t.resolved_at = st.resolved_at
    t.maintenance = st.maintenance.state
    t.window = st.maintenance.window
    t.services = set(st.impacted_services)
    t.emitted = st.emitted
    t.downgrade_by = st.downgrade_by
    t.last_activity = st.last_activity
    t.attributes = st.attributes
    t.source = st.source
    t.role = st.role
    for r in fault_rows:
        f = Fault(r[0], (r[2], r[3], r[4]), t, r[5], r[6], r[10], r[11], r[8])
        f.last_seen = r[7]
        f.cleared = bool(r[9])
        f.stored_tno = r[1]
        t.faults[f.key] = f
        if f.fid == t.tno:
            t.root = f
    if t.root is None:  # defensive: a ticket without its root row becomes rootless-safe
        t.root = next(iter(t.faults.values()))
    t.base_severity = min(f.severity for f in t.faults.values())
    root_node = t.root.key[0]
    t.uncleared = sum(1 for f in t.faults.values() if not f.cleared)
    t.root_uncleared = sum(1 for f in t.faults.values() if not f.cleared and f.key[0] == root_node)
    return t

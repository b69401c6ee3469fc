"""End of a batch: coalesced ticket changes, payloads and store rows.

The engine marks what a batch touched (tickets with the reasons, faults); this
module turns that into at most one `TicketChange` per action per ticket, the
payloads they carry, the rows to write, and the batch's `EvaluationResult`
counts.  Payloads are built only for tickets that emit something: a ticket
opened and merged within one batch (a child reporting before its parent) was
never seen outside and is neither emitted nor stored.  Routing is computed here,
once per ticket per batch at most, and only when the severity or the policy
changed since the last time (`Router.route_ticket` memoises it besides).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from faultd.correlate.routing import Router
from faultd.correlate.state import Fault, Ticket
from faultd.correlate.store import Rows, TicketStore
from faultd.correlate.tickets import ChangeAction, FaultView, TicketChange


class EvaluationResult(msgspec.Struct, kw_only=True):
    """What evaluating one batch did; `changes` are to be delivered downstream."""

    batch_id: str
    duplicate: bool = False
    events: int = 0
    dropped: int = 0
    clears: int = 0
    unmatched_clears: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    merged: int = 0
    open_tickets: int = 0
    changes: list[TicketChange] = []

    def summary(self) -> dict[str, object]:
        """The small JSON-able summary (everything but the changes)."""
        out = msgspec.structs.asdict(self)
        out["changes"] = len(self.changes)
        return out


class SeenBatches:
    """Summaries of batches already applied (recent ones in memory, all in the store)."""

    def __init__(self, store: TicketStore | None, keep: int = 10_000) -> None:
        self._store = store
        self._recent: dict[str, bytes] = {}
        self._keep = keep

    def get(self, batch_id: str) -> EvaluationResult | None:
        """The first result of a batch seen before (``duplicate`` set, no changes)."""
        seen = self._recent.get(batch_id)
        if seen is None and self._store is not None:
            seen = self._store.batch_summary(batch_id)
        if seen is None:
            return None
        res = msgspec.json.decode(seen, type=EvaluationResult)
        res.duplicate = True
        return res

    def add(self, res: EvaluationResult) -> bytes:
        """Remember a batch's result; returns the summary to store with it."""
        summary = msgspec.json.encode(msgspec.structs.replace(res, changes=[]))
        self._recent[res.batch_id] = summary
        if len(self._recent) > self._keep:
            for k in list(self._recent)[: self._keep // 2]:
                del self._recent[k]
        return summary


def _actions(t: Ticket, reasons: set[str]) -> list[ChangeAction]:
    if t.state == "merged":
        return ["merge"] if t.emitted else []
    if t.maintenance == "suppressed":
        return []
    emit: list[ChangeAction] = []
    if not t.emitted:
        emit.append("open")
    elif t.state == "open":
        emit.append("update")
    if t.state == "resolved":
        emit.append("resolve")
    return emit


def close_batch(
    dirty: dict[Ticket, set[str]],
    dirty_faults: Iterable[Fault],
    res: EvaluationResult,
    *,
    now: float,
    router: Router,
    generation: int,
    max_listed: int,
    want_rows: bool,
) -> Rows:
    """Fill `res.changes` and counts from what the batch touched; return the store rows
    (empty when `want_rows` is false)."""
    rows = Rows()
    if want_rows:
        fault_rows, fault_updates = rows.faults, rows.fault_updates
        for f in dirty_faults:
            if f.stored_tno == f.ticket.tno:  # stored, same ticket: its changing columns
                f.cached = None
                fault_updates.append(
                    (f.severity, f.last_seen, f.occurrences, int(f.cleared), f.fid)
                )
            else:
                fault_rows.append(f.row())  # row() also drops the cached view
    else:
        for f in dirty_faults:
            f.cached = None
    batch_id = res.batch_id
    changes = res.changes = []
    ticket_rows, ticket_updates = rows.tickets, rows.ticket_updates
    for t, reasons in dirty.items():
        opened = "opened" in reasons
        if t.state == "merged":
            if not t.emitted and opened:
                t.retire()
                continue  # ephemeral: never seen outside, not stored
        else:
            sev = min(4, t.base_severity + t.downgrade_by)  # t.effective_severity()
            if sev != t.severity:
                if sev < t.severity and not opened:
                    reasons.add("severity_escalation")
                t.severity = sev
                t.routed = -1
            if t.routed != generation:
                t.routing = router.route_ticket(t)
                t.routed = generation
            if not opened:
                t.updated_at = now
            if t.state == "resolved":
                res.resolved += 1
            elif t.state == "open" and not opened:
                res.updated += 1
        actions = _actions(t, reasons)
        if actions:
            listed: list[FaultView] = t.symptom_views(max_listed)
            why = sorted(reasons)
            for action in actions:
                t.version += 1
                t.emitted = True
                changes.append(
                    TicketChange(
                        change_id=f"{t.ticket_id}:{t.version}",
                        action=action,
                        ticket_id=t.ticket_id,
                        version=t.version,
                        at=now,
                        reasons=why,
                        batch_id=batch_id,
                        routing=t.routing,  # shared with the view: read-only
                        ticket=t.view(listed),
                    )
                )
        if want_rows:
            if t.stored_state == t.state:
                ticket_updates.append(t.update_row())
            else:
                ticket_rows.append(t.row())
        if t.state != "open":
            t.retire()
    return rows

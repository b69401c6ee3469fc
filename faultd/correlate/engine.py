"""The correlation engine: one deterministic pass per batch, turning faults into tickets.

Per batch: events are ordered by (timestamp, topology depth, fault-code rank, event_id); each
is classified (fault-code table, rules, clear pairing) and applied:

- a clear marks its fault cleared; the ticket resolves when every fault on its
  root node is cleared (``resolve_when: root_cleared``) or every fault is;
- a repeat of an active fault is an occurrence of it (severity may escalate);
- a new fault joins the open ticket of its own node or of its nearest ancestor
  that had a fault within ``correlation_window_seconds`` (a symptom);
- otherwise it opens a ticket as root cause, adopting ("merge") the tickets of
  descendants opened within the window — children may report before the parent.

Changes are coalesced per ticket and emitted as `TicketChange` records; all
state the batch touched is written in one SQLite transaction with the batch id
(a batch seen before is acknowledged without re-applying).  Nothing in the hot
loop touches SQL: ancestors are precomputed, lookups are dict hits.  Not
thread-safe: one engine has one caller (see `worker.py`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from faultd.correlate.maintenance import Maintenance
from faultd.correlate.matchers import Subject
from faultd.correlate.policy import Policy, load_policy
from faultd.correlate.rules import Classified, Classifier, Router
from faultd.correlate.state import Fault, FaultKey, Ticket, restore
from faultd.correlate.store import FaultRow, TicketRow, TicketStore, db_path
from faultd.correlate.tickets import ChangeAction, TicketChange, TicketView
from faultd.correlate.topology import Topology
from faultd.event import Batch, FaultEvent


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


class CorrelationEngine:
    """Evaluates batches against a policy; state lives in memory and in the store."""

    def __init__(
        self,
        policy: Policy,
        store: TicketStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.topology = Topology.build(policy.topology)
        self.classifier = Classifier(policy, self.topology)
        self.router = Router(policy)
        self.maintenance = Maintenance(policy.maintenance, self.topology)
        self._store = store
        self._clock = clock
        rc = policy.root_cause
        self._window = rc.correlation_window_seconds
        self._same_node = rc.same_node
        self._root_cleared = rc.resolve_when == "root_cleared"
        self._auto = rc.auto_resolve_after_seconds
        self._max_listed = rc.max_symptoms_listed
        hops = rc.max_hops or 1 << 30
        self._anc: dict[str, tuple[str, ...]] = {
            n: tuple(a for a, h in anc if h <= hops) for n, anc in self.topology.ancestors.items()
        }
        self._depth = self.topology.depth
        self._open: dict[str, Ticket] = {}
        self._active: dict[FaultKey, Fault] = {}
        self._node_last: dict[str, tuple[Ticket, float]] = {}
        self._pending: dict[str, dict[Ticket, None]] = {}
        self._seen: dict[str, bytes] = {}
        self._next_fid = 1
        self._watermark = 0.0
        self._last_sweep = 0.0
        self._dirty: dict[Ticket, set[str]] = {}
        self._dirty_faults: dict[Fault, None] = {}
        self._result = EvaluationResult(batch_id="")
        if store is not None:
            self._load(store)

    @classmethod
    def open(
        cls, policy_path: Path, state_directory: Path, *, clock: Callable[[], float] = time.time
    ) -> CorrelationEngine:
        """Engine for a policy file with its store under `state_directory`."""
        return cls(load_policy(policy_path), TicketStore(db_path(state_directory)), clock=clock)

    def _load(self, store: TicketStore) -> None:
        meta = store.meta()
        self._next_fid = int(meta.get("next_fid", "1"))
        self._watermark = float(meta.get("watermark", "0"))
        self._last_sweep = self._watermark
        for row, faults in store.load_open():
            t = restore(row, faults)
            self._open[t.ticket_id] = t
            for f in t.faults.values():
                self._next_fid = max(self._next_fid, f.fid + 1)
                if not f.cleared:
                    self._active[f.key] = f
                prev = self._node_last.get(f.key[0])
                if prev is None or prev[1] <= f.last_seen:
                    self._node_last[f.key[0]] = (t, f.last_seen)
            self._register_pending(t)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- public -----------------------------------------------------------------------------

    def open_tickets(self) -> list[TicketView]:
        """Views of all open tickets (suppressed included), oldest first."""
        return [t.view(self._max_listed) for t in self._open.values()]

    def evaluate(self, batch: Batch) -> EvaluationResult:
        """Apply one batch; idempotent on batch_id."""
        seen = self._seen.get(batch.batch_id)
        if seen is None and self._store is not None:
            seen = self._store.batch_summary(batch.batch_id)
        if seen is not None:
            res = msgspec.json.decode(seen, type=EvaluationResult)
            res.duplicate = True
            return res
        res = self._result = EvaluationResult(batch_id=batch.batch_id, events=len(batch.events))
        depth = self._depth
        rank = self.classifier.rank
        events = sorted(
            batch.events,
            key=lambda e: (e.timestamp, depth.get(e.node_id, 0), rank(e.fault_code), e.event_id),
        )
        classify = self.classifier.classify
        for ev in events:
            c = classify(ev)
            if c is None:
                res.dropped += 1
                continue
            ts = ev.timestamp
            if ts > self._watermark:
                self._watermark = ts
            if c.clears is not None:
                self._clear(ev, c, ts)
            else:
                self._fault(ev, c, ts)
        self._sweep()
        self._finish(batch.batch_id)
        return res

    # -- per event ----------------------------------------------------------------------------

    def _touch(self, t: Ticket, reason: str, ts: float) -> None:
        reasons = self._dirty.get(t)
        if reasons is None:
            reasons = self._dirty[t] = set()
        reasons.add(reason)
        if ts > t.last_activity:
            t.last_activity = ts

    def _fault(self, ev: FaultEvent, c: Classified, ts: float) -> None:
        node = ev.node_id
        key = (node, ev.fault_code, c.key)
        f = self._active.get(key)
        if f is not None:
            t = f.ticket
            f.occurrences += 1 + ev.duplicates
            if ts > f.last_seen:
                f.last_seen = ts
            self._dirty_faults[f] = None
            self._node_last[node] = (t, ts)
            if c.severity < f.severity:
                f.severity = c.severity
                self._touch(t, "severity_escalation", ts)
            else:
                self._touch(t, "occurrence", ts)
            if t.maintenance == "suppressed":
                self._maybe_end_maintenance(t, ts)
            return
        target = self._attach_target(node, ts)
        if target is None:
            self._open_ticket(ev, c, key, ts)
            return
        t = target
        f = t.faults.get(key)
        if f is not None:  # a cleared fault of this ticket fires again
            f.cleared = False
            f.occurrences += 1 + ev.duplicates
            f.last_seen = max(f.last_seen, ts)
            f.severity = min(f.severity, c.severity)
            reason = "refired"
        else:
            f = Fault(
                self._fid(), key, t, c.severity, ts, ev.message, ev.event_id, 1 + ev.duplicates
            )
            t.faults[key] = f
            t.services |= self.topology.info(node).services
            reason = "new_symptoms"
        t.uncleared += 1
        if node == t.root.key[0]:  # type: ignore[union-attr]
            t.root_uncleared += 1
        self._active[key] = f
        self._dirty_faults[f] = None
        self._node_last[node] = (t, ts)
        self._touch(t, reason, ts)
        if t.maintenance == "suppressed":
            self._maybe_end_maintenance(t, ts)

    def _attach_target(self, node: str, ts: float) -> Ticket | None:
        window = self._window
        node_last = self._node_last
        if self._same_node:
            e = node_last.get(node)
            if e is not None and abs(ts - e[1]) <= window:
                t = e[0].live()
                if t.state == "open":
                    return t
        for a in self._anc.get(node, ()):
            e = node_last.get(a)
            if e is not None and abs(ts - e[1]) <= window:
                t = e[0].live()
                if t.state == "open":
                    return t
        return None

    def _fid(self) -> int:
        fid = self._next_fid
        self._next_fid += 1
        return fid

    def _open_ticket(self, ev: FaultEvent, c: Classified, key: FaultKey, ts: float) -> None:
        node = key[0]
        tid = "T-" + hashlib.blake2b(ev.event_id.encode(), digest_size=8).hexdigest()
        t = Ticket(tid, self._clock())
        f = Fault(self._fid(), key, t, c.severity, ts, ev.message, ev.event_id, 1 + ev.duplicates)
        t.root = f
        t.faults[key] = f
        t.uncleared = t.root_uncleared = 1
        info = self.topology.info(node)
        t.category = c.category
        t.title = c.description or f"{ev.fault_code} on {node}"
        t.tier = ev.tier or info.tier
        t.site = info.site
        t.role = info.role
        t.source = ev.source
        t.attributes = dict(ev.attributes)
        t.services = set(self.topology.services_below(node))
        if self.maintenance:
            w = self.maintenance.window_for(node, ts)
            if w is not None:
                t.window = w.name
                if w.action == "suppress":
                    t.maintenance = "suppressed"
                else:
                    t.maintenance = "downgraded"
                    t.downgrade_by = w.downgrade_by
        t.severity = t.effective_severity()
        t.routing = self.router.route(self._subject(t))
        self._open[tid] = t
        self._active[key] = f
        self._dirty_faults[f] = None
        self._node_last[node] = (t, ts)
        self._touch(t, "opened", ts)
        self._result.opened += 1
        pending = self._pending.get(node)
        if pending:
            window = self._window
            for child in list(pending):
                if child.state == "open" and abs(child.root.first_seen - ts) <= window:  # type: ignore[union-attr]
                    self._merge(child, t, ts)
        self._register_pending(t)

    def _register_pending(self, t: Ticket) -> None:
        for a in self._anc.get(t.root.key[0], ()):  # type: ignore[union-attr]
            self._pending.setdefault(a, {})[t] = None

    def _unregister_pending(self, t: Ticket) -> None:
        for a in self._anc.get(t.root.key[0], ()):  # type: ignore[union-attr]
            p = self._pending.get(a)
            if p is not None:
                p.pop(t, None)
                if not p:
                    del self._pending[a]

    def _merge(self, child: Ticket, parent: Ticket, ts: float) -> None:
        """Adopt a descendant's ticket: its faults become symptoms of `parent`."""
        self._unregister_pending(child)
        for key, f in child.faults.items():
            f.ticket = parent
            parent.faults[key] = f
            self._dirty_faults[f] = None
        parent.uncleared += child.uncleared
        parent.services |= child.services
        child.state = "merged"
        child.merged_into = parent
        child.updated_at = self._clock()
        self._open.pop(child.ticket_id, None)
        self._touch(child, "merged", ts)
        self._touch(parent, "adopted", ts)
        self._result.merged += 1

    def _clear(self, ev: FaultEvent, c: Classified, ts: float) -> None:
        self._result.clears += 1
        assert c.clears is not None
        f = self._active.pop((ev.node_id, c.clears, c.key), None)
        if f is None:
            self._result.unmatched_clears += 1
            return
        t = f.ticket
        f.cleared = True
        f.last_seen = max(f.last_seen, ts)
        self._dirty_faults[f] = None
        t.uncleared -= 1
        if f.key[0] == t.root.key[0]:  # type: ignore[union-attr]
            t.root_uncleared -= 1
        self._touch(t, "cleared", ts)
        if t.uncleared <= 0 or (self._root_cleared and t.root_uncleared <= 0):
            self._resolve(t, "all_cleared" if t.uncleared <= 0 else "root_cleared", ts)

    def _resolve(self, t: Ticket, reason: str, ts: float) -> None:
        t.state = "resolved"
        t.resolved_at = self._clock()
        for key, f in t.faults.items():
            if not f.cleared and self._active.get(key) is f:
                del self._active[key]
        self._unregister_pending(t)
        self._open.pop(t.ticket_id, None)
        self._touch(t, reason, ts)

    def _maybe_end_maintenance(self, t: Ticket, ts: float) -> None:
        if self.maintenance.window_for(t.root.key[0], ts) is None:  # type: ignore[union-attr]
            t.maintenance = "ended"
            self._touch(t, "maintenance_ended", ts)

    def _subject(self, t: Ticket) -> Subject:
        root = t.root
        assert root is not None
        return Subject(
            node=root.key[0],
            fault_code=root.key[1],
            severity=t.severity,
            tier=t.tier,
            site=t.site,
            role=t.role,
            category=t.category,
            message=root.message,
            source=t.source,
            attributes=t.attributes,
        )

    def _sweep(self) -> None:
        """Auto-resolve idle tickets and forget stale index entries (by event time)."""
        auto = self._auto
        period = min(self._window * 10, auto or self._window * 10)
        wm = self._watermark
        if wm - self._last_sweep < period:
            return
        self._last_sweep = wm
        if auto is not None:
            for t in list(self._open.values()):
                if wm - t.last_activity > auto:
                    self._resolve(t, "auto_resolved", wm)
        horizon = wm - self._window
        self._node_last = {
            n: e
            for n, e in self._node_last.items()
            if e[1] >= horizon and e[0].live().state == "open"
        }
        for a, p in list(self._pending.items()):
            for t in [t for t in p if t.root.first_seen < horizon]:  # type: ignore[union-attr]
                del p[t]
            if not p:
                del self._pending[a]

    # -- end of batch -------------------------------------------------------------------------

    def _finish(self, batch_id: str) -> None:
        res = self._result
        now = self._clock()
        changes: list[TicketChange] = []
        ticket_rows: list[TicketRow] = []
        for t, reasons in self._dirty.items():
            emit: list[ChangeAction] = []
            if t.state == "merged":
                if t.emitted:
                    emit.append("merge")
            else:
                sev = t.effective_severity()
                if sev != t.severity:
                    if sev < t.severity and "opened" not in reasons:
                        reasons.add("severity_escalation")
                    t.severity = sev
                    t.routing = self.router.route(self._subject(t))
                if "opened" not in reasons:
                    t.updated_at = now
                if t.maintenance != "suppressed":
                    if not t.emitted:
                        emit.append("open")
                    elif t.state == "open":
                        emit.append("update")
                    if t.state == "resolved":
                        emit.append("resolve")
            if t.state == "resolved":
                res.resolved += 1
            elif t.state == "open" and "opened" not in reasons:
                res.updated += 1
            view = None
            for action in emit:
                t.version += 1
                t.emitted = True
                view = t.view(self._max_listed)
                changes.append(
                    TicketChange(
                        change_id=f"{t.ticket_id}:{t.version}",
                        action=action,
                        ticket_id=t.ticket_id,
                        version=t.version,
                        at=now,
                        reasons=sorted(reasons),
                        batch_id=batch_id,
                        routing=list(t.routing),
                        ticket=view,
                    )
                )
            ephemeral = t.state == "merged" and not t.emitted and "opened" in reasons
            if self._store is not None and not ephemeral:  # never seen outside: not stored
                ticket_rows.append(t.row(view or t.view(self._max_listed)))
        res.changes = changes
        res.open_tickets = len(self._open)
        summary = msgspec.json.encode(msgspec.structs.replace(res, changes=[]))
        self._seen[batch_id] = summary
        if len(self._seen) > 10_000:
            for k in list(self._seen)[:5_000]:
                del self._seen[k]
        if self._store is not None:
            fault_rows: list[FaultRow] = [f.row() for f in self._dirty_faults]
            meta = {"next_fid": str(self._next_fid), "watermark": repr(self._watermark)}
            self._store.commit_batch(batch_id, now, summary, ticket_rows, fault_rows, meta)
        self._dirty = {}
        self._dirty_faults = {}

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

Changes are coalesced per ticket and emitted as `TicketChange` records (see
`emit.py`); all state the batch touched is written in one SQLite transaction
with the batch id (a batch seen before is acknowledged without re-applying).
The transaction runs on the store's writer thread (`writer.py`): `submit(batch)`
returns once the batch is decided, with a `Pending` result that is done when
the batch is durable, so the caller may evaluate the next batch meanwhile;
`evaluate(batch)` is `submit(batch).result()`.
Nothing in the hot loop touches SQL: ancestors are precomputed, lookups are dict
hits.  Every ``retention.prune_every_batches`` batches finished tickets and old
batch ids are pruned from the store.  `reload(policy)` swaps the policy between
batches, keeping open tickets.  Not thread-safe: one engine has one caller
(see `worker.py`).
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultd.correlate.emit import EvaluationResult, SeenBatches, close_batch
from faultd.correlate.grouping import Grouping
from faultd.correlate.maintenance import Maintenance
from faultd.correlate.policy import Policy, load_policy
from faultd.correlate.routing import Router
from faultd.correlate.rules import Classified, Classifier
from faultd.correlate.state import Fault, FaultKey, Ticket, restore
from faultd.correlate.store import TicketStore, db_path
from faultd.correlate.tickets import TicketView
from faultd.correlate.topology import Topology
from faultd.correlate.writer import Job, Pending, StoreFailed, StoreWriter
from faultd.event import Batch, FaultEvent

__all__ = ["CorrelationEngine", "EvaluationResult"]


class CorrelationEngine:
    """Evaluates batches against a policy; state lives in memory and in the store."""

    def __init__(
        self,
        policy: Policy,
        store: TicketStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._clock = clock
        self._generation = 0
        self._open: dict[str, Ticket] = {}
        self._active: dict[FaultKey, Fault] = {}
        self._grouping = Grouping()
        self._node_last = self._grouping.last
        self._seen = SeenBatches(store)
        self._next_fid = 1
        self._watermark = 0.0
        self._last_sweep = 0.0
        self._now = 0.0
        self._since_prune = 0
        self._dirty: dict[Ticket, set[str]] = {}
        self._dirty_faults: dict[Fault, None] = {}
        self._result = EvaluationResult(batch_id="")
        self._use(policy)
        self._writer: StoreWriter | None = None
        self._job: Job[Any] | None = None  # the last batch's store write
        if store is not None:
            self._load(store)
            self.prune()
            self._writer = StoreWriter(store)

    @classmethod
    def open(
        cls, policy_path: Path, state_directory: Path, *, clock: Callable[[], float] = time.time
    ) -> CorrelationEngine:
        """Engine for a policy file with its store under `state_directory`."""
        return cls(load_policy(policy_path), TicketStore(db_path(state_directory)), clock=clock)

    def _use(self, policy: Policy) -> None:
        """Compile a policy into the lookup structures the hot loop uses."""
        self.policy = policy
        self.topology = Topology.build(policy.topology)
        self.classifier = Classifier(policy, self.topology)
        self.router = Router(policy)
        self.maintenance = Maintenance(policy.maintenance, self.topology)
        rc = policy.root_cause
        self._window = rc.correlation_window_seconds
        self._same_node = rc.same_node
        self._root_cleared = rc.resolve_when == "root_cleared"
        self._auto = rc.auto_resolve_after_seconds
        self._max_listed = rc.max_symptoms_listed
        hops = rc.max_hops or 1 << 30
        anc = {
            n: tuple(a for a, h in anc if h <= hops) for n, anc in self.topology.ancestors.items()
        }
        self._grouping.configure(anc, self._window, self._same_node, self._open.values())
        self._depth = self.topology.depth
        self._has_ranks = any(fc.rank for fc in policy.fault_codes)
        self._generation += 1

    def reload(self, policy: Policy) -> None:
        """Swap in a (validated) policy between batches.

        Open tickets stay open with their faults; new events are classified,
        grouped and routed by the new policy, and an open ticket's routing is
        recomputed under it at the ticket's next change.
        """
        self._use(policy)

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
            self._grouping.restore(t)

    def store_cpu_seconds(self) -> float:
        """CPU time used so far by the store's writer process (0 without a store)."""
        return 0.0 if self._writer is None else self._writer.cpu_seconds()

    def close(self) -> None:
        """Write what is queued, then close the store."""
        if self._writer is not None:
            self._writer.close()
        if self._store is not None:
            self._store.close()

    # -- public -----------------------------------------------------------------------------

    def open_tickets(self) -> list[TicketView]:
        """Views of all open tickets (suppressed included), oldest first."""
        return [t.view(t.symptom_views(self._max_listed)) for t in self._open.values()]

    def evaluate(self, batch: Batch) -> EvaluationResult:
        """Apply one batch; idempotent on batch_id.  Returns once the batch is durable."""
        return self.submit(batch).result()

    def submit(self, batch: Batch) -> Pending[EvaluationResult]:
        """Apply one batch in memory and queue its transaction; the result may be handed
        out (the batch acknowledged) once `Pending` is done.  Raises `StoreFailed` after a
        failed commit: the engine is then ahead of its store and must be reopened."""
        writer = self._writer
        if writer is not None and writer.failed is not None:
            raise StoreFailed(f"an earlier commit failed: {writer.failed!r}") from writer.failed
        res = self._seen.get(batch.batch_id)
        if res is not None:  # its first application may still be on its way to disk
            return Pending(res, None if writer is None else writer.barrier())
        # The cyclic GC would run full passes over the large, long-lived engine state every
        # few thousand allocations.  Finished tickets have their cycles broken (retire), so
        # it is paused for the batch and the young generation is collected once after it.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        self._job = None
        try:
            res = self._apply(batch)
        finally:
            if gc_was_enabled:
                gc.enable()
                gc.collect(0)
        return Pending(res, self._job)

    def _apply(self, batch: Batch) -> EvaluationResult:
        self._now = self._clock()
        res = self._result = EvaluationResult(batch_id=batch.batch_id, events=len(batch.events))
        dget = self._depth.get
        evs = batch.events
        # sort keys built in one comprehension, not one key-function call per event
        keys: list[tuple[float | int | str, ...]]
        if self._has_ranks:
            rank = self.classifier.rank
            ranks = {code: rank(code) for code in {e.fault_code for e in evs}}
            keys = [(e.timestamp, dget(e.node_id, 0), ranks[e.fault_code], e.event_id) for e in evs]
        else:
            keys = [(e.timestamp, dget(e.node_id, 0), e.event_id) for e in evs]
        events = [evs[i] for i in sorted(range(len(evs)), key=keys.__getitem__)]
        classify = self.classifier.classify
        plans = self.classifier.plans
        wm = self._watermark
        dropped = 0
        for ev in events:
            plan = (
                None
                if plans is None
                else plans.get((ev.fault_code, ev.node_id, ev.tier, ev.severity))
            )
            c = classify(ev) if plan is None else plan.classify(ev)
            if c is None:
                dropped += 1
                continue
            ts = ev.timestamp
            if ts > wm:
                wm = ts
            if c.clears is not None:
                self._clear(ev, c, ts)
            else:
                self._fault(ev, c, ts)
        res.dropped = dropped
        self._watermark = wm
        self._sweep()
        self._finish()
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
                if c.severity < t.base_severity:
                    t.base_severity = c.severity
                reason = "severity_escalation"
            else:
                reason = "occurrence"
            reasons = self._dirty.get(t)  # _touch, inlined: the most frequent path
            if reasons is None:
                self._dirty[t] = {reason}
            else:
                reasons.add(reason)
            if ts > t.last_activity:
                t.last_activity = ts
            if t.maintenance == "suppressed":
                self._maybe_end_maintenance(t, ts)
            return
        target = self._grouping.target(node, ts)
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
            t.symptoms = None
            t.add_services(self.topology.info(node).services)
            reason = "new_symptoms"
        if f.severity < t.base_severity:
            t.base_severity = f.severity
        t.uncleared += 1
        if node == t.root.key[0]:  # type: ignore[union-attr]
            t.root_uncleared += 1
        self._active[key] = f
        self._dirty_faults[f] = None
        self._node_last[node] = (t, ts)
        self._touch(t, reason, ts)
        if t.maintenance == "suppressed":
            self._maybe_end_maintenance(t, ts)

    def _fid(self) -> int:
        fid = self._next_fid
        self._next_fid += 1
        return fid

    def _open_ticket(self, ev: FaultEvent, c: Classified, key: FaultKey, ts: float) -> None:
        node = key[0]
        fid = self._fid()
        tid = "T-" + hashlib.blake2b(ev.event_id.encode(), digest_size=8).hexdigest()
        t = Ticket(tid, self._now, fid)
        f = Fault(fid, key, t, c.severity, ts, ev.message, ev.event_id, 1 + ev.duplicates)
        t.root = f
        t.faults[key] = f
        t.uncleared = t.root_uncleared = 1
        t.base_severity = c.severity
        info = self.topology.info(node)
        t.category = c.category
        t.title = c.description or f"{ev.fault_code} on {node}"
        t.tier = ev.tier or info.tier
        t.site = info.site
        t.role = info.role
        t.source = ev.source
        t.attributes = dict(ev.attributes)
        t.services = self.topology.services_below(node)  # shared until one is added
        if self.maintenance:
            w = self.maintenance.window_for(node, ts)
            if w is not None:
                t.window = w.name
                if w.action == "suppress":
                    t.maintenance = "suppressed"
                else:
                    t.maintenance = "downgraded"
                    t.downgrade_by = w.downgrade_by
        t.severity = min(4, t.base_severity + t.downgrade_by)  # routed in emit.py
        self._open[tid] = t
        self._active[key] = f
        self._dirty_faults[f] = None
        self._node_last[node] = (t, ts)
        self._touch(t, "opened", ts)
        self._result.opened += 1
        for child in self._grouping.adoptable(node, ts):
            self._merge(child, t, ts)
        self._grouping.register(t)

    def _merge(self, child: Ticket, parent: Ticket, ts: float) -> None:
        """Adopt a descendant's ticket: its faults become symptoms of `parent`."""
        self._grouping.unregister(child)
        faults = parent.faults
        dirty = self._dirty_faults
        for key, f in child.faults.items():
            f.ticket = parent
            faults[key] = f
            dirty[f] = None
        parent.symptoms = None
        parent.uncleared += child.uncleared
        parent.add_services(child.services)
        if child.base_severity < parent.base_severity:
            parent.base_severity = child.base_severity
        child.state = "merged"
        child.merged_into = parent
        child.updated_at = self._now
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
        t.resolved_at = self._now
        for key, f in t.faults.items():
            if not f.cleared and self._active.get(key) is f:
                del self._active[key]
        self._grouping.unregister(t)
        self._open.pop(t.ticket_id, None)
        self._touch(t, reason, ts)

    def _maybe_end_maintenance(self, t: Ticket, ts: float) -> None:
        if self.maintenance.window_for(t.root.key[0], ts) is None:  # type: ignore[union-attr]
            t.maintenance = "ended"
            self._touch(t, "maintenance_ended", ts)

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
        self._grouping.forget_before(wm - self._window)

    # -- end of batch -------------------------------------------------------------------------

    def _finish(self) -> None:
        res = self._result
        store = self._store
        rows = close_batch(
            self._dirty,
            self._dirty_faults,
            res,
            now=self._now,
            router=self.router,
            generation=self._generation,
            max_listed=self._max_listed,
            want_rows=store is not None,
        )
        res.open_tickets = len(self._open)
        summary = self._seen.add(res)
        self._dirty = {}
        self._dirty_faults = {}
        writer = self._writer
        if writer is not None:
            meta = {"next_fid": str(self._next_fid), "watermark": repr(self._watermark)}
            self._job = writer.submit(res.batch_id, self._now, summary, rows, meta)
            self._since_prune += 1
            if self._since_prune >= self.policy.retention.prune_every_batches:
                self._since_prune = 0
                now, retention = self._clock(), self.policy.retention
                # after the batch's commit, in the writer; the batch is acknowledged
                # once both are done (a failed prune fails the acknowledgement, as before)
                self._job = writer.prune(now, retention)

    def prune(self) -> tuple[int, int]:
        """Delete finished tickets and batch ids past their retention (wall clock);
        returns (tickets, batch ids) deleted.  Runs every `prune_every_batches`."""
        self._since_prune = 0
        if self._store is None:
            return 0, 0
        now, retention = self._clock(), self.policy.retention
        if self._writer is None:  # opening: the writer process does not run yet
            return self._store.prune(now, retention)
        return self._writer.prune(now, retention).wait()

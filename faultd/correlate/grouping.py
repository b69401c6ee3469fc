"""Where a new fault belongs: the engine's grouping indexes.

- ``last[node]``: the ticket that last had activity on a node, and when (event
  time).  A new fault joins the open ticket of its own node (``same_node``) or
  of its nearest ancestor with activity within the correlation window.
- ``pending[ancestor]``: open tickets whose root lies below ``ancestor``; when a
  fault on ``ancestor`` opens a ticket, those opened within the window are
  adopted (children often report before their parent).

Both are pruned by event time (`forget_before`).  Ancestor lists are cut at
``max_hops``.
"""

from __future__ import annotations

from collections.abc import Iterable

from faultd.correlate.state import Ticket


class Grouping:
    """The per-node indexes the engine consults for every new fault."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[Ticket, float]] = {}  # mutated in place, never rebound
        self.pending: dict[str, dict[Ticket, None]] = {}
        self.anc: dict[str, tuple[str, ...]] = {}
        self.window = 30.0
        self.same_node = True

    def configure(
        self,
        anc: dict[str, tuple[str, ...]],
        window: float,
        same_node: bool,
        open_tickets: Iterable[Ticket],
    ) -> None:
        """Use a (new) topology and window; re-index the open tickets' ancestors."""
        self.anc, self.window, self.same_node = anc, window, same_node
        self.pending = {}
        for t in open_tickets:
            self.register(t)

    def target(self, node: str, ts: float) -> Ticket | None:
        """The open ticket a new fault on `node` at `ts` joins, if any."""
        window = self.window
        last = self.last
        if self.same_node:
            e = last.get(node)
            if e is not None and abs(ts - e[1]) <= window:
                t = e[0].live()
                if t.state == "open":
                    return t
        for a in self.anc.get(node, ()):
            e = last.get(a)
            if e is not None and abs(ts - e[1]) <= window:
                t = e[0].live()
                if t.state == "open":
                    return t
        return None

    def adoptable(self, node: str, ts: float) -> list[Ticket]:
        """Open tickets below `node` whose root came within the window of `ts`."""
        pending = self.pending.get(node)
        if not pending:
            return []
        window = self.window
        return [
            t
            for t in pending
            if t.state == "open" and abs(t.root.first_seen - ts) <= window  # type: ignore[union-attr]
        ]

    def restore(self, t: Ticket) -> None:
        """Index an open ticket read back from the store."""
        for f in t.faults.values():
            prev = self.last.get(f.key[0])
            if prev is None or prev[1] <= f.last_seen:
                self.last[f.key[0]] = (t, f.last_seen)
        self.register(t)

    def register(self, t: Ticket) -> None:
        for a in self.anc.get(t.root.key[0], ()):  # type: ignore[union-attr]
            self.pending.setdefault(a, {})[t] = None

    def unregister(self, t: Ticket) -> None:
        for a in self.anc.get(t.root.key[0], ()):  # type: ignore[union-attr]
            p = self.pending.get(a)
            if p is not None:
                p.pop(t, None)
                if not p:
                    del self.pending[a]

    def forget_before(self, horizon: float) -> None:
        """Drop entries older than `horizon` (event time) or of tickets no longer open."""
        last = self.last
        for n in [n for n, e in last.items() if e[1] < horizon or e[0].live().state != "open"]:
            del last[n]
        for a, p in list(self.pending.items()):
            for t in [t for t in p if t.root.first_seen < horizon]:  # type: ignore[union-attr]
                del p[t]
            if not p:
                del self.pending[a]

"""Ticket routing: the policy's routing tree, compiled and memoised.

`Router.route(subject)` walks the tree: children are tried in order, the first
match is descended into and ends the search unless it says ``continue: true``;
a node whose children all miss is itself a target.

`Router.route_ticket(ticket)` is what the engine calls.  When no route looks at
the message or attributes, the targets depend only on the fields the routes
name (typically fault code, role/site/tier and severity), so they are memoised
on exactly those fields: a storm of one alarm type routes with one dict hit.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from faultd.correlate.matchers import Subject, compile_match, used_fields
from faultd.correlate.policy import Policy, Route
from faultd.correlate.state import Ticket
from faultd.correlate.tickets import RouteTarget

# the ticket fields a memo key can be built from, in the order of `_fields`
_KEYABLE = ("fault_code", "node", "tier", "site", "role", "category", "severity", "source")
_MEMO_LIMIT = 100_000


def _fields(t: Ticket) -> tuple[Any, ...]:
    root = t.root
    assert root is not None
    return (root.key[1], root.key[0], t.tier, t.site, t.role, t.category, t.severity, t.source)


class Router:
    """The compiled routing tree of a policy."""

    def __init__(self, policy: Policy) -> None:
        self._queues = policy.queues
        self._root = policy.routing
        self._compiled: dict[int, Callable[[Subject], bool]] = {}
        used: set[str] = set()
        self._compile(self._root, used)
        self._memo: dict[Any, tuple[RouteTarget, ...]] | None = None
        self._key: Callable[[tuple[Any, ...]], Any] = lambda fields: ()
        if used <= set(_KEYABLE):
            self._memo = {}
            idx = [i for i, f in enumerate(_KEYABLE) if f in used]
            if idx:
                self._key = itemgetter(*idx)

    def _compile(self, route: Route, used: set[str]) -> None:
        self._compiled[id(route)] = compile_match(route.match)
        used |= used_fields(route.match)
        for child in route.routes:
            self._compile(child, used)

    def route_ticket(self, t: Ticket) -> list[RouteTarget]:
        """Targets for a ticket (by its root fault and current severity)."""
        memo = self._memo
        if memo is None:
            return self.route(subject_of(t))
        key = self._key(_fields(t))
        targets = memo.get(key)
        if targets is None:
            targets = tuple(self.route(subject_of(t)))
            if len(memo) < _MEMO_LIMIT:
                memo[key] = targets
        return list(targets)

    def route(self, s: Subject) -> list[RouteTarget]:
        """Targets for a subject (a ticket's root), primary first, never empty."""
        out: list[RouteTarget] = []
        root = self._root
        self._walk(root, s, root.queue or "default", root.priority, root.group, out)
        seen: set[str] = set()
        return [t for t in out if not (t.queue in seen or seen.add(t.queue))]  # type: ignore[func-returns-value]

    def _walk(
        self,
        route: Route,
        s: Subject,
        queue: str,
        priority: int | None,
        group: str | None,
        out: list[RouteTarget],
    ) -> None:
        matched_child = False
        for child in route.routes:
            if not self._compiled[id(child)](s):
                continue
            matched_child = True
            q = child.queue or queue
            p = child.priority if child.priority is not None else priority
            g = child.group if child.group is not None else group
            if child.queue is not None and child.priority is None:
                p = None  # a new queue brings its own default priority
            if child.queue is not None and child.group is None:
                g = None
            self._walk(child, s, q, p, g, out)
            if not child.continue_:
                break
        if not matched_child:
            spec = self._queues.get(queue)
            if spec is None:
                return
            out.append(
                RouteTarget(
                    queue=queue,
                    priority=priority if priority is not None else spec.priority,
                    group=group if group is not None else spec.group,
                    webhook=spec.webhook,
                )
            )


def subject_of(t: Ticket) -> Subject:
    """The Subject a ticket is routed (and maintenance-checked) as: its root fault."""
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

"""Per-event policy: vendor fault-code table, rules, clear pairing; and ticket routing.

`Classifier.classify(event)` returns a `Classified` (severity and category after
the fault-code table and rules, whether it is a clear and of which fault, and
the fault's identity key), or None when a rule drops the event.  Results that
depend only on fault code, node, tier, severity and source are memoised, so a
storm of one alarm type costs a dict lookup per event.

`Router.route(subject)` walks the routing tree: children are tried in order,
the first match is descended into and ends the search unless it says
``continue: true``; a node whose children all miss is itself a target.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultd.correlate.matchers import Subject, attribute, compile_match, uses_only
from faultd.correlate.policy import ClearRule, Policy, Route
from faultd.correlate.tickets import RouteTarget
from faultd.correlate.topology import Topology
from faultd.event import FaultEvent

_MEMO_FIELDS = frozenset({"fault_code", "node", "tier", "site", "role", "category", "severity"})
_MEMO_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Classified:
    """An event as the engine sees it after classification."""

    severity: int
    category: str
    description: str
    clears: str | None  # fault code this event clears, None for a fault
    key: str  # identity of the fault (e.g. the ifIndex), "" when none


@dataclass(frozen=True, slots=True)
class _Clear:
    rule: ClearRule
    fault: Callable[[Subject], bool]
    clear: Callable[[Subject], bool]
    key_regex: re.Pattern[str] | None
    fault_code_hint: Callable[[str], bool]


class Classifier:
    """Applies fault_codes, rules and clears of a policy to events."""

    def __init__(self, policy: Policy, topology: Topology) -> None:
        self._topology = topology
        self._codes = [
            (re.compile(fnmatch.translate(fc.match)).match, fc) for fc in policy.fault_codes
        ]
        self._code_memo: dict[str, tuple[int | None, str, str]] = {}
        self._rank_memo: dict[str, int] = {}
        self._rules = [(compile_match(r.match), r) for r in policy.rules]
        self._rules_memoisable = all(uses_only(r.match, _MEMO_FIELDS) for r in policy.rules)
        self._rule_memo: dict[tuple[str, str, str, int], tuple[bool, int, str]] = {}
        self._clears = [self._compile_clear(c) for c in policy.clears]
        self._clear_memo: dict[str, list[_Clear]] = {}
        self._attr_clear = policy.attribute_clears

    @staticmethod
    def _compile_clear(rule: ClearRule) -> _Clear:
        fcs = [m.fault_code for m in (rule.fault, rule.clear)]
        hints = [compile_match(type(rule.fault)(fault_code=fc)) for fc in fcs if fc is not None]
        if len(hints) < 2:
            hint: Callable[[str], bool] = lambda code: True  # noqa: E731
        else:

            def hint(code: str) -> bool:
                s = Subject(node="", fault_code=code, severity=0)
                return any(h(s) for h in hints)

        return _Clear(
            rule,
            compile_match(rule.fault),
            compile_match(rule.clear),
            re.compile(rule.key_regex) if rule.key_regex else None,
            hint,
        )

    def _code_info(self, fault_code: str) -> tuple[int | None, str, str]:
        info = self._code_memo.get(fault_code)
        if info is None:
            info = (None, "", "")
            for match, fc in self._codes:
                if match(fault_code):
                    info = (fc.severity, fc.category, fc.description)
                    break
            if len(self._code_memo) < _MEMO_LIMIT:
                self._code_memo[fault_code] = info
        return info

    def rank(self, fault_code: str) -> int:
        """Tie-break rank of a fault code (fault_codes[].rank; 0 when unlisted)."""
        rank = self._rank_memo.get(fault_code)
        if rank is None:
            rank = next((fc.rank for m, fc in self._codes if m(fault_code)), 0)
            if len(self._rank_memo) < _MEMO_LIMIT:
                self._rank_memo[fault_code] = rank
        return rank

    def _apply_rules(self, s: Subject) -> tuple[bool, int, str]:
        drop = False
        for pred, rule in self._rules:
            if pred(s):
                if rule.action == "drop":
                    drop = True
                    break
                if rule.set.severity is not None:
                    s.severity = rule.set.severity
                if rule.set.category is not None:
                    s.category = rule.set.category
                if rule.stop:
                    break
        return drop, s.severity, s.category

    def subject(self, ev: FaultEvent, severity: int, category: str) -> Subject:
        info = self._topology.info(ev.node_id)
        return Subject(
            node=ev.node_id,
            fault_code=ev.fault_code,
            severity=severity,
            tier=ev.tier or info.tier,
            site=info.site,
            role=info.role,
            category=category,
            message=ev.message,
            source=ev.source,
            attributes=ev.attributes,
        )

    def classify(self, ev: FaultEvent) -> Classified | None:
        """Classify one event; None means a rule dropped it."""
        sev_override, category, description = self._code_info(ev.fault_code)
        severity = sev_override if sev_override is not None else ev.severity
        if self._rules:
            if self._rules_memoisable:
                mkey = (ev.fault_code, ev.node_id, ev.tier, severity)
                res = self._rule_memo.get(mkey)
                if res is None:
                    res = self._apply_rules(self.subject(ev, severity, category))
                    if len(self._rule_memo) < _MEMO_LIMIT:
                        self._rule_memo[mkey] = res
            else:
                res = self._apply_rules(self.subject(ev, severity, category))
            if res[0]:
                return None
            severity, category = res[1], res[2]
        return self._pair(ev, severity, category, description)

    def _pair(self, ev: FaultEvent, severity: int, category: str, desc: str) -> Classified:
        candidates = self._clear_memo.get(ev.fault_code)
        if candidates is None:
            candidates = [c for c in self._clears if c.fault_code_hint(ev.fault_code)]
            if len(self._clear_memo) < _MEMO_LIMIT:
                self._clear_memo[ev.fault_code] = candidates
        if candidates:
            s = self.subject(ev, severity, category)
            for c in candidates:
                if c.clear(s):
                    return Classified(severity, category, desc, _cleared_code(c, ev), _key(c, ev))
                if c.fault(s):
                    return Classified(severity, category, desc, None, _key(c, ev))
        attrs = ev.attributes
        key = _attr_key(attrs, self._attr_clear.key_attributes) if attrs else ""
        cleared = attrs.get(self._attr_clear.attribute) if attrs else None
        if cleared:
            return Classified(severity, category, desc, str(cleared), key)
        return Classified(severity, category, desc, None, key)


def _cleared_code(c: _Clear, ev: FaultEvent) -> str:
    code = c.rule.fault.fault_code
    if isinstance(code, str) and not code.startswith("re:") and not any(x in code for x in "*?["):
        return code
    return ev.fault_code  # pattern: the clear names the fault by the same code


def _attr_key(attrs: dict[str, Any], names: list[str]) -> str:
    parts = []
    for name in names:
        value = attribute(attrs, name)
        if value is not None:
            parts.append(f"{name}={value}")
    return ",".join(parts)


def _key(c: _Clear, ev: FaultEvent) -> str:
    if c.key_regex is not None:
        m = c.key_regex.search(ev.message)
        if m:
            return m.groupdict().get("key") or m.group(0)
        return ""
    return _attr_key(ev.attributes, c.rule.key_attributes)


class Router:
    """The compiled routing tree of a policy."""

    def __init__(self, policy: Policy) -> None:
        self._queues = policy.queues
        self._root = policy.routing
        self._compiled: dict[int, Callable[[Subject], bool]] = {}
        self._compile(self._root)

    def _compile(self, route: Route) -> None:
        self._compiled[id(route)] = compile_match(route.match)
        for child in route.routes:
            self._compile(child)

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

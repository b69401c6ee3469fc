"""Per-event policy: vendor fault-code table, rules, clear pairing; and ticket routing.

`Classifier.classify(event)` returns a `Classified` (severity and category after
the fault-code table and rules, whether it is a clear and of which fault, and
the fault's identity key), or None when a rule drops the event.  When rules and
clear pairings look only at fault code, node (site, role), tier, severity and
category, everything but the identity key is decided once per (fault code, node,
tier, severity) — a `_Plan` — so a storm of one alarm type costs a dict lookup
and a key read per event.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultd.correlate.matchers import Subject, attribute, compile_match, uses_only
from faultd.correlate.policy import ClearRule, Policy
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
    memoisable: bool  # fault and clear matches look only at fields a plan is keyed on


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
        self._clears = [self._compile_clear(c) for c in policy.clears]
        # per (fault_code, node, tier, severity) plans, when rules only look at those
        self.plans: dict[tuple[str, str, str, int], _Plan] | None = (
            {} if self._rules_memoisable else None
        )
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
            uses_only(rule.fault, _MEMO_FIELDS) and uses_only(rule.clear, _MEMO_FIELDS),
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
        plans = self.plans
        if plans is None:
            return self._classify(ev)
        pkey = (ev.fault_code, ev.node_id, ev.tier, ev.severity)
        plan = plans.get(pkey)
        if plan is None:
            plan = self._plan(ev)
            if len(plans) < _MEMO_LIMIT:
                plans[pkey] = plan
        return plan.classify(ev)

    def _rules_for(self, ev: FaultEvent) -> tuple[bool, int, str, str]:
        """drop?, severity, category, description after the fault-code table and rules."""
        sev_override, category, description = self._code_info(ev.fault_code)
        severity = sev_override if sev_override is not None else ev.severity
        if self._rules:
            drop, severity, category = self._apply_rules(self.subject(ev, severity, category))
            if drop:
                return True, severity, category, description
        return False, severity, category, description

    def _classify(self, ev: FaultEvent) -> Classified | None:
        drop, severity, category, description = self._rules_for(ev)
        return None if drop else self._pair(ev, severity, category, description)

    def _candidates(self, fault_code: str) -> list[_Clear]:
        candidates = self._clear_memo.get(fault_code)
        if candidates is None:
            candidates = [c for c in self._clears if c.fault_code_hint(fault_code)]
            if len(self._clear_memo) < _MEMO_LIMIT:
                self._clear_memo[fault_code] = candidates
        return candidates

    def _plan(self, ev: FaultEvent) -> _Plan:
        drop, severity, category, description = self._rules_for(ev)
        plan = _Plan(self, severity, category, description, drop)
        candidates = self._candidates(ev.fault_code)
        if drop or not candidates:
            return plan
        if not all(c.memoisable for c in candidates):
            plan.per_event = True
            return plan
        s = self.subject(ev, severity, category)
        for c in candidates:
            if c.clear(s):
                plan.rule, plan.clears = c, _cleared_code(c, ev)
                break
            if c.fault(s):
                plan.rule = c
                break
        return plan

    def _pair(self, ev: FaultEvent, severity: int, category: str, desc: str) -> Classified:
        candidates = self._candidates(ev.fault_code)
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


class _Plan:
    """What classification decided for one (fault code, node, tier, severity): only the
    identity key (and, for attribute clears, the cleared code) is left to read per event.
    The resulting `Classified` values are shared per key."""

    __slots__ = (
        "category",
        "classifier",
        "clears",
        "description",
        "drop",
        "memo",
        "per_event",
        "rule",
        "severity",
    )

    def __init__(
        self, classifier: Classifier, severity: int, category: str, description: str, drop: bool
    ) -> None:
        self.classifier = classifier
        self.severity = severity
        self.category = category
        self.description = description
        self.drop = drop
        self.per_event = False  # a clear rule looks at message/attributes: pair per event
        self.rule: _Clear | None = None  # the clear rule that matched (as fault or clear)
        self.clears: str | None = None  # the fault code cleared, when the rule matched as clear
        self.memo: dict[tuple[str, str | None], Classified] = {}

    def classify(self, ev: FaultEvent) -> Classified | None:
        if self.drop:
            return None
        if self.per_event:
            return self.classifier._pair(ev, self.severity, self.category, self.description)
        rule = self.rule
        if rule is not None:
            key, clears = _key(rule, ev), self.clears
        else:
            attrs = ev.attributes
            if attrs:
                ac = self.classifier._attr_clear
                key = _attr_key(attrs, ac.key_attributes)
                cleared = attrs.get(ac.attribute)
                clears = str(cleared) if cleared else None
            else:
                key, clears = "", None
        mkey = (key, clears)
        c = self.memo.get(mkey)
        if c is None:
            c = Classified(self.severity, self.category, self.description, clears, key)
            if len(self.memo) < 4096:
                self.memo[mkey] = c
        return c


def _cleared_code(c: _Clear, ev: FaultEvent) -> str:
    code = c.rule.fault.fault_code
    if isinstance(code, str) and not code.startswith("re:") and not any(x in code for x in "*?["):
        return code
    return ev.fault_code  # pattern: the clear names the fault by the same code


def _attr_key(attrs: dict[str, Any], names: list[str]) -> str:
    if len(names) == 1:  # the usual case (ifIndex): one lookup, exact name first
        name = names[0]
        value = attrs.get(name)
        if value is None:
            value = attribute(attrs, name)
        return "" if value is None else f"{name}={value}"
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

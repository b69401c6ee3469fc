"""Compiled matchers: policy `Match` blocks turned into fast predicates.

A pattern is a glob (fnmatch, case-sensitive), ``re:<regex>`` (searched), or a
list of either (any matches).  Severity accepts 2, "<=2", ">=3", [1, 2] or a
name ("critical", "major", "minor", "warning").  The subject a match sees is a
`Subject`: the event's fields plus what the topology knows about its node.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

from faultd.correlate.policy import Match, Pattern

StrPred = Callable[[str], bool]

SEVERITY_NAMES = {"critical": 1, "major": 2, "minor": 3, "warning": 4}


class Subject:
    """What a Match is evaluated against (one event, or a ticket's root)."""

    __slots__ = (
        "attributes",
        "category",
        "fault_code",
        "message",
        "node",
        "role",
        "severity",
        "site",
        "source",
        "tier",
    )

    def __init__(
        self,
        *,
        node: str,
        fault_code: str,
        severity: int,
        tier: str = "",
        site: str = "",
        role: str = "",
        category: str = "",
        message: str = "",
        source: str = "",
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.node = node
        self.fault_code = fault_code
        self.severity = severity
        self.tier = tier
        self.site = site
        self.role = role
        self.category = category
        self.message = message
        self.source = source
        self.attributes: Mapping[str, Any] = attributes or {}


def compile_pattern(pattern: Pattern) -> StrPred:
    """Compile a glob / ``re:`` regex / list of them into a predicate (raises re.error)."""
    items = [pattern] if isinstance(pattern, str) else list(pattern)
    preds: list[StrPred] = []
    for item in items:
        if item.startswith("re:"):
            preds.append(re.compile(item[3:]).search)  # type: ignore[arg-type]
        elif any(c in item for c in "*?["):
            preds.append(re.compile(fnmatch.translate(item)).match)  # type: ignore[arg-type]
        else:
            preds.append(item.__eq__)
    if len(preds) == 1:
        return preds[0]
    return lambda s: any(p(s) for p in preds)


def compile_severity(spec: int | str | list[int]) -> Callable[[int], bool]:
    """Compile a severity condition; raises ValueError on a bad spec."""
    if isinstance(spec, list):
        allowed = frozenset(spec)
        return allowed.__contains__
    if isinstance(spec, int):
        return spec.__eq__
    text = spec.strip().lower()
    if text in SEVERITY_NAMES:
        return SEVERITY_NAMES[text].__eq__
    m = re.fullmatch(r"(<=|>=|<|>|==)?\s*(\d|critical|major|minor|warning)", text)
    if not m:
        raise ValueError(f"bad severity condition {spec!r}")
    op, value_text = m.group(1) or "==", m.group(2)
    value = SEVERITY_NAMES.get(value_text) or int(value_text)
    ops: dict[str, Callable[[int], bool]] = {
        "<=": lambda s: s <= value,
        ">=": lambda s: s >= value,
        "<": lambda s: s < value,
        ">": lambda s: s > value,
        "==": lambda s: s == value,
    }
    return ops[op]


def attribute(attrs: Mapping[str, Any], name: str) -> Any:
    """Look an attribute up by exact name, else by MIB-qualified (``X::name``) or instance
    (``name.3``) form, so ``ifIndex`` finds ``IF-MIB::ifIndex.3``.  None when absent."""
    value = attrs.get(name)
    if value is not None:
        return value
    for key, val in attrs.items():
        short = key.rsplit("::", 1)[-1]
        if short == name or short.split(".", 1)[0] == name:
            return val
    return None


_STR_FIELDS = ("fault_code", "node", "tier", "site", "role", "category", "message", "source")


def _field_check(field: str, pred: StrPred) -> Callable[[Subject], bool]:
    def check(s: Subject) -> bool:
        return pred(getattr(s, field))

    return check


def compile_match(match: Match) -> Callable[[Subject], bool]:
    """Compile a Match block into one predicate over a Subject (empty Match matches all)."""
    checks: list[Callable[[Subject], bool]] = []
    for field in _STR_FIELDS:
        pattern = getattr(match, field)
        if pattern is not None:
            checks.append(_field_check(field, compile_pattern(pattern)))
    if match.severity is not None:
        sev = compile_severity(match.severity)
        checks.append(lambda s: sev(s.severity))
    for name, pattern in match.attributes.items():
        pred = compile_pattern(pattern)

        def check(s: Subject, n: str = name, p: StrPred = pred) -> bool:
            value = attribute(s.attributes, n)
            return value is not None and p(str(value))

        checks.append(check)
    if not checks:
        return lambda s: True
    if len(checks) == 1:
        return checks[0]
    return lambda s: all(c(s) for c in checks)


def used_fields(match: Match) -> set[str]:
    """The Subject fields a Match looks at ("attributes" for any attribute)."""
    used = {f for f in (*_STR_FIELDS, "severity") if getattr(match, f) is not None}
    if match.attributes:
        used.add("attributes")
    return used


def uses_only(match: Match, fields: frozenset[str]) -> bool:
    """True when the Match looks only at the given fields (lets callers memoise results)."""
    return used_fields(match) <= fields

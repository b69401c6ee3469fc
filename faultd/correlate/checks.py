"""Semantic checks of a parsed policy (what the schema's types cannot say).

Each problem is one ``yaml.path: message`` string: patterns that do not
compile, unknown nodes and queues, dependency cycles, bad time zones and times.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfoNotFoundError

from faultd.correlate.maintenance import DAYS, compile_window
from faultd.correlate.matchers import compile_match
from faultd.correlate.policy import Match, Policy, Route
from faultd.correlate.topology import find_cycle


def _check_match(match: Match, where: str, errors: list[str]) -> None:
    try:
        compile_match(match)
    except (re.error, ValueError) as exc:
        errors.append(f"{where}: {exc}")


def _check_route(route: Route, where: str, policy: Policy, errors: list[str]) -> None:
    _check_match(route.match, f"{where}.match", errors)
    if route.queue is not None and route.queue not in policy.queues:
        errors.append(f"{where}.queue: unknown queue {route.queue!r}")
    if route.priority is not None and route.priority < 1:
        errors.append(f"{where}.priority: must be >= 1")
    for i, child in enumerate(route.routes):
        _check_route(child, f"{where}.routes[{i}]", policy, errors)


def check_policy(policy: Policy) -> list[str]:
    """All semantic problems of a policy; empty when it is usable."""
    errors: list[str] = []
    topo = policy.topology
    known = {n.lower() for n in topo.nodes}
    for link in topo.links:
        known.update(x.lower() for x in link)
    for name, node in topo.nodes.items():
        for j, parent in enumerate(node.parents):
            if parent.lower() not in known:
                errors.append(f"topology.nodes.{name}.parents[{j}]: unknown node {parent!r}")
    for i, link in enumerate(topo.links):
        if len(link) != 2:
            errors.append(f"topology.links[{i}]: a link is a pair [a, b]")
    cycle = find_cycle({n.lower(): [p.lower() for p in s.parents] for n, s in topo.nodes.items()})
    if cycle:
        errors.append(f"topology.nodes: dependency cycle {' -> '.join(cycle)}")
    for name, svc in topo.services.items():
        if svc.endpoints and len(svc.endpoints) != 2:
            errors.append(f"topology.services.{name}.endpoints: needs exactly two nodes")
        for j, n in enumerate([*svc.path, *svc.endpoints]):
            if n.lower() not in known:
                errors.append(f"topology.services.{name}: unknown node {n!r} (item {j})")
    for i, fc in enumerate(policy.fault_codes):
        if fc.severity is not None and not 1 <= fc.severity <= 4:
            errors.append(f"fault_codes[{i}].severity: must be 1..4")
    for i, rule in enumerate(policy.rules):
        _check_match(rule.match, f"rules[{i}].match", errors)
        if rule.set.severity is not None and not 1 <= rule.set.severity <= 4:
            errors.append(f"rules[{i}].set.severity: must be 1..4")
    for i, clear in enumerate(policy.clears):
        _check_match(clear.fault, f"clears[{i}].fault", errors)
        _check_match(clear.clear, f"clears[{i}].clear", errors)
        if clear.key_regex is not None:
            try:
                re.compile(clear.key_regex)
            except re.error as exc:
                errors.append(f"clears[{i}].key_regex: {exc}")
    rc = policy.root_cause
    if rc.correlation_window_seconds <= 0:
        errors.append("root_cause.correlation_window_seconds: must be > 0")
    if rc.max_hops < 0:
        errors.append("root_cause.max_hops: must be >= 0")
    if rc.auto_resolve_after_seconds is not None and rc.auto_resolve_after_seconds <= 0:
        errors.append("root_cause.auto_resolve_after_seconds: must be > 0 or null")
    ret = policy.retention
    for name in ("resolved_tickets_seconds", "batch_ids_seconds", "prune_every_batches"):
        if getattr(ret, name) <= 0:
            errors.append(f"retention.{name}: must be > 0")
    for i, mw in enumerate(policy.maintenance):
        where = f"maintenance[{i}]"
        if (mw.once is None) == (mw.recurring is None):
            errors.append(f"{where}: needs exactly one of `once` or `recurring`")
            continue
        if mw.recurring is not None:
            for j, d in enumerate(mw.recurring.days):
                if d.lower()[:3] not in DAYS:
                    errors.append(f"{where}.recurring.days[{j}]: unknown day {d!r}")
        sc = mw.scope
        if sc.node is None and sc.site is None and sc.subtree is None:
            errors.append(f"{where}.scope: needs node, site or subtree")
        if sc.subtree is not None and sc.subtree.lower() not in known:
            errors.append(f"{where}.scope.subtree: unknown node {sc.subtree!r}")
        try:
            compile_match(Match(node=sc.node, site=sc.site))
            window = compile_window(mw)
            if window.start is not None and window.end is not None and window.end <= window.start:
                errors.append(f"{where}.once: end must be after start")
        except ZoneInfoNotFoundError:
            errors.append(f"{where}.timezone: unknown time zone {mw.timezone!r}")
        except (ValueError, KeyError, re.error) as exc:
            errors.append(f"{where}: {exc}")
    for name, q in policy.queues.items():
        if q.priority < 1:
            errors.append(f"queues.{name}.priority: must be >= 1")
    if policy.routing.queue is None:
        errors.append("routing.queue: the root route needs a queue")
    _check_route(policy.routing, "routing", policy, errors)
    return errors

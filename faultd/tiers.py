"""Tier selection: which accumulator tier a node belongs to (first matching rule wins).

A tier's `match` list holds node_id globs (`core-*`) and CIDRs (`10.0.0.0/16`, which
match a node_id that is an IP address).  Results are cached per node_id: a network
has a bounded set of nodes, and this runs for every event.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence

from faultd.config import TierConfig

_CACHE_LIMIT = 200_000
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TierMatcher:
    __slots__ = ("_cache", "_fallback", "_rules")

    def __init__(self, tiers: Sequence[TierConfig]) -> None:
        rules: list[tuple[str, re.Pattern[str] | None, list[_Network]]] = []
        for tier in tiers:
            globs = [p.lower() for p in tier.match if "/" not in p]
            nets = [ipaddress.ip_network(p, strict=False) for p in tier.match if "/" in p]
            regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
            rules.append((tier.name, regex, nets))
        self._rules = rules
        self._fallback = tiers[-1].name
        self._cache: dict[str, str] = {}

    def tier_for(self, node_id: str) -> str:
        tier = self._cache.get(node_id)
        if tier is None:
            tier = self._match(node_id)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[node_id] = tier
        return tier

    def _match(self, node_id: str) -> str:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        try:
            address = ipaddress.ip_address(node_id)
        except ValueError:
            address = None
        for name, regex, nets in self._rules:
            if regex is not None and regex.match(node_id):
                return name
            if address is not None and any(address in net for net in nets):
                return name
        # No rule matched: the last tier takes it (documented; usually a "*" catch-all).
        return self._fallback

"""Source address allowlists (`allowed_sources` CIDRs), cached per sender address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

_CACHE_LIMIT = 100_000


class SourceFilter:
    __slots__ = ("_cache", "_networks")

    def __init__(self, cidrs: Sequence[str]) -> None:
        self._networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._cache: dict[str, bool] = {}

    @property
    def allows_all(self) -> bool:
        return not self._networks

    def allowed(self, address: str) -> bool:
        if not self._networks:
            return True
        verdict = self._cache.get(address)
        if verdict is None:
            verdict = self._check(address)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = verdict
        return verdict

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._networks)

"""Socket address types shared by the sources, the raw ring and the normalisers."""

from __future__ import annotations

from typing import TypeAlias

# What a datagram socket reports as the sender: (host, port) for IPv4, (host, port,
# flowinfo, scope_id) for IPv6.  Spelled out (not tuple[str, int]) because the
# compiled modules (faultd.native) check argument types at run time.
SocketAddress: TypeAlias = tuple[str, int] | tuple[str, int, int, int]

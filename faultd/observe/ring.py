"""The raw ring: the last N datagrams exactly as received, kept before parsing.

When a device sends something that parses wrong, the ring holds the evidence:
bytes, sender address and port, receive time and which listener took it.
`faultd ring dump FILE` (or SIGUSR2, or GET /debug/ring) writes it as JSON lines
that `faultd replay --from FILE` sends again, byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faultd.addresses import SocketAddress


@dataclass(frozen=True, slots=True)
class RawDatagram:
    received_at: float
    source: str  # "syslog" | "snmp" | "syslog-tcp"
    address: str
    port: int
    data: bytes

    def to_json(self) -> str:
        return json.dumps({"t": self.received_at, "source": self.source, "addr": self.address,
                           "port": self.port, "data": base64.b64encode(self.data).decode()})

    @classmethod
    def from_json(cls, line: str) -> RawDatagram:
        row = json.loads(line)
        return cls(float(row["t"]), str(row["source"]), str(row["addr"]), int(row["port"]),
                   base64.b64decode(row["data"]))


class RawRing:
    __slots__ = ("_items",)

    def __init__(self, capacity: int) -> None:
        # The address tuple is kept as the transport gave it: unpacking it here, per
        # datagram, cost more than the rest of append.
        self._items: deque[tuple[float, str, SocketAddress, bytes]] = deque(maxlen=capacity)

    @property
    def capacity(self) -> int:
        return self._items.maxlen or 0

    def append(self, received_at: float, source: str, addr: SocketAddress, data: bytes) -> None:
        self._items.append((received_at, source, addr, data))

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> list[RawDatagram]:
        return [RawDatagram(received_at, source, addr[0], addr[1], data)
                for received_at, source, addr, data in list(self._items)]

    def dump(self, path: Path) -> int:
        """Write the ring to `path` (0600) as JSON lines; returns the datagram count."""
        items = self.snapshot()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for item in items:
                f.write(item.to_json() + "\n")
        return len(items)


def render(items: Iterable[RawDatagram]) -> str:
    return "".join(item.to_json() + "\n" for item in items)


def read_dump(path: Path) -> Iterator[RawDatagram]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield RawDatagram.from_json(line)

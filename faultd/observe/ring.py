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
    """Fixed slots, overwritten in turn: append stores four references and makes no
    object of its own (a tuple per datagram cost an allocation, a GC-tracked
    survivor and a cold free 10,000 datagrams later)."""

    __slots__ = ("_addresses", "_capacity", "_count", "_data", "_next", "_sources", "_times")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._times: list[float] = [0.0] * capacity
        self._sources: list[str] = [""] * capacity
        self._addresses: list[SocketAddress] = [("", 0)] * capacity
        self._data: list[bytes] = [b""] * capacity
        self._next = 0
        self._count = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def append(self, received_at: float, source: str, addr: SocketAddress, data: bytes) -> None:
        i = self._next
        if i >= self._capacity:
            return  # capacity 0
        self._times[i] = received_at
        self._sources[i] = source
        self._addresses[i] = addr
        self._data[i] = data
        self._next = i + 1 if i + 1 < self._capacity else 0
        if self._count < self._capacity:
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def snapshot(self) -> list[RawDatagram]:
        """The datagrams held, oldest first."""
        start = (self._next - self._count) % self._capacity if self._capacity else 0
        order = [(start + k) % self._capacity for k in range(self._count)]
        return [RawDatagram(self._times[i], self._sources[i], self._addresses[i][0],
                            self._addresses[i][1], self._data[i]) for i in order]

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

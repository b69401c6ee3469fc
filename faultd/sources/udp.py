"""UDP listening sockets and the bounded datagram protocol every UDP source uses.

The receive path is a plain `asyncio.DatagramProtocol` (no wrapper library; see
DESIGN.md's dependency table): `datagram_received` hands bytes straight to the
source's handler, which must not block.  Sockets get a large receive buffer so
bursts are absorbed by the kernel, not lost: SO_RCVBUFFORCE where permitted
(root or CAP_NET_ADMIN), else SO_RCVBUF up to net.core.rmem_max, with a warning
when the kernel gave less than asked.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from faultd.addresses import SocketAddress
from faultd.config import parse_hostport
from faultd.observe.quietlog import QuietLogger

log = logging.getLogger("faultd.sources")
quiet = QuietLogger(log)

RECEIVE_BUFFER_BYTES = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

DatagramHandler = Callable[[bytes, SocketAddress], None]


class DatagramSource(asyncio.DatagramProtocol):
    __slots__ = ("handler", "name", "transport")

    def __init__(self, name: str, handler: DatagramHandler) -> None:
        self.name = name
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport does not subclass asyncio.DatagramTransport; same interface.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: SocketAddress) -> None:
        self.handler(data, addr)

    def error_received(self, exc: Exception) -> None:
        quiet.warning(f"udp-error:{self.name}", "%s socket error: %s", self.name, exc)

    def sendto(self, data: bytes, addr: SocketAddress) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)


def set_receive_buffer(sock: socket.socket, size: int = RECEIVE_BUFFER_BYTES) -> int:
    """Grow the socket's receive buffer; returns what the kernel granted."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles it
    if granted < size:
        log.warning("UDP receive buffer is %d bytes, wanted %d: raise net.core.rmem_max "
                    "(packaging ships a sysctl.d file) or bursts may be lost", granted, size)
    return granted


def bind_udp(listen: str, *, reuse_port: bool = False) -> socket.socket:
    """Create and bind a non-blocking UDP socket for "host:port" ("[::]:port" is dual-stack)."""
    host, port = parse_hostport(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR: on Linux it lets a second process bind the same UDP port
        # and silently take part of the traffic.  A second faultd must fail loudly.
        # SO_REUSEPORT is only for our own receive workers (same user, on purpose).
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        set_receive_buffer(sock)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def open_datagram_source(
    name: str, sock: socket.socket, handler: DatagramHandler
) -> DatagramSource:
    loop = asyncio.get_running_loop()
    protocol = DatagramSource(name, handler)
    await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
    return protocol

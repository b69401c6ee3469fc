"""Syslog over TCP (RFC 6587) and TLS (RFC 5425): frames in, one callback per message.

Each connection detects its framing from its first byte: a digit means
octet-counting (`LEN SP MSG`), anything else (normally `<`) means
non-transparent framing with LF as trailer (CRLF and NUL trailers accepted too).
No frame is ever buffered beyond `max_message_size`: an oversized octet count
is refused (counted, connection closed); an over-long LF frame is discarded up
to its trailer and counted.  Idle connections are closed after `idle_timeout`;
connections beyond `max_connections` are refused and counted.

Backpressure: when `has_capacity()` is False, every connection stops reading
(transport.pause_reading, so TCP flow control pushes back on senders) and is
resumed once it returns True again (polled every 20 ms).  Nothing accepted is
dropped.  Uses asyncio.Protocol rather than streams for speed; works on uvloop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Final, cast

from faultd.addresses import SocketAddress

__all__ = ["SyslogTcpServer", "make_server_ssl_context"]

_RESUME_POLL_SECONDS: Final = 0.02
_MAX_LENGTH_DIGITS: Final = 10
_LF: Final = 0x0A
_NUL: Final = 0x00


def make_server_ssl_context(
    certfile: str, keyfile: str, cafile: str | None = None
) -> ssl.SSLContext:
    """A TLS server context for RFC 5425; with `cafile`, clients must present a cert."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class SyslogTcpServer:
    """An RFC 6587 syslog listener; call `await start(host, port)`, then `await close()`."""

    def __init__(
        self,
        on_message: Callable[[bytes, SocketAddress], None],
        has_capacity: Callable[[], bool],
        *,
        max_message_size: int = 65536,
        idle_timeout: float = 300.0,
        max_connections: int = 256,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_message_size < 1:
            raise ValueError("max_message_size must be >= 1")
        self.on_message = on_message
        self.has_capacity = has_capacity
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self.connections_total = 0
        self.connections_refused = 0
        self.frames_too_large = 0
        self.framing_errors = 0
        self.messages_total = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_SyslogTcpConnection] = set()
        self._paused: set[_SyslogTcpConnection] = set()
        self._resume_handle: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int, *, sock: socket.socket | None = None) -> None:
        """Bind and start accepting; port 0 picks a free port (see `port`).

        `sock` is an already-listening socket (systemd socket activation) used
        instead of binding host:port.
        """
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(
                lambda: _SyslogTcpConnection(self), sock=sock, ssl=self.ssl_context, backlog=256)
            return
        self._server = await loop.create_server(
            lambda: _SyslogTcpConnection(self), host, port, ssl=self.ssl_context, backlog=256
        )

    @property
    def sockets(self) -> tuple[object, ...]:
        """The listening sockets (empty before start)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The bound TCP port of the first listening socket."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        """Stop listening and close every connection (frames already delivered stay delivered)."""
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # --- called by connections --------------------------------------------
    def _register(self, conn: _SyslogTcpConnection) -> bool:
        if len(self._connections) >= self.max_connections:
            self.connections_refused += 1
            return False
        self.connections_total += 1
        self._connections.add(conn)
        return True

    def _unregister(self, conn: _SyslogTcpConnection) -> None:
        self._connections.discard(conn)
        self._paused.discard(conn)

    def _pause(self, conn: _SyslogTcpConnection) -> None:
        self._paused.add(conn)
        if self._resume_handle is None:
            loop = asyncio.get_running_loop()
            self._resume_handle = loop.call_later(_RESUME_POLL_SECONDS, self._poll_resume)

    def _poll_resume(self) -> None:
        self._resume_handle = None
        if not self._paused:
            return
        if not self.has_capacity():
            loop = asyncio.get_running_loop()
            self._resume_handle = loop.call_later(_RESUME_POLL_SECONDS, self._poll_resume)
            return
        paused, self._paused = self._paused, set()
        for conn in paused:
            conn.resume()


class _SyslogTcpConnection(asyncio.Protocol):
    """One TCP connection: framing state machine over a bytearray buffer."""

    __slots__ = (
        "_buffer",
        "_discarding",
        "_framing",
        "_idle_handle",
        "_last_activity",
        "_paused",
        "_peer",
        "_server",
        "_transport",
    )

    def __init__(self, server: SyslogTcpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._framing: str | None = None  # "octet" | "lf", decided by the first byte
        self._discarding = False  # inside an over-long LF frame
        self._peer: SocketAddress = ("", 0)
        self._paused = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._last_activity = 0.0

    # --- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport
        if not self._server._register(self):
            transport.abort()
            self._transport = None
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer = (str(peer[0]), int(peer[1]))
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        if self._server.idle_timeout > 0:
            self._idle_handle = loop.call_later(self._server.idle_timeout, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if self._transport is not None:
            self._server._unregister(self)
            self._transport = None
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        self._last_activity = asyncio.get_running_loop().time()
        self._buffer += data
        self._drain()

    def eof_received(self) -> bool | None:
        # A final LF frame without trailer still counts as a message (RFC 6587 §3.4.2).
        if self._framing == "lf" and self._buffer and not self._discarding:
            frame = bytes(self._buffer).rstrip(b"\r\x00")
            self._buffer.clear()
            if frame:
                self._deliver(frame)
        return None  # close the transport

    # --- internals ---------------------------------------------------------
    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def resume(self) -> None:
        self._paused = False
        if self._transport is None:
            return
        self._drain()
        if not self._paused and self._transport is not None:
            self._transport.resume_reading()

    def _check_idle(self) -> None:
        self._idle_handle = None
        if self._transport is None:
            return
        loop = asyncio.get_running_loop()
        idle_for = loop.time() - self._last_activity
        timeout = self._server.idle_timeout
        if self._paused:
            idle_for = 0.0  # we are the slow side, not the peer
        if idle_for >= timeout:
            self._transport.close()
        else:
            self._idle_handle = loop.call_later(timeout - idle_for, self._check_idle)

    def _deliver(self, frame: bytes) -> None:
        self._server.messages_total += 1
        self._server.on_message(frame, self._peer)

    def _protocol_error(self, too_large: bool) -> None:
        if too_large:
            self._server.frames_too_large += 1
        else:
            self._server.framing_errors += 1
        self._buffer.clear()
        if self._transport is not None:
            self._transport.close()

    def _drain(self) -> None:
        """Deliver every complete frame in the buffer, honouring backpressure."""
        buf = self._buffer
        server = self._server
        limit = server.max_message_size
        while buf and self._transport is not None:
            if not server.has_capacity():
                if not self._paused:
                    self._paused = True
                    self._transport.pause_reading()
                    server._pause(self)
                return
            if self._framing is None:
                self._framing = "octet" if 0x30 <= buf[0] <= 0x39 else "lf"
            if self._framing == "octet":
                space = buf.find(b" ", 0, _MAX_LENGTH_DIGITS + 1)
                if space < 0:
                    if len(buf) > _MAX_LENGTH_DIGITS or not bytes(buf).isdigit():
                        self._protocol_error(too_large=False)
                    return
                digits = bytes(buf[:space])
                if not digits.isdigit() or digits[0] == 0x30:
                    self._protocol_error(too_large=False)
                    return
                length = int(digits)
                if length > limit:
                    self._protocol_error(too_large=True)
                    return
                end = space + 1 + length
                if len(buf) < end:
                    return
                frame = bytes(buf[space + 1 : end])
                del buf[:end]
                self._deliver(frame)
            else:
                newline = buf.find(_LF)
                nul = buf.find(_NUL)
                if nul >= 0 and (newline < 0 or nul < newline):
                    newline = nul
                if newline < 0:
                    if len(buf) > limit:
                        if not self._discarding:
                            server.frames_too_large += 1
                            self._discarding = True
                        buf.clear()
                    return
                if self._discarding:
                    self._discarding = False
                    del buf[: newline + 1]
                    continue
                frame = bytes(buf[:newline])
                del buf[: newline + 1]
                if frame.endswith(b"\r"):
                    frame = frame[:-1]
                if len(frame) > limit:
                    server.frames_too_large += 1
                    continue
                if frame:
                    self._deliver(frame)

"""SyslogTcpServer over real loopback sockets, with util-linux `logger` as the client."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from faultd.parse.syslog import parse_syslog
from faultd.sources.syslog_tcp import SyslogTcpServer, make_server_ssl_context

pytestmark = pytest.mark.skipif(shutil.which("logger") is None, reason="needs util-linux logger")

Received = list[tuple[bytes, tuple[str, int]]]


async def _wait_for(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait (bounded) until condition() holds; fails the test on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def received_and_server() -> AsyncIterator[tuple[Received, SyslogTcpServer]]:
    received: Received = []
    server = SyslogTcpServer(lambda data, peer: received.append((data, peer)), lambda: True)
    await server.start("127.0.0.1", 0)
    yield received, server
    await server.close()


async def _logger(port: int, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), *args
    )
    assert await proc.wait() == 0


@pytest.mark.parametrize("mode", ["--rfc3164", "--rfc5424"])
@pytest.mark.parametrize("octet_count", [False, True])
async def test_logger_messages_arrive_whole(
    received_and_server: tuple[Received, SyslogTcpServer], mode: str, octet_count: bool
) -> None:
    received, server = received_and_server
    extra = ["--octet-count"] if octet_count else []
    for n in range(3):
        await _logger(server.port, mode, *extra, "-t", "faultdtest", "-p", "local7.err", f"m{n}")
    await _wait_for(lambda: len(received) == 3)
    for n, (frame, peer) in enumerate(received):
        assert peer[0] == "127.0.0.1"
        msg = parse_syslog(frame, received_at=0.0, default_tz=datetime.UTC)
        assert msg.format == mode[2:]
        assert (msg.facility, msg.severity) == (23, 3)
        assert msg.app_name == "faultdtest"
        assert msg.message == f"m{n}"
    assert server.connections_total == 3
    assert server.framing_errors == 0


async def _send(port: int, payload: bytes) -> bytes:
    """Send raw bytes, half-close, and return whatever the server sends back (b"" on close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 10)
    except OSError:  # the server refused/reset the connection
        data = b""
    writer.close()
    return data


async def test_mixed_trailers_and_final_frame_without_trailer(
    received_and_server: tuple[Received, SyslogTcpServer],
) -> None:
    received, server = received_and_server
    await _send(server.port, b"<13>a one\n<13>b two\r\n<13>c three\x00<13>d four")
    await _wait_for(lambda: len(received) == 4)
    assert [f for f, _ in received] == [b"<13>a one", b"<13>b two", b"<13>c three", b"<13>d four"]


async def test_octet_counting_split_across_writes(
    received_and_server: tuple[Received, SyslogTcpServer],
) -> None:
    received, server = received_and_server
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    frame = b"<13>1 - host app - - - contains\nnewline"
    wire = str(len(frame)).encode() + b" " + frame
    for i in range(0, len(wire), 7):
        writer.write(wire[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    await _wait_for(lambda: len(received) == 1)
    assert received[0][0] == frame
    writer.close()


async def test_oversized_octet_count_is_refused_and_counted() -> None:
    received: Received = []
    server = SyslogTcpServer(
        lambda d, p: received.append((d, p)), lambda: True, max_message_size=100
    )
    await server.start("127.0.0.1", 0)
    try:
        await _send(server.port, b"5 <13>x" + b"101 " + b"y" * 101)
        await _wait_for(lambda: server.frames_too_large == 1)
        assert [f for f, _ in received] == [b"<13>x"]
        await _wait_for(lambda: server.active_connections == 0)
    finally:
        await server.close()


async def test_overlong_lf_frame_is_discarded_and_counted() -> None:
    received: Received = []
    server = SyslogTcpServer(
        lambda d, p: received.append((d, p)), lambda: True, max_message_size=100
    )
    await server.start("127.0.0.1", 0)
    try:
        await _send(server.port, b"<13>ok1\n<13>" + b"z" * 5000 + b"\n<13>ok2\n")
        await _wait_for(lambda: len(received) == 2)
        assert [f for f, _ in received] == [b"<13>ok1", b"<13>ok2"]
        assert server.frames_too_large == 1
    finally:
        await server.close()


async def test_garbage_octet_count_is_a_framing_error(
    received_and_server: tuple[Received, SyslogTcpServer],
) -> None:
    received, server = received_and_server
    await _send(server.port, b"12x <13>nope")
    await _wait_for(lambda: server.framing_errors == 1)
    assert received == []


async def test_idle_connection_is_closed() -> None:
    server = SyslogTcpServer(lambda d, p: None, lambda: True, idle_timeout=0.2)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # server closed it
        writer.close()
        assert server.active_connections == 0
    finally:
        await server.close()


async def test_connection_limit_refuses_and_counts() -> None:
    received: Received = []
    server = SyslogTcpServer(lambda d, p: received.append((d, p)), lambda: True, max_connections=2)
    await server.start("127.0.0.1", 0)
    try:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        await _wait_for(lambda: server.active_connections == 2)
        await _send(server.port, b"<13>refused\n")
        await _wait_for(lambda: server.connections_refused == 1)
        assert received == []
        held[0][1].write(b"<13>kept\n")
        await _wait_for(lambda: len(received) == 1)
        for _, writer in held:
            writer.close()
    finally:
        await server.close()


async def test_backpressure_pauses_then_delivers_everything() -> None:
    received: Received = []
    capacity = {"open": False}
    server = SyslogTcpServer(lambda d, p: received.append((d, p)), lambda: capacity["open"])
    await server.start("127.0.0.1", 0)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        lines = [f"<13>msg {n}".encode() for n in range(2000)]
        writer.write(b"\n".join(lines) + b"\n")
        await asyncio.sleep(0.3)  # give the server every chance to (wrongly) consume
        assert received == []
        capacity["open"] = True
        await writer.drain()
        await _wait_for(lambda: len(received) == len(lines))
        assert [f for f, _ in received] == lines
        writer.close()
    finally:
        await server.close()


async def test_backpressure_mid_stream_loses_nothing() -> None:
    received: Received = []
    budget = {"left": 50}

    def on_message(data: bytes, peer: tuple[str, int]) -> None:
        received.append((data, peer))
        budget["left"] -= 1

    server = SyslogTcpServer(on_message, lambda: budget["left"] > 0)
    await server.start("127.0.0.1", 0)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        lines = [f"<13>n{n}".encode() for n in range(300)]
        writer.write(b"".join(b"%d %s" % (len(x), x) for x in lines))
        await _wait_for(lambda: len(received) == 50)
        await asyncio.sleep(0.1)
        assert len(received) == 50
        while len(received) < len(lines):
            budget["left"] = 50
            await _wait_for(lambda: budget["left"] == 0 or len(received) == len(lines))
        assert [f for f, _ in received] == lines
        writer.close()
    finally:
        await server.close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_rfc5425(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    received: Received = []
    server = SyslogTcpServer(
        lambda d, p: received.append((d, p)),
        lambda: True,
        ssl_context=make_server_ssl_context(str(cert), str(key)),
    )
    await server.start("127.0.0.1", 0)
    try:
        client = ssl.create_default_context(cafile=str(cert))
        _, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=client, server_hostname="127.0.0.1"
        )
        frames = [b"<165>1 2026-01-01T00:00:00Z h app - - - tls one", b"<13>tls two"]
        writer.write(b"".join(b"%d %s" % (len(f), f) for f in frames))
        await writer.drain()
        await _wait_for(lambda: len(received) == 2)
        assert [f for f, _ in received] == frames
        writer.close()
        # A plaintext client gets nothing through.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as plain:
            plain.sendall(b"<13>plaintext\n")
        await asyncio.sleep(0.1)
        assert len(received) == 2
    finally:
        await server.close()


def test_runs_on_uvloop_with_logger() -> None:
    """Production runs on uvloop: same framing and backpressure path there."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        received: Received = []
        capacity = {"open": False}
        server = SyslogTcpServer(lambda d, p: received.append((d, p)), lambda: capacity["open"])
        await server.start("127.0.0.1", 0)
        try:
            await _logger(server.port, "--rfc5424", "--octet-count", "-t", "uv", "one")
            await _logger(server.port, "--rfc3164", "-t", "uv", "two")
            await asyncio.sleep(0.1)
            assert received == []
            capacity["open"] = True
            await _wait_for(lambda: len(received) == 2)
            messages = {
                parse_syslog(f, received_at=0.0, default_tz=datetime.UTC).message
                for f, _ in received
            }
            assert messages == {"one", "two"}
        finally:
            await server.close()

    uvloop.run(scenario())

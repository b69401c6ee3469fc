"""Test helpers: a UDP receiver loop around SnmpReceiver and net-snmp client commands."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from faultd.snmp.receiver import ReceiveResult, SnmpReceiver

HAVE_NETSNMP = shutil.which("snmptrap") is not None and shutil.which("snmpinform") is not None
needs_netsnmp = pytest.mark.skipif(not HAVE_NETSNMP, reason="net-snmp snmptrap/snmpinform missing")

LINKDOWN_VARBINDS = (
    "1.3.6.1.2.1.2.2.1.1.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.7.2", "i", "1",
    "1.3.6.1.2.1.2.2.1.8.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.2.2", "s", "eth0",
)  # fmt: skip


def udp_socket(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(0.05)
    return sock


def target(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"udp6:[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


@dataclass
class Served:
    """What the harness saw while one client command ran."""

    returncode: int
    results: list[ReceiveResult] = field(default_factory=list)
    datagrams: list[bytes] = field(default_factory=list)
    stderr: str = ""

    @property
    def events(self) -> list:  # type: ignore[type-arg]
        return [e for r in self.results for e in r.events]

    @property
    def rejections(self) -> list[str]:
        return [r.rejected for r in self.results if r.rejected]


def serve(
    receiver: SnmpReceiver | None,
    sock: socket.socket,
    argv: Sequence[str],
    *,
    timeout: float = 10.0,
    settle: float = 0.0,
) -> Served:
    """Run a net-snmp client; feed each datagram it sends to receiver, send responses back."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    served = Served(returncode=-1)
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    while time.monotonic() < deadline:
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            if proc.poll() is not None:
                if exited_at is None:
                    exited_at = time.monotonic()
                if time.monotonic() - exited_at >= settle:
                    break
            continue
        served.datagrams.append(data)
        if receiver is None:
            continue
        result = receiver.receive(data, addr[:2], time.time())
        served.results.append(result)
        if result.response is not None:
            sock.sendto(result.response, addr)
    else:
        proc.kill()
    _, err = proc.communicate(timeout=5)
    served.returncode = proc.returncode
    served.stderr = err.decode(errors="replace")
    return served


def capture(argv: Sequence[str], sock: socket.socket) -> bytes:
    """Run a net-snmp client once and return the one datagram it sent."""
    served = serve(None, sock, argv)
    assert served.datagrams, f"no datagram from {argv}: {served.stderr}"
    return served.datagrams[0]

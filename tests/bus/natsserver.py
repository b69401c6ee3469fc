"""Real nats-server child processes on loopback for the bus tests (JetStream on, temp store).

`NatsServer` runs one server; `cluster(tmp, 3)` three with routes to each other.
Servers are started with `start()` and always reaped with `stop()`/`kill()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats

BINARY = Path(sys.executable).parent / "nats-server"


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    def __init__(self, tmp: Path, name: str = "n1", *, port: int | None = None,
                 jetstream: bool = True, cluster_port: int | None = None,
                 routes: list[int] | None = None, extra: str = "") -> None:
        self.name = name
        self.port = port or free_tcp_port()
        self.dir = tmp / f"nats-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "server.conf"
        self.log_path = self.dir / "server.log"
        lines = [f"listen: 127.0.0.1:{self.port}", f"server_name: {name}"]
        if jetstream:
            lines.append(f'jetstream {{ store_dir: "{self.dir / "js"}", max_memory_store: 64MB, '
                         'max_file_store: 1GB }')
        if cluster_port is not None:
            route_urls = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes or [])
            lines.append(f"cluster {{ name: faultd, listen: 127.0.0.1:{cluster_port}, "
                         f"routes: [{route_urls}] }}")
        if extra:
            lines.append(extra)
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([str(BINARY), "-c", str(self.conf)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"nats-server exited:\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nats-server not listening:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Graceful stop (SIGTERM), reaped."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """Crash (SIGKILL), reaped."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def cluster(tmp: Path, size: int = 3) -> list[NatsServer]:
    ports = [free_tcp_port() for _ in range(size)]
    return [NatsServer(tmp, f"n{i + 1}", cluster_port=ports[i],
                       routes=[p for j, p in enumerate(ports) if j != i])
            for i in range(size)]


async def wait_jetstream(urls: list[str], replicas: int = 1, timeout: float = 20.0) -> None:
    """Wait until JetStream answers and can place a stream with `replicas` (meta leader up)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            nc = await nats.connect(urls, connect_timeout=1, max_reconnect_attempts=0,
                                    allow_reconnect=False)
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.2)
            continue
        try:
            js = nc.jetstream(timeout=2)
            await js.add_stream(name="PROBE", subjects=["probe.x"], num_replicas=replicas)
            await js.delete_stream("PROBE")
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.3)
        finally:
            await nc.close()
    raise AssertionError(f"JetStream not ready: {last!r}")

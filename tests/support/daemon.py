"""Run a real faultd daemon in the test's event loop (sockets on 127.0.0.1, port 0),
or as a subprocess for signal and lifecycle tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from faultd.config import config_from_mapping
from faultd.daemon import Daemon


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def base_config(state: Path, endpoint: str | None, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "state_directory": str(state),
        "collector_name": "test-collector",
        "snmp": {"listen": None},
        "syslog": {"listen": "127.0.0.1:0"},
        "metrics": {"listen": "127.0.0.1:0"},
        "dispatch": {"endpoint": endpoint, "retry": {"initial_backoff_seconds": 0.05,
                                                     "max_backoff_seconds": 0.5}},
        "accumulator": {"tiers": [{"name": "all", "match": ["*"], "window_seconds": 1.0,
                                   "max_batch_size": 1000}]},
    }
    return deep_merge(raw, overrides)


@contextlib.asynccontextmanager
async def running_daemon(tmp_path: Path, raw: dict[str, Any]) -> AsyncIterator[Daemon]:
    path = tmp_path / "faultd.yaml"
    path.write_text(yaml.safe_dump(raw))
    daemon = Daemon(path, config_from_mapping(raw), install_signals=False)
    await daemon.start()
    try:
        yield daemon
    finally:
        if not daemon.stop_event.is_set():
            daemon.stop_event.set()
            await daemon.shutdown()


def udp_sender(address: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect(address)
    return sock


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DaemonProcess:
    """`faultd run --config PATH` as a child process, stderr captured to a file.

    Every instance is remembered in `started`; the autouse fixture in conftest.py
    kills whatever is still running after each test, so a failing test never
    leaks a daemon into the next one.
    """

    started: list[DaemonProcess] = []

    def __init__(self, tmp_path: Path, raw: dict[str, Any], name: str = "faultd") -> None:
        self.config_path = tmp_path / f"{name}.yaml"
        self.log_path = tmp_path / f"{name}.log"
        self.write_config(raw)
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, raw: dict[str, Any] | str) -> None:
        text = raw if isinstance(raw, str) else yaml.safe_dump(raw)
        self.config_path.write_text(text)
        os.chmod(self.config_path, 0o600)

    def start(self, env: dict[str, str] | None = None) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faultd", "run", "--config", str(self.config_path)],
            stdout=log, stderr=log, env={**os.environ, **(env or {})})
        DaemonProcess.started.append(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_log(self, text: str, timeout: float = 15.0, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log()[after:]:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"faultd exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.log()}")
            await asyncio.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"faultd did not exit within {timeout}s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

"""Tests of faultd.systemd against real sockets: a Unix datagram socket as
NOTIFY_SOCKET, pre-bound UDP sockets handed to a child process as LISTEN_FDS,
a real datagram socket at journald's path, real credential files."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultd import systemd as fsd

BACKENDS = [
    pytest.param(True, id="systemd-python"),
    pytest.param(False, id="fallback"),
]


class NotifyListener:
    """A bound AF_UNIX datagram socket that records (monotonic time, message)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def messages(self, settle: float = 0.1) -> list[str]:
        time.sleep(settle)
        return [m for _, m in self.received]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    # short path: AF_UNIX paths are limited to 108 bytes
    directory = tempfile.mkdtemp(prefix="fd-notify-", dir="/tmp")
    listener = NotifyListener(os.path.join(directory, "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    for key in ("WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(key, raising=False)
    yield listener
    listener.close()
    shutil.rmtree(directory, ignore_errors=True)


def make_notifier(use_library: bool) -> fsd.Notifier:
    if use_library and not fsd.HAVE_SYSTEMD_PYTHON:
        pytest.skip("systemd-python not installed")
    return fsd.Notifier(use_systemd_python=use_library)


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


@pytest.mark.parametrize("use_library", BACKENDS)
def test_lifecycle_messages_arrive_in_order(notify: NotifyListener, use_library: bool) -> None:
    n = make_notifier(use_library)
    before = monotonic_usec()
    assert n.ready("listening on 0.0.0.0:162")
    assert n.reloading()
    after = monotonic_usec()
    assert n.ready("reloaded")
    assert n.status("rx 12/s, queue 3\nsecond line")
    assert n.watchdog()
    assert n.extend_timeout(2.5)
    assert n.stopping("flushing")

    msgs = notify.messages()
    assert len(msgs) == 7, msgs
    assert msgs[0] == "READY=1\nSTATUS=listening on 0.0.0.0:162"
    reload_fields = dict(line.split("=", 1) for line in msgs[1].split("\n"))
    assert reload_fields["RELOADING"] == "1"
    assert before <= int(reload_fields["MONOTONIC_USEC"]) <= after
    assert msgs[2] == "READY=1\nSTATUS=reloaded"
    assert msgs[3] == "STATUS=rx 12/s, queue 3 second line"  # one line: newline-safe
    assert msgs[4] == "WATCHDOG=1"
    assert msgs[5] == "EXTEND_TIMEOUT_USEC=2500000"
    assert msgs[6] == "STOPPING=1\nSTATUS=flushing"


def test_fallback_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"faultd-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert fsd.Notifier(use_systemd_python=False).ready()
        assert sock.recv(1024) == b"READY=1"


@pytest.mark.parametrize("use_library", BACKENDS)
def test_no_notify_socket_is_a_quiet_no_op(
    monkeypatch: pytest.MonkeyPatch, use_library: bool
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    n = make_notifier(use_library)
    assert not n.enabled
    assert not n.ready("x")
    assert not n.reloading()
    assert not n.stopping()
    assert not n.watchdog()
    assert n.watchdog_interval() is None

    async def both() -> None:
        stop = asyncio.Event()
        await asyncio.wait_for(n.run(stop), timeout=1)  # returns at once

    asyncio.run(both())


def test_watchdog_interval_honours_usec_and_pid(
    notify: NotifyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = fsd.Notifier()
    assert n.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert n.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert n.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert n.watchdog_interval() is None  # meant for another process
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "garbage")
    assert n.watchdog_interval() is None


@pytest.mark.parametrize("use_library", BACKENDS)
def test_blocked_loop_misses_watchdog_pings(
    notify: NotifyListener, monkeypatch: pytest.MonkeyPatch, use_library: bool
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
    n = make_notifier(use_library)
    assert n.watchdog_interval() == pytest.approx(0.1)
    block = 0.6

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.45, time.sleep, block)  # a callback that blocks the loop
        loop.call_later(1.6, stop.set)
        await asyncio.wait_for(n.watchdog_loop(stop), timeout=5)

    asyncio.run(scenario())
    time.sleep(0.1)
    pings = [t for t, m in notify.received if m == "WATCHDOG=1"]
    assert len(pings) >= 6, pings
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    # the blocked stretch shows as one long gap, at least the blocking time ...
    assert max(gaps) >= block - 0.05, gaps
    # ... while the loop pinged at about its interval otherwise
    normal = sorted(gaps)[: len(gaps) // 2]
    assert max(normal) < 0.3, gaps


def test_status_provider_is_sent_periodically(notify: NotifyListener) -> None:
    n = fsd.Notifier()
    calls = {"n": 0}

    def provider() -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("provider bug")  # logged, loop keeps going
        return f"rx {calls['n']}/s, queue depth 0"

    n.set_status_provider(provider, every=0.05)
    with pytest.raises(ValueError):
        n.set_status_provider(provider, every=0)

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.4, stop.set)
        await asyncio.wait_for(n.run(stop), timeout=5)  # no watchdog: status only

    asyncio.run(scenario())
    statuses = [m for m in notify.messages() if m.startswith("STATUS=")]
    assert statuses[0] == "STATUS=rx 1/s, queue depth 0"
    assert "STATUS=rx 3/s, queue depth 0" in statuses
    assert len(statuses) >= 4, statuses


# --------------------------------------------------------------- socket activation

CHILD = r"""
import json, socket, sys, os
import faultd.systemd as fsd
if sys.argv[1] == "fallback":
    fsd._sd_daemon = None  # exercise the LISTEN_FDS protocol code of our own
port_a, port_b = int(sys.argv[2]), int(sys.argv[3])
socks = fsd.listen_fds()
a = fsd.match_socket(socks, "127.0.0.1", port_a)
b = fsd.match_socket(socks, "127.0.0.1", port_b, socket.SOCK_DGRAM)
out = {
    "fds": [s.fileno() for s in socks],
    "bound": [list(s.getsockname()) for s in socks],
    "a": a.fileno() if a else None,
    "b": b.fileno() if b else None,
    "wrong_port": fsd.match_socket(socks, "127.0.0.1", 1) is not None,
    "wrong_type": fsd.match_socket(socks, "127.0.0.1", port_a, socket.SOCK_STREAM) is not None,
    "env_left": [k for k in ("LISTEN_PID", "LISTEN_FDS") if k in os.environ],
    "second_call": len(fsd.listen_fds()),
}
print(json.dumps(out), flush=True)
got = []
for s in (a, b):
    s.settimeout(5)
    data, peer = s.recvfrom(2048)
    got.append(data.decode())
print(json.dumps(got), flush=True)
"""


@pytest.mark.parametrize("backend", ["systemd-python", "fallback"])
def test_socket_activation_in_child(backend: str) -> None:
    if backend == "systemd-python" and not fsd.HAVE_SYSTEMD_PYTHON:
        pytest.skip("systemd-python not installed")
    sa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sa.bind(("127.0.0.1", 0))
    sb.bind(("127.0.0.1", 0))
    port_a, port_b = sa.getsockname()[1], sb.getsockname()[1]
    # move them well above 4 so dup2 onto 3 and 4 in the child cannot clobber either
    high_a, high_b = os.dup(sa.fileno()), os.dup(sb.fileno())
    moved_a, moved_b = fcntl_dupfd(high_a, 50), fcntl_dupfd(high_b, 51)
    os.close(high_a)
    os.close(high_b)

    def place_fds() -> None:  # runs in the child between fork and exec
        os.dup2(moved_a, 3)
        os.dup2(moved_b, 4)

    env = dict(os.environ, LISTEN_FDS="2", PYTHONPATH=str(Path(__file__).parents[1]))
    env.pop("LISTEN_PID", None)
    proc = subprocess.Popen(
        # LISTEN_PID must be the pid of the process that reads it: the shell's
        # $$ is that pid, because exec keeps it.
        [
            "sh",
            "-c",
            'LISTEN_PID=$$ exec "$0" -c "$1" "$2" "$3" "$4"',
            sys.executable,
            CHILD,
            backend,
            str(port_a),
            str(port_b),
        ],
        pass_fds=(3, 4),
        preexec_fn=place_fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        for fd in (moved_a, moved_b):
            os.close(fd)
        sa.close()
        sb.close()
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, proc.stderr.read() if proc.stderr else ""
        info = json.loads(first)
        assert info["fds"] == [3, 4]
        assert info["bound"] == [["127.0.0.1", port_a], ["127.0.0.1", port_b]]
        assert info["a"] == 3 and info["b"] == 4
        assert info["wrong_port"] is False and info["wrong_type"] is False
        assert info["env_left"] == []
        assert info["second_call"] == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"<13>1 - host app - - - trap-port", ("127.0.0.1", port_a))
            client.sendto(b"<13>1 - host app - - - syslog-port", ("127.0.0.1", port_b))
        second = proc.stdout.readline()
        assert json.loads(second) == [
            "<13>1 - host app - - - trap-port",
            "<13>1 - host app - - - syslog-port",
        ]
        assert proc.wait(10) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(10)


def fcntl_dupfd(fd: int, minimum: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, minimum)


def test_listen_fds_ignores_other_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "2")
    assert fsd.listen_fds() == []
    assert "LISTEN_FDS" not in os.environ


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 on this host")
def test_match_socket_wildcards_and_dual_stack() -> None:
    with contextlib.ExitStack() as stack:
        dual = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        dual.bind(("::", 0))
        port = dual.getsockname()[1]
        v6only = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        v6only.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6only.bind(("::", 0))
        port6 = v6only.getsockname()[1]
        v4 = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        v4.bind(("0.0.0.0", 0))
        port4 = v4.getsockname()[1]
        tcp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        tport = tcp.getsockname()[1]
        socks = [dual, v6only, v4, tcp]

        assert fsd.match_socket(socks, "0.0.0.0", port) is dual  # dual-stack [::]
        assert fsd.match_socket(socks, "::", port) is dual
        assert fsd.match_socket(socks, "[::]", port) is dual
        assert fsd.match_socket(socks, "0.0.0.0", port6) is None  # v6-only misses v4
        assert fsd.match_socket(socks, "::", port6) is v6only
        assert fsd.match_socket(socks, "0.0.0.0", port4) is v4
        assert fsd.match_socket(socks, "", port4) is v4
        assert fsd.match_socket(socks, "127.0.0.1", port4) is None  # not the same bind
        assert fsd.match_socket(socks, "127.0.0.1", tport, socket.SOCK_STREAM) is tcp
        assert fsd.match_socket(socks, "127.0.0.1", tport) is None  # wrong type
        assert fsd.match_socket(socks, "localhost", tport, socket.SOCK_STREAM) is tcp
        assert fsd.match_socket(socks, "no-such-host.invalid", port) is None


# ------------------------------------------------------------------------- journal


def test_journal_handler_only_under_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert fsd.journal_handler() is None
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert fsd.journal_handler() is None  # some other stream, e.g. redirected stderr
    st = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    assert fsd.under_journal()
    if fsd.HAVE_SYSTEMD_PYTHON:
        handler = fsd.journal_handler(logging.INFO)
        assert isinstance(handler, logging.Handler)
        assert handler.level == logging.INFO


JOURNAL_SOCKET = Path("/run/systemd/journal/socket")


@pytest.fixture
def journald_socket() -> Iterator[socket.socket]:
    """A real datagram socket where libsystemd sends journal entries (no journald here)."""
    if JOURNAL_SOCKET.exists():
        pytest.skip("a journald is running on this host; not touching its socket")
    if os.geteuid() != 0:
        pytest.skip("needs root to create /run/systemd/journal")
    created = not JOURNAL_SOCKET.parent.exists()
    JOURNAL_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(JOURNAL_SOCKET))
    sock.settimeout(5)
    try:
        yield sock
    finally:
        sock.close()
        JOURNAL_SOCKET.unlink(missing_ok=True)
        if created:
            shutil.rmtree(JOURNAL_SOCKET.parent, ignore_errors=True)


@pytest.mark.skipif(not fsd.HAVE_SYSTEMD_PYTHON, reason="systemd-python not installed")
def test_extra_fields_become_journal_fields(
    journald_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    handler = fsd.journal_handler(logging.INFO)
    assert handler is not None
    logger = logging.getLogger("faultd.test.journal")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("batch %s sent", "b-1", extra={"FAULTD_BATCH_ID": "b-1"})
    finally:
        logger.removeHandler(handler)
    entry = journald_socket.recv(65536).decode()
    fields = dict(line.split("=", 1) for line in entry.splitlines() if "=" in line)
    assert fields["MESSAGE"] == "batch b-1 sent"
    assert fields["FAULTD_BATCH_ID"] == "b-1"
    assert fields["SYSLOG_IDENTIFIER"] == "faultd"
    assert fields["PRIORITY"] == "6"


# --------------------------------------------------------------------- credentials


def test_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert fsd.credentials_directory() is None
    assert fsd.resolve_credential("snmp-noc-auth") is None
    (tmp_path / "snmp-noc-auth").write_text("authpass123\n")
    (tmp_path / "token").write_text("no-newline")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert fsd.credentials_directory() == tmp_path
    assert fsd.resolve_credential("snmp-noc-auth") == "authpass123"
    assert fsd.resolve_credential("token") == "no-newline"
    assert fsd.resolve_credential("missing") is None
    for bad in ("", "..", "../etc/passwd"):
        with pytest.raises(ValueError):
            fsd.resolve_credential(bad)

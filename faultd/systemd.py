"""systemd integration: sd_notify (readiness, reload, watchdog, status), socket
activation, journald logging and service credentials.

Uses systemd-python (``systemd.daemon``, ``systemd.journal``) when it is
importable and falls back to speaking the (small, stable) protocols itself when
it is not. Everything is a no-op when not running under systemd, so the daemon
can call these helpers unconditionally.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

try:  # pragma: no branch - which arm runs depends on the host
    import systemd.daemon as _sd_daemon
    import systemd.journal as _sd_journal
except ImportError:  # pragma: no cover - exercised on hosts without systemd-python
    _sd_daemon = None
    _sd_journal = None

#: True when systemd-python is importable (notify/listen_fds/journal go through it).
HAVE_SYSTEMD_PYTHON: bool = _sd_daemon is not None

LISTEN_FDS_START = 3

StatusProvider = Callable[[], str]


# --------------------------------------------------------------------------- notify


def _fallback_notify(message: str) -> bool:
    """Send one sd_notify datagram ourselves; return whether it was sent."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # abstract namespace
        path = "\0" + path[1:]
    elif not path.startswith("/"):
        return False  # vsock:... and friends are not for us
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(message.encode("utf-8"), path)
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", path, exc)
            return False
    return True


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _one_line(text: str) -> str:
    """sd_notify is newline separated: a status text must be one line."""
    return " ".join(text.splitlines())


class Notifier:
    """Talks to the service manager over $NOTIFY_SOCKET.

    Every method is a harmless no-op when NOTIFY_SOCKET is unset. The
    environment is read at each call (as sd_notify(3) does), so the daemon can
    build one Notifier at start-up and keep it across reloads.

    Protocol for the daemon: ``ready()`` once listening; on SIGHUP
    ``reloading()`` then, when the new config is in force (or was rejected),
    ``ready()`` again; ``stopping()`` when SIGTERM arrives, and
    ``extend_timeout()`` while a long flush is still making progress.
    """

    def __init__(self, *, use_systemd_python: bool | None = None) -> None:
        if use_systemd_python is None:
            use_systemd_python = HAVE_SYSTEMD_PYTHON
        self._use_library = use_systemd_python and _sd_daemon is not None
        self._status_provider: StatusProvider | None = None
        self._status_every = 10.0

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening (NOTIFY_SOCKET is set)."""
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one datagram; False when not sent."""
        if not self.enabled:
            return False
        message = "\n".join(fields)
        if self._use_library:
            assert _sd_daemon is not None
            return bool(_sd_daemon.notify(message))
        return _fallback_notify(message)

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (start-up finished, or a reload finished), with a status text."""
        fields = ["READY=1"]
        if status is not None:
            fields.append("STATUS=" + _one_line(status))
        return self.notify(*fields)

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC, as systemd >= 253 requires for reloads."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={_monotonic_usec()}")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown started (flush and spill follow)."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append("STATUS=" + _one_line(status))
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """STATUS=<text>, shown by ``systemctl status faultd``."""
        return self.notify("STATUS=" + _one_line(text))

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC: ask for more start/stop time (e.g. a long final flush)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog(self) -> bool:
        """One WATCHDOG=1 keep-alive ping."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of WATCHDOG_USEC), None when no watchdog is due.

        Honours WATCHDOG_PID: a watchdog meant for another process is not ours.
        """
        raw = os.environ.get("WATCHDOG_USEC")
        if not raw or not self.enabled:
            return None
        pid = os.environ.get("WATCHDOG_PID")
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            usec = int(raw)
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2 / 1_000_000

    async def watchdog_loop(self, stop: asyncio.Event) -> None:
        """Ping WATCHDOG=1 every ``watchdog_interval()`` seconds until ``stop`` is set.

        The pings come from the event loop itself: a loop that is blocked or
        starved misses them, and systemd restarts the service. Returns at once
        when there is no watchdog.
        """
        interval = self.watchdog_interval()
        if interval is None:
            return
        while not stop.is_set():
            self.watchdog()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    def set_status_provider(self, provider: StatusProvider | None, every: float = 10.0) -> None:
        """Register a callback whose text (rates, queue depth) ``status_loop`` sends."""
        if every <= 0:
            raise ValueError("every must be > 0")
        self._status_provider = provider
        self._status_every = every

    async def status_loop(self, stop: asyncio.Event) -> None:
        """Send the provider's STATUS every ``every`` seconds until ``stop`` is set."""
        if not self.enabled:
            return
        while not stop.is_set():
            provider = self._status_provider
            if provider is not None:
                try:
                    text = provider()
                except Exception:  # a broken provider must not kill the loop
                    log.exception("status provider failed")
                else:
                    self.status(text)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._status_every):
                    await stop.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Run the watchdog and status loops together until ``stop`` is set."""
        await asyncio.gather(self.watchdog_loop(stop), self.status_loop(stop))


# ---------------------------------------------------------------- socket activation


def _fallback_listen_fds(unset_environment: bool) -> list[int]:
    """The LISTEN_PID/LISTEN_FDS protocol of sd_listen_fds(3)."""
    try:
        pid = int(os.environ.get("LISTEN_PID", ""))
        count = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        count, pid = 0, -1
    if unset_environment:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(key, None)
    if pid != os.getpid() or count <= 0:
        return []
    fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + count))
    for fd in fds:
        os.set_inheritable(fd, False)  # sd_listen_fds sets FD_CLOEXEC too
    return fds


def listen_fds(*, unset_environment: bool = True) -> list[socket.socket]:
    """Sockets passed by systemd socket activation (fd 3 onwards), [] when none.

    Call once at start-up: the environment is cleared (by default) so children
    do not inherit it, and a second call returns [].
    """
    if _sd_daemon is not None:
        fds = [int(fd) for fd in _sd_daemon.listen_fds(unset_environment)]
        if unset_environment:  # libsystemd unsets the C environment, not os.environ
            for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
                os.environ.pop(key, None)
    else:
        fds = _fallback_listen_fds(unset_environment)
    sockets: list[socket.socket] = []
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                log.warning("inherited fd %d is not a socket; ignored", fd)
                continue
            sockets.append(socket.socket(fileno=fd))
        except OSError as exc:
            log.warning("inherited fd %d unusable: %s", fd, exc)
    return sockets


def _candidate_addresses(
    host: str, port: int, kind: int
) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    host = host.strip("[]")
    if host in ("", "*"):
        host = "0.0.0.0"
    try:
        return {ipaddress.ip_address(host.split("%", 1)[0])}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except OSError:
        return set()
    return {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}


def _socket_matches(sock: socket.socket, wanted: set[Any], port: int, kind: int) -> bool:
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != kind:
            return False
        family = sock.family
        if family not in (socket.AF_INET, socket.AF_INET6):
            return False
        bound = sock.getsockname()
    except OSError:
        return False
    if int(bound[1]) != port:
        return False
    addr = ipaddress.ip_address(str(bound[0]).split("%", 1)[0])
    if addr in wanted:
        return True
    if family == socket.AF_INET6:
        assert isinstance(addr, ipaddress.IPv6Address)
        if addr.ipv4_mapped is not None and addr.ipv4_mapped in wanted:
            return True
        if addr.is_unspecified:
            try:
                v6only = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            except OSError:
                v6only = 1
            # a dual-stack [::] socket also receives everything 0.0.0.0 would
            return not v6only and ipaddress.IPv4Address("0.0.0.0") in wanted
    return False


def match_socket(
    sockets: Iterable[socket.socket],
    host: str,
    port: int,
    type: int = socket.SOCK_DGRAM,  # named as in the socket module
) -> socket.socket | None:
    """The inherited socket whose bound address serves ``host:port``, or None.

    ``0.0.0.0:162`` matches a socket bound to 0.0.0.0:162 or to a dual-stack
    [::]:162 (what ``ListenDatagram=162`` creates); ``::`` needs an IPv6
    socket; a name is resolved first. ``type`` is SOCK_DGRAM or SOCK_STREAM.
    """
    wanted = _candidate_addresses(host, port, type)
    if not wanted:
        return None
    for sock in sockets:
        if _socket_matches(sock, wanted, port, type):
            return sock
    return None


# ------------------------------------------------------------------------- journal


def under_journal() -> bool:
    """Whether stderr is connected to journald (JOURNAL_STREAM is stderr's dev:inode)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(2)
        return int(dev) == st.st_dev and int(ino) == st.st_ino
    except (OSError, ValueError):
        return False


def journal_handler(level: int = logging.NOTSET) -> logging.Handler | None:
    """A native journald handler when running under systemd, else None.

    Extra fields on a record (``log.info(..., extra={"FAULTD_BATCH_ID": b})``)
    become journal fields (``journalctl FAULTD_BATCH_ID=...``); use upper-case
    names. None means: keep logging to stderr.
    """
    if _sd_journal is None or not under_journal():
        return None
    handler: logging.Handler = _sd_journal.JournalHandler(level=level, SYSLOG_IDENTIFIER="faultd")
    return handler


# --------------------------------------------------------------------- credentials


def credentials_directory() -> Path | None:
    """$CREDENTIALS_DIRECTORY (LoadCredential=/SetCredential=), None when unset."""
    value = os.environ.get("CREDENTIALS_DIRECTORY")
    if not value:
        return None
    path = Path(value)
    return path if path.is_dir() else None


def resolve_credential(name: str) -> str | None:
    """The text of credential ``name`` (one trailing newline stripped), None if absent.

    The config can reference a credential as
    ``file:/run/credentials/faultd.service/<name>``; this helper is for code
    that wants the value by name.
    """
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid credential name {name!r}")
    directory = credentials_directory()
    if directory is None:
        return None
    try:
        text = (directory / name).read_text(encoding="utf-8")
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            log.warning("credential %s unreadable: %s", name, exc)
        return None
    return text[:-1] if text.endswith("\n") else text

"""Ring dumps and replay: `faultd ring dump` and `faultd replay --from FILE|SPILL_DIR`.

Two kinds of source, one rate limiter:

- A ring dump (JSON lines written by `faultd ring dump`, SIGUSR2 or GET /debug/ring)
  is re-sent datagram by datagram, byte for byte, over UDP.  Each record goes to the
  target for its `source` field ("syslog" and "syslog-tcp" -> the syslog target,
  "snmp" -> the SNMP target).  The sender address is this host's, not the original
  device's: parsers key node_id on the message content (syslog HOSTNAME, v1
  agent-addr), so that is what a replay reproduces; v2c/v3 traps take node_id from
  the sender and will show the replaying host.
- A spill directory is read without acknowledging anything (non-destructive) and
  each pending batch is POSTed to a staging HTTP endpoint with `trigger` set to
  "replay".  The batch keeps its `batch_id`, so `Idempotency-Key` is the same as on
  the original delivery: a staging endpoint that dedups sees a replay of a batch it
  already has as a retry.  Opening the store takes the directory lock, so this
  refuses to run while a daemon owns the directory.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from faultd.observe.ring import RawDatagram, read_dump

if TYPE_CHECKING:
    from faultd.spill.store import SpillStore

Address = tuple[str, int]
SOURCE_TARGET = {"syslog": "syslog", "syslog-tcp": "syslog", "snmp": "snmp"}


class ReplayError(Exception):
    """A replay or dump that cannot start (bad target, locked spill, unreachable URL)."""


# -- targets -----------------------------------------------------------------------------


def parse_hostport_arg(text: str) -> Address:
    """"host:port", "[v6]:port" or "udp://host:port" -> (host, port)."""
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "udp" or not parts.hostname or parts.port is None:
            raise ReplayError(f"{text!r}: expected udp://HOST:PORT")
        return parts.hostname, parts.port
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ReplayError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def ring_url_from_listen(listen: str) -> str:
    """The /debug/ring URL on a metrics listener; wildcard binds are reached on loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/debug/ring"


# -- rate limiting ------------------------------------------------------------------------


@dataclass
class Pacer:
    """Spaces items `1/rate` seconds apart (rate None or <= 0: as fast as possible)."""

    rate: float | None
    now: Callable[[], float] = time.monotonic
    _next: float | None = None

    def delay(self) -> float:
        """Seconds to wait before the next item, and book its slot."""
        if not self.rate or self.rate <= 0:
            return 0.0
        now = self.now()
        start = now if self._next is None else max(now, self._next)
        self._next = start + 1.0 / self.rate
        return start - now


# -- ring dump -------------------------------------------------------------------------------


def fetch_ring(url: str, timeout: float = 10.0) -> bytes:
    """GET /debug/ring from a running faultd; the body is the JSON-lines dump."""
    if not url.rstrip("/").endswith("/debug/ring"):
        url = url.rstrip("/") + "/debug/ring"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise ReplayError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ReplayError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    return body


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600 (also when the file existed with wider bits)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def dump_ring(url: str, path: Path) -> int:
    """Fetch the ring from `url` into `path` (0600); returns the datagram count."""
    body = fetch_ring(url)
    for line in body.decode("utf-8").splitlines():
        if line.strip():
            RawDatagram.from_json(line)  # refuse to write something replay cannot read
    write_private(path, body)
    return sum(1 for line in body.splitlines() if line.strip())


# -- replaying datagrams ------------------------------------------------------------------------


@dataclass
class DatagramReport:
    sent: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # no target for that source

    def text(self) -> str:
        sent = ", ".join(f"{k} {v}" for k, v in sorted(self.sent.items())) or "nothing"
        out = f"sent {sent}"
        if self.skipped:
            out += "; skipped (no target) " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return out


def replay_datagrams(records: Iterable[RawDatagram], targets: dict[str, Address],
                     rate: float | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> DatagramReport:
    """Send each record's exact bytes to the target for its source (see module doc)."""
    report = DatagramReport()
    pacer = Pacer(rate)
    sockets: dict[Address, socket.socket] = {}
    try:
        for record in records:
            kind = SOURCE_TARGET.get(record.source, record.source)
            target = targets.get(kind)
            if target is None:
                report.skipped[record.source] = report.skipped.get(record.source, 0) + 1
                continue
            sock = sockets.get(target)
            if sock is None:
                info = socket.getaddrinfo(target[0], target[1], type=socket.SOCK_DGRAM)[0]
                sock = sockets[target] = socket.socket(info[0], socket.SOCK_DGRAM)
                sock.connect(info[4])
            wait = pacer.delay()
            if wait > 0:
                sleep(wait)
            sock.send(record.data)
            report.sent[record.source] = report.sent.get(record.source, 0) + 1
    finally:
        for sock in sockets.values():
            sock.close()
    return report


def replay_ring_file(path: Path, targets: dict[str, Address],
                     rate: float | None = None) -> DatagramReport:
    return replay_datagrams(read_dump(path), targets, rate)


# -- replaying spilled batches -----------------------------------------------------------------


@dataclass
class SpillReport:
    delivered_batches: int = 0
    delivered_events: int = 0
    failed: str | None = None  # the batch and outcome that stopped the replay

    def text(self) -> str:
        out = (f"replayed {self.delivered_batches} batches ({self.delivered_events} events) "
               "with trigger=replay; nothing acknowledged in the spill directory")
        return out + (f"; stopped: {self.failed}" if self.failed else "")


def open_spill(directory: Path) -> SpillStore:
    """Open an existing spill directory for reading; refuse if a daemon holds its lock."""
    from faultd.spill.store import SpillError, SpillStore

    if not Path(directory).is_dir():
        raise ReplayError(f"{directory}: not a directory")
    try:
        return SpillStore(Path(directory), fsync="never")
    except SpillError as exc:
        raise ReplayError(f"{exc} (stop the daemon, or copy the directory and replay the "
                          "copy)") from None


async def replay_spill(directory: Path, url: str, rate: float | None = None,
                       lanes: Sequence[str] = ("critical", "standard"),
                       headers: dict[str, str] | None = None) -> SpillReport:
    """POST every pending spilled batch to `url` as trigger "replay"; stop at the first failure."""
    from faultd.config import DispatchConfig
    from faultd.dispatch.sinks import HttpSink
    from faultd.event import encode_batch

    store = open_spill(directory)
    sink = HttpSink(DispatchConfig(endpoint=url, headers=headers or {}))
    report = SpillReport()
    pacer = Pacer(rate)
    try:
        for item in store.replay(lanes=lanes):  # never acked: the directory stays as it was
            batch = msgspec.structs.replace(item.batch, trigger="replay")
            wait = pacer.delay()
            if wait > 0:
                await asyncio.sleep(wait)
            outcome = await sink.deliver(batch, encode_batch(batch))
            if outcome.kind != "ok":
                report.failed = (f"batch {batch.batch_id}: {outcome.kind} "
                                 f"{outcome.status or ''} {outcome.detail}".strip())
                break
            report.delivered_batches += 1
            report.delivered_events += batch.event_count
    finally:
        store.close()
        await sink.close()
    return report

"""Load generator: pre-built datagrams at a controlled rate, from several sender processes.

Bounded in count and time, loopback only.  Each sender process pre-builds its
datagrams, then sends in 1 ms slices: at every slice it sends exactly as many as
the elapsed time allows at its share of the rate (so the offered rate is precise
on average and bursts are at most one slice long).  Senders may bind distinct
loopback source addresses (127.0.1.x) so traps come from distinct "devices", may
each aim at their own target (the 80/20 syslog/trap mix is 4 syslog senders and
one trap sender), and may be pinned to CPUs.  A slice goes out in sendmmsg(2)
calls of up to MMSG_BATCH datagrams, each call on the next source socket (one
Python call per batch instead of per datagram: the generator takes less of the
CPUs it shares with the receiver under test; faultd and the peers alike).

Datagram builders (all pre-built before the clock starts):
- syslog_datagrams: the shared vendor corpus (tests/data/syslog/vendor-lines.txt,
  60 real lines from Cisco IOS/XR/NX-OS, Junos, Huawei, Arista, Nokia, RFC examples),
  each made distinct by a sequence token;
- capture_net_snmp_traps: real net-snmp `snmptrap` encodings (v2c, or v3 authPriv
  with V3_ARGS), captured off a loopback socket;
- flap_datagrams: a flapping storm (Cisco %LINK-3-UPDOWN on N interfaces);
- replay (time-driven, not rate-driven): real alarm timestamps at a speed-up.

    python bench/load.py --kind syslog --rate 50000 --seconds 5 --port 5514
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "data" / "syslog" / "vendor-lines.txt"
LOOPBACK_ONLY = ("127.", "::1")
# Source sockets per sender process (see _sender): 2 processes x 64 = 128 flows, so
# the kernel's SO_REUSEPORT hash splits them about evenly over faultd's workers, as
# a network of many devices would (with 16 flows one worker got 56-64 % of the load).
SOCKETS = 64
MMSG_BATCH = 32  # datagrams per sendmmsg(2) call (see MmsgSender)
MARK = b"seq00000000"  # ifAlias in captured traps, rewritten by distinct_traps()

# SNMPv3 authPriv: the same user and engine in faultd's config and snmptrapd's createUser.
V3_USER = "benchuser"
V3_ENGINE = "0x80001f8880e1d2c3b4a5968778"
V3_AUTH = ("SHA", "bench-auth-pass")
V3_PRIV = ("AES", "bench-priv-pass")
# -Z: every capture claims the same engine boots/time, as one agent's traps within a
# few seconds would (otherwise each snmptrap run bumps its boots counter, and a
# receiver that tracks the engine's boots - snmptrapd does - rejects the older ones as
# notInTimeWindow; receivers accept them until their clock estimate runs 150 s ahead).
V3_ARGS = ["-v3", "-u", V3_USER, "-l", "authPriv", "-a", V3_AUTH[0], "-A", V3_AUTH[1],
           "-x", V3_PRIV[0], "-X", V3_PRIV[1], "-e", V3_ENGINE, "-Z", "1,1000"]


def corpus_lines() -> list[str]:
    return [ln for ln in CORPUS.read_text(encoding="utf-8").splitlines() if ln.strip()]


def with_severity(line: str, severity: int) -> str:
    """The line with its PRI severity replaced (facility kept; PRI added if missing)."""
    if line.startswith("<") and ">" in line[:5]:
        pri, rest = line[1:].split(">", 1)
        return f"<{int(pri) // 8 * 8 + severity}>{rest}"
    return f"<{184 + severity}>{line}"


def syslog_datagrams(count: int, seed: int = 0, severity: int | None = None) -> list[bytes]:
    """Real vendor lines (the shared corpus), each made distinct by a sequence token.
    With `severity`, every line's PRI carries that syslog severity."""
    lines = corpus_lines()
    if severity is not None:
        lines = [with_severity(ln, severity) for ln in lines]
    return [f"{lines[i % len(lines)]} seq={seed}-{i}".encode() for i in range(count)]


def capture_net_snmp_traps(count: int, extra_args: list[str] | None = None) -> list[bytes]:
    """Let net-snmp's `snmptrap` encode `count` distinct linkDown traps; capture the bytes."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    port = sink.getsockname()[1]
    out: list[bytes] = []
    args = extra_args or ["-v2c", "-c", "public"]
    env = {**os.environ, "SNMPCONFPATH": "/nonexistent", "MIBS": ""}
    for i in range(count):
        subprocess.run(
            ["snmptrap", *args, f"127.0.0.1:{port}", "", "1.3.6.1.6.3.1.1.5.3",
             f"1.3.6.1.2.1.2.2.1.1.{i + 1}", "i", str(i + 1),
             f"1.3.6.1.2.1.2.2.1.2.{i + 1}", "s", f"GigabitEthernet0/{i + 1}",
             f"1.3.6.1.2.1.2.2.1.7.{i + 1}", "i", "1",
             f"1.3.6.1.2.1.2.2.1.8.{i + 1}", "i", "2",
             f"1.3.6.1.2.1.31.1.1.1.18.{i + 1}", "s", MARK.decode()],
            check=True, capture_output=True, timeout=10, env=env)
        out.append(sink.recv(65535))
    sink.close()
    return out


def distinct_traps(base: list[bytes], count: int) -> list[bytes]:
    """`count` distinct v2c traps from net-snmp captures: the ifAlias value MARK is
    rewritten in place to another string of the same length (BER lengths unchanged),
    so every trap has its own dedup identity.  (v3 authPriv cannot be patched: it is
    encrypted and authenticated, so v3 runs cycle through their captures.)"""
    out = []
    for i in range(count):
        trap = base[i % len(base)]
        assert trap.count(MARK) == 1, "capture without the patchable ifAlias"
        out.append(trap.replace(MARK, b"seq%08x" % i))
    return out


def flap_datagrams(count: int, interfaces: int = 200, per_node: int = 10) -> list[bytes]:
    """A flapping storm: `interfaces` interfaces (per_node on each of interfaces/per_node
    Cisco switches) going down and up over and over.  Each datagram has its own
    sequence number and clock, as a device would send; the dedup identity (node, code,
    message text) repeats every 2 x interfaces datagrams."""
    out = []
    for i in range(count):
        ifc = i % interfaces
        state = "down" if (i // interfaces) % 2 == 0 else "up"
        node = f"acc-sw-{ifc // per_node:03d}"
        ms = i % 1000
        sec = (i // 1000) % 60
        out.append(f"<187>{100000 + i}: {node}: Dec  3 10:{(i // 60000) % 60:02d}:{sec:02d}.{ms:03d}: "
                   f"%LINK-3-UPDOWN: Interface GigabitEthernet0/{ifc % per_node}, "
                   f"changed state to {state}".encode())
    return out


def pin(cpus: set[int] | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, cpus)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


class MmsgSender:
    """Sends runs of pre-built datagrams on connected UDP sockets with sendmmsg(2).

    The message headers for every datagram are built once, pointing into the bytes
    objects (kept referenced here); the first MMSG_BATCH are repeated after the last,
    so a run that wraps past the end of the list is still one contiguous array.
    """

    def __init__(self, datagrams: list[bytes]) -> None:
        if not datagrams:
            raise ValueError("MmsgSender needs at least one datagram")
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._sendmmsg = libc.sendmmsg
        self._sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        self._sendmmsg.restype = ctypes.c_int
        self._datagrams = datagrams  # the headers point into these
        self.count = len(datagrams)
        size = self.count + MMSG_BATCH
        self._iovecs = (_Iovec * size)()
        self._headers = (_Mmsghdr * size)()
        for i in range(size):
            data = datagrams[i % self.count]
            self._iovecs[i].iov_base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p)
            self._iovecs[i].iov_len = len(data)
            self._headers[i].msg_hdr.msg_iov = ctypes.pointer(self._iovecs[i])
            self._headers[i].msg_hdr.msg_iovlen = 1
        self._base = ctypes.addressof(self._headers)
        self._stride = ctypes.sizeof(_Mmsghdr)

    def send(self, fd: int, first: int, count: int) -> int:
        """Send datagrams first .. first+count-1 (modulo the list; count <= MMSG_BATCH)
        on `fd`; returns how many the kernel took, or -errno."""
        sent = self._sendmmsg(fd, self._base + (first % self.count) * self._stride, count, 0)
        return sent if sent >= 0 else -ctypes.get_errno()


def _sender(datagrams: list[bytes], target: tuple[str, int], source: str, rate: float,
            seconds: float, cpus: set[int] | None, result: mp.Queue) -> None:  # type: ignore[type-arg]
    """One sender process.  `source` is a loopback prefix ("127.0.11.") or "": with a
    prefix the process rotates over SOCKETS sockets bound to prefix.1 .. prefix.SOCKETS
    (distinct devices, and distinct flows for SO_REUSEPORT to spread over workers),
    one sendmmsg batch per socket in turn."""
    pin(cpus)
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    socks = []
    for j in range(SOCKETS if source else 1):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        if source:
            sock.bind((f"{source}{j + 1}", 0))
        sock.connect(target)
        socks.append(sock)
    fds = [s.fileno() for s in socks]
    k = len(fds)
    mmsg = MmsgSender(datagrams)
    send = mmsg.send
    total = int(rate * seconds)
    sent = 0
    calls = 0
    start = time.perf_counter()
    while sent < total:
        now = time.perf_counter()
        if now - start > seconds * 2 + 5:  # hard stop: never run away
            break
        due = min(total, int((now - start) * rate))
        while sent < due:
            took = send(fds[calls % k], sent, min(due - sent, MMSG_BATCH))
            calls += 1
            # A refused or full send counts as sent (one datagram, so the loop always
            # moves on): loss is measured at the receiving side.
            sent += took if took > 0 else 1
        if sent < total:
            time.sleep(0.001)
    result.put((sent, time.perf_counter() - start))


def source_prefixes(procs: int) -> list[str]:
    """Per-process loopback source prefixes: process i sends from 127.0.(11+i).1..SOCKETS."""
    return [f"127.0.{11 + i}." for i in range(procs)]


def offer(datagram_sets: list[list[bytes]], target: tuple[str, int] | None, rate: float,
          seconds: float, sources: list[str] | None = None,
          targets: list[tuple[str, int]] | None = None,
          cpus: set[int] | None = None) -> tuple[int, float]:
    """Send at `rate` datagrams/s for `seconds`, split evenly over len(datagram_sets)
    processes; process i sends set i to targets[i] (default: all to `target`)."""
    procs = len(datagram_sets)
    aims = targets or [target] * procs  # type: ignore[list-item]
    for aim in aims:
        if aim is None or not aim[0].startswith(LOOPBACK_ONLY):
            raise SystemExit("load generator only targets loopback addresses")
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [
        mp.Process(target=_sender, args=(datagram_sets[i], aims[i],
                                          (sources or [""] * procs)[i], rate / procs, seconds,
                                          cpus, queue))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds * 3 + 30) for _ in workers]
    for w in workers:
        w.join()
    return sum(r[0] for r in results), max(r[1] for r in results)


def replay(schedule: list[tuple[float, bytes]], target: tuple[str, int],
           time_limit: float) -> tuple[int, float]:
    """Send each datagram at its offset (seconds from start, ascending), in this process.
    Bounded by len(schedule) and by `time_limit` seconds."""
    if not target[0].startswith(LOOPBACK_ONLY):
        raise SystemExit("load generator only targets loopback addresses")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect(target)
    start = time.perf_counter()
    sent = 0
    for offset, datagram in schedule:
        now = time.perf_counter() - start
        if now > time_limit:
            break
        if offset > now:
            time.sleep(offset - now)
        sock.send(datagram)
        sent += 1
    sock.close()
    return sent, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--kind", choices=["syslog", "trap", "trap-v3"], default="syslog")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--senders", type=int, default=1)
    args = parser.parse_args()
    if args.kind == "syslog":
        sets = [syslog_datagrams(20000, seed=i) for i in range(args.senders)]
    else:
        traps = capture_net_snmp_traps(64, V3_ARGS if args.kind == "trap-v3" else None)
        sets = [traps] * args.senders
    sent, took = offer(sets, (args.host, args.port), args.rate, args.seconds,
                       sources=source_prefixes(args.senders))
    print(f"sent {sent} datagrams in {took:.2f}s ({sent / took:,.0f}/s)")


if __name__ == "__main__":
    sys.exit(main())

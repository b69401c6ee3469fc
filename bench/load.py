"""Load generator: pre-built datagrams at a controlled rate, from several sender processes.

Bounded in count and time, loopback only.  Each sender process pre-builds its
datagrams, then sends in 1 ms slices: at every slice it sends exactly as many as
the elapsed time allows at its share of the rate (so the offered rate is precise
on average and bursts are at most one slice long).  Senders may bind distinct
loopback source addresses (127.0.1.x) so traps come from distinct "devices".

    python bench/load.py --kind syslog --rate 50000 --seconds 5 --port 5514
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "data" / "syslog" / "vendor-lines.txt"
LOOPBACK_ONLY = ("127.", "::1")


def syslog_datagrams(count: int, seed: int = 0) -> list[bytes]:
    """Real vendor lines (the shared corpus), each made distinct by a sequence token."""
    lines = [ln for ln in CORPUS.read_text(encoding="utf-8").splitlines() if ln.strip()]
    out = []
    for i in range(count):
        line = lines[i % len(lines)]
        out.append(f"{line} seq={seed}-{i}".encode())
    return out


def capture_net_snmp_traps(count: int, extra_args: list[str] | None = None) -> list[bytes]:
    """Let net-snmp's `snmptrap` encode `count` distinct v2c linkDown traps; capture the bytes."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    port = sink.getsockname()[1]
    out: list[bytes] = []
    args = extra_args or ["-v2c", "-c", "public"]
    for i in range(count):
        subprocess.run(
            ["snmptrap", *args, f"127.0.0.1:{port}", "", "1.3.6.1.6.3.1.1.5.3",
             f"1.3.6.1.2.1.2.2.1.1.{i + 1}", "i", str(i + 1),
             f"1.3.6.1.2.1.2.2.1.2.{i + 1}", "s", f"GigabitEthernet0/{i + 1}",
             f"1.3.6.1.2.1.2.2.1.7.{i + 1}", "i", "1",
             f"1.3.6.1.2.1.2.2.1.8.{i + 1}", "i", "2"],
            check=True, capture_output=True, timeout=10)
        out.append(sink.recv(65535))
    sink.close()
    return out


def _sender(datagrams: list[bytes], target: tuple[str, int], source: str, rate: float,
            seconds: float, result: mp.Queue) -> None:  # type: ignore[type-arg]
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    if source:
        sock.bind((source, 0))
    sock.connect(target)
    send = sock.send
    n = len(datagrams)
    total = int(rate * seconds)
    sent = 0
    start = time.perf_counter()
    while sent < total:
        now = time.perf_counter()
        if now - start > seconds * 2 + 5:  # hard stop: never run away
            break
        due = min(total, int((now - start) * rate))
        while sent < due:
            try:  # noqa: SIM105 - the hot loop; a with-block costs more
                send(datagrams[sent % n])
            except (BlockingIOError, ConnectionRefusedError):
                pass  # counted as sent: loss is measured at the receiving side
            sent += 1
        if sent < total:
            time.sleep(0.001)
    result.put((sent, time.perf_counter() - start))


def offer(datagram_sets: list[list[bytes]], target: tuple[str, int], rate: float,
          seconds: float, sources: list[str] | None = None) -> tuple[int, float]:
    """Send at `rate` datagrams/s for `seconds`, split over len(datagram_sets) processes."""
    if not target[0].startswith(LOOPBACK_ONLY):
        raise SystemExit("load generator only targets loopback addresses")
    procs = len(datagram_sets)
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [
        mp.Process(target=_sender, args=(datagram_sets[i], target,
                                          (sources or [""] * procs)[i], rate / procs, seconds,
                                          queue))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds * 3 + 30) for _ in workers]
    for w in workers:
        w.join()
    return sum(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--kind", choices=["syslog", "trap"], default="syslog")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--senders", type=int, default=1)
    args = parser.parse_args()
    if args.kind == "syslog":
        sets = [syslog_datagrams(20000, seed=i) for i in range(args.senders)]
    else:
        traps = capture_net_snmp_traps(64)
        sets = [traps] * args.senders
    sent, took = offer(sets, (args.host, args.port), args.rate, args.seconds)
    print(f"sent {sent} datagrams in {took:.2f}s ({sent / took:,.0f}/s)")


if __name__ == "__main__":
    sys.exit(main())

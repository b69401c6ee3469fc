"""End-to-end zero-loss benchmark: datagrams in -> events acknowledged at an HTTP sink.

For each offered rate (ascending) the load generator sends for `--seconds`; loss
is counted at the receiving side (the sink's represented-event count for faultd,
lines written for a peer).  The highest rate with zero loss is reported.  faultd
is pinned to CPU 0 ("one core"); load generator and sink run on CPU 1.

    python bench/e2e.py --kind syslog              # faultd only
    python bench/e2e.py --kind syslog --peer       # and rsyslog (imudp -> omfile)
    python bench/e2e.py --kind trap --peer         # and net-snmp snmptrapd (-> file)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load
import results

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
PY = sys.executable


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port_tcp(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def taskset(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else []  # type: ignore[operator]


class Sink:
    def __init__(self) -> None:
        self.port = free_port(socket.SOCK_STREAM)
        self.proc = subprocess.Popen([*taskset("1"), PY, str(HERE / "sink.py"), "--port",
                                      str(self.port)])
        wait_port_tcp(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/batches"

    def represented(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/count", timeout=5) as r:
            return int(json.load(r)["represented"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Faultd:
    """faultd on CPU 0 with a bench config; counts come from the sink."""

    def __init__(self, kind: str, sink: Sink, workdir: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.sink = sink
        listen = f"127.0.0.1:{self.port}"
        config = {
            "state_directory": str(workdir / "state"),
            "collector_name": "bench",
            "workers": workers,
            "snmp": {"listen": listen if kind == "trap" else None,
                     "communities": ["public"]},
            "syslog": {"listen": listen if kind == "syslog" else None},
            "metrics": {"listen": None},
            "logging": {"level": "warning"},
            "dispatch": {"endpoint": sink.url, "rate_limit": {"requests_per_second": 200,
                                                              "burst": 400}},
            "accumulator": {"queue_maxsize": 200000, "tiers": [
                {"name": "all", "match": ["*"], "window_seconds": 1.0,
                 "max_batch_size": 5000}]},
        }
        if workers == 1:
            config.pop("workers")
        path = workdir / "faultd.yaml"
        path.write_text(json.dumps(config))
        cpus = "0" if workers == 1 else "0,1"
        self.proc = subprocess.Popen([*taskset(cpus), PY, "-m", "faultd", "run", "--config",
                                      str(path)], stderr=open(workdir / "faultd.log", "wb"))  # noqa: SIM115
        time.sleep(3.0)  # MIB loading on start
        if self.proc.poll() is not None:
            raise RuntimeError((workdir / "faultd.log").read_text())

    def received(self) -> int:
        return self.sink.represented()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def settle(count: Callable[[], int], expected: int, quiet_seconds: float = 2.5,
           limit: float = 30) -> int:
    """Wait until the count reaches `expected` or stops moving for `quiet_seconds`."""
    deadline = time.monotonic() + limit
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        value = count()
        if value >= expected:
            return value
        if value != last:
            last, last_change = value, time.monotonic()
        elif time.monotonic() - last_change > quiet_seconds:
            return value
        time.sleep(0.2)
    return count()


def search(name: str, target_port: int, count: Callable[[], int], datagrams: list[list[bytes]],
           rates: list[int], seconds: float) -> tuple[int, list[tuple[int, int, int]]]:
    best, trials = 0, []
    base = count()
    for rate in rates:
        sent, took = load.offer(datagrams, ("127.0.0.1", target_port), rate, seconds)
        got = settle(count, base + sent) - base
        base += got
        trials.append((rate, sent, got))
        lost = sent - got
        print(f"  {name:>10} {rate:>8,}/s offered: sent {sent:>8,} got {got:>8,} "
              f"lost {lost:>7,} ({took:.1f}s)", flush=True)
        if lost > 0:
            break
        best = rate
    return best, trials


def line_counter(path: Path) -> Callable[[], int]:
    def count() -> int:
        try:
            with open(path, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return 0
    return count


def run_rsyslog(workdir: Path, datagrams: list[list[bytes]], rates: list[int],
                seconds: float) -> int:
    port = free_port()
    out = workdir / "rsyslog.out"
    conf = workdir / "rsyslog.conf"
    template = (PEERS / "rsyslog.conf").read_text()
    conf.write_text(template.replace("@PORT@", str(port)).replace("@OUT@", str(out))
                    .replace("@WORK@", str(workdir)))
    proc = subprocess.Popen([*taskset("0"), "rsyslogd", "-n", "-f", str(conf), "-i",
                             str(workdir / "rsyslog.pid")])
    time.sleep(1.5)
    try:
        best, _ = search("rsyslog", port, line_counter(out), datagrams, rates, seconds)
    finally:
        proc.terminate()
        proc.wait(10)
    return best


def run_snmptrapd(workdir: Path, datagrams: list[list[bytes]], rates: list[int],
                  seconds: float) -> int:
    port = free_port()
    out = workdir / "snmptrapd.out"
    conf = workdir / "snmptrapd.conf"
    conf.write_text((PEERS / "snmptrapd.conf").read_text())
    proc = subprocess.Popen([*taskset("0"), "snmptrapd", "-f", "-n", "-C", "-c", str(conf),
                             "-Lf", str(out), "-F", "%B %N %v\\n", "-M", "/nonexistent",
                             f"udp:127.0.0.1:{port}"],
                            env={**os.environ, "SNMPCONFPATH": str(PEERS)})
    time.sleep(1.5)
    try:
        base = line_counter(out)()
        best, _ = search("snmptrapd", port, lambda: line_counter(out)() - base, datagrams,
                         rates, seconds)
    finally:
        proc.terminate()
        proc.wait(10)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--kind", choices=["syslog", "trap"], default="syslog")
    parser.add_argument("--rates", default="10000,20000,30000,40000,50000,60000,70000,80000,"
                                           "100000,120000,150000")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--peer", action="store_true", help="also measure rsyslog/snmptrapd")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if args.kind == "syslog":
        datagrams = [load.syslog_datagrams(50000, seed=i) for i in range(args.senders)]
    else:
        traps = load.capture_net_snmp_traps(64)
        datagrams = [traps] * args.senders
    rows = []
    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        workdir = Path(tmp)
        sink = Sink()
        try:
            daemon = Faultd(args.kind, sink, workdir, workers=args.workers)
            try:
                best, _ = search("faultd", daemon.port, daemon.received, datagrams, rates,
                                 args.seconds)
            finally:
                daemon.stop()
        finally:
            sink.stop()
        rows.append((f"faultd ({args.workers} worker{'s' if args.workers > 1 else ''})", best))
        if args.peer:
            peer = run_rsyslog if args.kind == "syslog" else run_snmptrapd
            peer_best = peer(workdir, datagrams, rates, args.seconds)
            rows.append(("rsyslog" if args.kind == "syslog" else "snmptrapd", peer_best))
    title = f"End to end, {args.kind}, highest zero-loss rate ({args.seconds:g}s per step)"
    table = results.table(["receiver", "zero-loss msg/s"], [[n, f"{v:,}"] for n, v in rows])
    if len(rows) == 2 and rows[1][1]:
        table += f"\nratio faultd/{rows[1][0]}: {rows[0][1] / rows[1][1]:.2f}\n"
    print(f"\n{title}\n{table}")
    if args.record:
        results.record(title, table)


if __name__ == "__main__":
    main()

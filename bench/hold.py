"""Hold one syslog rate for a while: does faultd sustain it, and where does the CPU go?

The zero-loss search (e2e.py) steps for 1-2 s; buffers (the 8 MiB socket buffer, the
receive workers' uplinks) can carry a short deficit that a long storm cannot.  This
offers a fixed rate for `--seconds` (default 8) with e2e's load generator, sink,
config and CPU placement, then reports per rate and worker count:

- sent, delivered (the sink's represented count) and lost;
- where the loss happened: faultd_events_dropped_total by reason (a worker's uplink
  full counts as queue_full) versus never read (kernel socket drops);
- bytes still queued in the listening sockets when the senders stopped;
- CPU per process over the sending period, in % of one core: faultd's main process,
  each receive worker, the sink and the sender processes together.

    python bench/hold.py --rates 80000,90000,100000 --workers 2
    python bench/hold.py --rates 60000 --workers 1 --seconds 8 --record

Loopback only; bounded by --seconds per rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e
import load
import results

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def dropped_by_reason(metrics_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith('faultd_events_dropped_total{reason="'):
            reason = line.split('"')[1]
            value = int(float(line.split()[-1]))
            if value:
                found[reason] = value
    return found


def hold(rate: int, workers: int, seconds: float, workdir: Path) -> list[object]:
    cpus, sender_cpus = e2e.placement(workers)
    sink = e2e.Sink("1" if workers == 1 else "0,1")
    port = e2e.free_port()
    try:
        daemon = e2e.Faultd(workdir, e2e.bench_config(workdir, sink, port, None, workers), cpus)
        try:
            deadline = time.monotonic() + 30
            while len(child_pids(daemon.pid)) < (workers if workers > 1 else 0):
                if time.monotonic() > deadline:
                    raise RuntimeError("receive workers never started")
                time.sleep(0.1)
            procs = {"main": daemon.pid, "sink": sink.proc.pid}
            if workers > 1:
                procs.update({f"worker {i}": p for i, p in enumerate(child_pids(daemon.pid))})
            work = e2e.make_load("syslog")
            before = {name: cpu_seconds(pid) for name, pid in procs.items()}
            senders_before = os.times()
            started = time.monotonic()
            sent, _ = load.offer(work.sets, None, rate, seconds,
                                 sources=load.source_prefixes(len(work.sets)),
                                 targets=work.targets(port, None), cpus=sender_cpus)
            wall = time.monotonic() - started
            queued = e2e.udp_backlog({port})
            used = {name: cpu_seconds(pid) - before[name] for name, pid in procs.items()}
            after = os.times()
            used["senders"] = (after.children_user + after.children_system
                               - senders_before.children_user - senders_before.children_system)
            delivered = e2e.settle(sink.represented, sent)
            drops = dropped_by_reason(daemon.metrics_url)
        finally:
            daemon.stop()
    finally:
        sink.stop()
    share = {name: f"{100 * v / wall:.0f}" for name, v in used.items()}
    workers_cpu = " / ".join(v for k, v in share.items() if k.startswith("worker")) or "-"
    print(f"  {rate:,}/s x {seconds:g} s, {workers}w: sent {sent:,} delivered {delivered:,} "
          f"dropped {drops or 0} queued {queued:,} B; CPU % {share} ({e2e.load_average()})",
          flush=True)
    return [f"{rate:,}", workers, f"{sent:,}", f"{delivered:,}", f"{sent - delivered:,}",
            ", ".join(f"{k} {v:,}" for k, v in drops.items()) or "-", f"{queued:,}",
            share["main"], workers_cpu, share["sink"], share["senders"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rates", required=True, help="comma list of msg/s")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        for i, rate in enumerate(int(r) for r in args.rates.split(",")):
            rows.append(hold(rate, args.workers, args.seconds, Path(tmp) / f"hold-{i}"))
    header = ["offered msg/s", "workers", "sent", "delivered", "lost", "dropped by faultd",
              "socket bytes queued at end", "main CPU %", "workers CPU %", "sink CPU %",
              "senders CPU %"]
    body = (f"syslog held at a fixed rate for {args.seconds:g} s (e2e.py's load, sink, config "
            f"and placement: {e2e.cpu_label(args.workers)}). CPU in % of one core over the "
            f"sending period. {e2e.load_average()}.\n\n" + results.table(header, rows))
    print(f"\n### Holding a rate\n\n{body}")
    if args.record:
        results.record("Holding a syslog rate (bench/hold.py)", body)


if __name__ == "__main__":
    main()

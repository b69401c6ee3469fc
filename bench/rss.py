"""Peak RSS and RSS per queued event during a 1,000,000-event burst.

faultd (1 worker, CPU 0) with windows long enough that nothing is emitted (one tier,
window 3,600 s, max_batch_size and queue bounds above the burst, adaptive windows
off, spill watermark far away), fed 1,000,000 distinct syslog lines (the vendor
corpus with a sequence token, every PRI set to "warning" so none takes the critical
lane).  The sender paces itself on faultd's own faultd_events_received_total: it
never has more than IN_FLIGHT datagrams outstanding (checked at most every
SCRAPE_EVERY seconds: scraping /metrics costs faultd's loop), so the kernel receive
buffer never overflows and the burst measures memory, not UDP loss.  VmRSS is read from
/proc/PID/status every chunk; baseline = after readiness, before the first datagram.

    python bench/rss.py [--events 1000000] [--record]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import critical
import e2e
import load
import results

CHUNK = 2000
IN_FLIGHT = 6000
SCRAPE_EVERY = 0.05


def benchmark(workdir: Path, events: int = 1_000_000, time_limit: float = 240) -> str:
    port = e2e.free_port()
    sink = e2e.Sink("1")
    config = e2e.bench_config(workdir, sink, port, None)
    config["accumulator"] = {
        "queue_maxsize": events + 10000, "adaptive": {"enabled": False},
        "tiers": [{"name": "all", "match": ["*"], "window_seconds": 3600,
                   "max_batch_size": events + 10000}]}
    config["spill"] = {"memory_limit_bytes": 64 << 30}
    lines = [ln.decode() for ln in critical.storm_datagrams(len(load.corpus_lines()), 0)]
    lines = [ln.rsplit(" seq=", 1)[0] for ln in lines]
    load.pin(e2e.placement(1)[1])
    try:
        daemon = e2e.Faultd(workdir, config, e2e.placement(1)[0])
        pid = daemon.pid
        try:
            time.sleep(0.5)
            baseline = e2e.rss_bytes(pid)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.connect(("127.0.0.1", port))
            peak, sent, scrapes = baseline, 0, 0
            received = 0
            start = time.monotonic()
            n = len(lines)
            while sent < events and time.monotonic() - start < time_limit:
                room = min(events - sent, received + IN_FLIGHT - sent, CHUNK)
                if room >= CHUNK // 4 or sent + room == events:
                    for i in range(sent, sent + room):
                        sock.send(f"{lines[i % n]} seq={i}".encode())
                    sent += room
                    continue
                # A scrape costs faultd's loop several ms: at most one per SCRAPE_EVERY.
                time.sleep(SCRAPE_EVERY)
                received = int(daemon.metric("faultd_events_received_total"))
                scrapes += 1
                peak = max(peak, e2e.rss_bytes(pid))
            took = time.monotonic() - start
            for _ in range(20):  # the last datagrams are read, nothing more arrives
                peak = max(peak, e2e.rss_bytes(pid))
                if daemon.metric("faultd_events_received_total") >= sent:
                    break
                time.sleep(0.1)
            received = int(daemon.metric("faultd_events_received_total"))
            queued = int(daemon.metric("faultd_queue_depth"))
            dropped = int(daemon.metric("faultd_events_dropped_total"))
            peak = max(peak, e2e.rss_bytes(pid))
            spilled = int(daemon.metric("faultd_spill_bytes"))
            emitted = sink.counts()["events"]
        finally:
            daemon.stop(kill=True)  # the measurement is done; nothing to deliver
    finally:
        sink.stop()
    per_event = (peak - baseline) / queued if queued else float("nan")
    print(f"  rss: sent {sent:,} received {received:,} queued {queued:,} peak "
          f"{peak / 2**20:.0f} MiB ({e2e.load_average()})", flush=True)
    rows = [[f"{sent:,} in {took:.1f} s ({sent / took:,.0f}/s paced)", f"{received:,}",
             f"{queued:,}", f"{emitted:,} / {dropped:,} / {spilled:,}",
             f"{baseline / 2**20:.0f}", f"{peak / 2**20:.0f}", f"{per_event:,.0f}"]]
    header = ["burst sent", "received", "queued at end", "emitted / dropped / spill bytes",
              "baseline RSS MiB", "peak RSS MiB", "bytes per queued event"]
    return ("Peak RSS during a 1,000,000-event burst held in the accumulator (faultd 1 worker "
            "on CPU 0, window 3,600 s, adaptive off; sender paced on "
            f"faultd_events_received_total, at most {IN_FLIGHT:,} outstanding). Per event = "
            f"(peak - baseline) / queued. {e2e.load_average()}.\n\n"
            + results.table(header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        body = benchmark(Path(tmp), args.events)
    print(f"\n### Memory\n\n{body}")
    if args.record:
        results.record("Peak RSS during a 1,000,000-event burst", body)


if __name__ == "__main__":
    main()

"""Spill under a 1,000,000-event storm with the endpoint down, then replay (issue 5).

faultd (1 worker, CPU 0, `spill.memory_limit_bytes` 256 MiB) receives 1,000,000
distinct syslog lines while its endpoint refuses connections: the breaker opens
and every batch goes to the spill store.  The sender (CPU 1) paces itself on
faultd's own faultd_events_received_total so the kernel buffer never overflows:
the run measures spill, not UDP loss.  Then the endpoint (bench/sink.py) comes
up on the same port and the replay is timed until every received event has been
acknowledged.  Peak RSS is the kernel's high-water mark (VmHWM) of the daemon.

    python bench/spill_storm.py [--events 1000000] [--record]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e
import load
import results

LIMIT = 256 << 20
IN_FLIGHT = 6000
CHUNK = 2000


class PortSink(e2e.Sink):
    """bench/sink.py on a chosen port (the one faultd already points at)."""

    def __init__(self, port: int, cpus: str = "1") -> None:
        self.port = port
        self.proc = subprocess.Popen([*e2e.taskset(cpus), e2e.PY, str(e2e.HERE / "sink.py"),
                                      "--port", str(port)])
        e2e.wait_port_tcp(port)


def vm_hwm(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) * 1024
    return 0


def benchmark(workdir: Path, events: int, time_limit: float = 300) -> str:
    port = e2e.free_port()
    sink_port = e2e.free_port(socket.SOCK_STREAM)  # nothing listens there yet: endpoint down

    class Down:
        url = f"http://127.0.0.1:{sink_port}/batches"

    config = e2e.bench_config(workdir, Down, port, None)  # type: ignore[arg-type]
    config["accumulator"] = {"tiers": [{"name": "all", "match": ["*"], "window_seconds": 2,
                                        "max_batch_size": 2000}]}
    config["dispatch"]["breaker"] = {"failure_threshold": 3, "open_seconds": 2}
    config["spill"] = {"memory_limit_bytes": LIMIT, "fsync": "interval"}
    lines = [f"{ln.decode()}" for ln in load.syslog_datagrams(len(load.corpus_lines()), 0, 4)]
    load.pin(e2e.placement(1)[1])
    daemon = e2e.Faultd(workdir, config, e2e.placement(1)[0])
    sink: PortSink | None = None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.connect(("127.0.0.1", port))
        sent = received = 0
        start = time.monotonic()
        n = len(lines)
        while sent < events and time.monotonic() - start < time_limit:
            room = min(events - sent, received + IN_FLIGHT - sent, CHUNK)
            if room >= CHUNK // 4 or sent + room == events:
                for i in range(sent, sent + room):
                    sock.send(f"{lines[i % n]} storm={i}".encode())
                sent += room
                continue
            time.sleep(0.05)
            received = int(daemon.metric("faultd_events_received_total"))
        while daemon.metric("faultd_events_received_total") < sent:
            time.sleep(0.1)
            if time.monotonic() - start > time_limit:
                break
        storm_s = time.monotonic() - start
        received = int(daemon.metric("faultd_events_received_total"))
        time.sleep(3)  # the last windows close and spill
        spill_bytes = daemon.metric("faultd_spill_bytes")
        spilled_batches = daemon.metric("faultd_spill_batches_written_total")
        peak = vm_hwm(daemon.pid)

        sink = PortSink(sink_port)
        replay_start = time.monotonic()
        while sink.represented() < received and time.monotonic() - replay_start < time_limit:
            time.sleep(0.2)
        replay_s = time.monotonic() - replay_start
        delivered = sink.represented()
        dropped = int(daemon.metric("faultd_events_dropped_total"))
        peak = max(peak, vm_hwm(daemon.pid))
    finally:
        daemon.stop()
        if sink is not None:
            sink.stop()
    mb = spill_bytes / 1e6
    row = [f"{sent:,}", f"{received:,}", f"{received / storm_s:,.0f}",
           f"{spilled_batches:,.0f} / {mb:,.0f} MB", f"{delivered:,}",
           f"{delivered / replay_s:,.0f} ({mb / replay_s:,.1f} MB/s)", f"{dropped:,}",
           f"{peak / 2**20:.0f} MiB (limit {LIMIT >> 20})"]
    header = ["storm sent", "received", "received+spilled ev/s", "spilled batches / size",
              "delivered after recovery", "replay ev/s", "dropped", "peak RSS (VmHWM)"]
    return (f"{events:,}-event storm with the endpoint down (faultd 1 worker on CPU 0, "
            "spill.memory_limit_bytes 256 MiB, window 2 s, batches of 2,000; sender paced on "
            "faultd_events_received_total), then the endpoint comes up and the spill "
            f"replays. {e2e.load_average()}.\n\n" + results.table(header, [row]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        body = benchmark(Path(tmp), args.events)
    print(f"\n### Spill storm\n\n{body}")
    if args.record:
        results.record(f"Spill storm: {args.events:,} events, endpoint down, then replay", body)


if __name__ == "__main__":
    main()

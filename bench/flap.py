"""HTTP calls per 1,000 events and dedup fold ratio: a flapping storm, and the real
microwave alarm log replayed at 1x, 10x and 100x.

faultd runs with the shipped accumulator and dispatch settings (etc/faultd.yaml:
tiers core 2 s / 1,000 and access 12 s / 2,000, adaptive windows on, critical
window 0.25 s, 20 requests/s) and the counting sink as endpoint.  After the load,
faultd gets SIGTERM, which flushes every open window (those shutdown batches are
counted too), so every event is accounted for at the sink.

- calls / 1,000 events = HTTP POSTs the sink served (retries included) per 1,000
  datagrams sent;
- fold ratio = events represented (1 + duplicates) / events in batches.

Flapping storm: 200 interfaces (10 on each of 20 access switches) going down and up
over and over, Cisco %LINK-3-UPDOWN lines, FLAP_RATE msg/s for FLAP_SECONDS
(each interface changes state 10 times a second).  Target: < 2 calls per 1,000 events.

Alarm replay: /work/shared/data/telecom-alarms/24V_439N_Microwave.tar.gz, Alarm.csv
rows alarm_id,device_id,start_timestamp,end_timestamp; each row becomes, at its start
time, ``<187>Mmm dd hh:mm:ss dev-<device_id> %MW-3-ALARM_<alarm_id>: Microwave alarm
<alarm_id> raised on dev-<device_id>`` (fault code MW-3-ALARM_<alarm_id>; the 182
rows with end > start are not given a clear line).  At speed S the slice is the
densest REPLAY_SECONDS x S seconds of the log (most alarms in that window), so each
run takes ~REPLAY_SECONDS seconds.

    python bench/flap.py [--record]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e
import load
import results

ARCHIVE = Path("/work/shared/data/telecom-alarms/24V_439N_Microwave.tar.gz")
FLAP_RATE = 2000
FLAP_SECONDS = 10.0
REPLAY_SECONDS = 20.0
SPEEDS = (1, 10, 100)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def shipped_config(workdir: Path, sink: e2e.Sink, port: int) -> dict[str, Any]:
    config = e2e.bench_config(workdir, sink, port, None)
    config.pop("accumulator")  # the shipped defaults
    config["dispatch"] = {"endpoint": sink.url}
    return config


def alarms(archive: Path = ARCHIVE) -> list[tuple[float, int, int]]:
    """(start seconds, alarm type, device), sorted by start."""
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("Alarm.csv"))
        data = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    rows = list(csv.reader(io.StringIO(data)))[1:]
    return sorted((float(start), int(alarm), int(device)) for alarm, device, start, _ in rows)


def densest(starts: list[float], length: float) -> tuple[float, int]:
    """Start of the `length`-second window holding the most alarms, and that count."""
    best, best_at = 0, 0.0
    for i, t in enumerate(starts):
        n = bisect.bisect_left(starts, t + length) - i
        if n > best:
            best, best_at = n, t
    return best_at, best


def replay_schedule(rows: list[tuple[float, int, int]], speed: float,
                    seconds: float) -> tuple[list[tuple[float, bytes]], float, int]:
    starts = [r[0] for r in rows]
    t0, count = densest(starts, seconds * speed)
    lo = bisect.bisect_left(starts, t0)
    schedule = []
    for start, alarm, device in rows[lo:lo + count]:
        stamp = time.gmtime(time.time() + (start - t0) / speed)
        schedule.append(((start - t0) / speed, (
            f"<187>{MONTHS[stamp.tm_mon - 1]} {stamp.tm_mday:2d} {stamp.tm_hour:02d}:"
            f"{stamp.tm_min:02d}:{stamp.tm_sec:02d} dev-{device} %MW-3-ALARM_{alarm}: "
            f"Microwave alarm {alarm} raised on dev-{device}").encode()))
    return schedule, t0, count


def measure(workdir: Path, send: Any) -> dict[str, Any]:
    """Start faultd (1 worker, CPU 0) with the shipped config, run `send(port)`,
    SIGTERM, return the sink's counts."""
    cpus, _ = e2e.placement(1)
    port = e2e.free_port()
    sink = e2e.Sink("1")
    try:
        daemon = e2e.Faultd(workdir, shipped_config(workdir, sink, port), cpus)
        try:
            sent, took = send(port)
            time.sleep(0.5)
            received = daemon.metric("faultd_events_received_total")
        finally:
            daemon.stop()  # SIGTERM: flush every window, deliver
        counts = sink.counts()
    finally:
        sink.stop()
    counts.update(sent=sent, took=took, received=int(received))
    return counts


def row(name: str, c: dict[str, Any]) -> list[object]:
    per_k = c["requests"] / c["sent"] * 1000 if c["sent"] else float("nan")
    fold = c["represented"] / c["events"] if c["events"] else float("nan")
    return [name, f"{c['sent']:,} in {c['took']:.1f} s", f"{c['represented']:,}",
            f"{c['events']:,}", f"{c['batches']:,}", f"{c['requests']:,}", f"{per_k:.2f}",
            f"{fold:.1f}:1"]


def benchmark(workdir: Path, flap_rate: int = FLAP_RATE, flap_seconds: float = FLAP_SECONDS,
              replay_seconds: float = REPLAY_SECONDS,
              speeds: tuple[int, ...] = SPEEDS) -> tuple[str, float]:
    """Markdown, and the flapping storm's calls per 1,000 events."""
    rows = []
    notes = []
    datagrams = load.flap_datagrams(int(flap_rate * flap_seconds))
    c = measure(workdir / "flap", lambda port: load.offer(
        [datagrams], None, flap_rate, flap_seconds, targets=[("127.0.0.1", port)],
        sources=load.source_prefixes(1), cpus=e2e.placement(1)[1]))
    per_k = flap_per_k = c["requests"] / c["sent"] * 1000
    rows.append(row("flapping storm: 200 interfaces", c))
    notes.append(f"flapping storm: {per_k:.2f} calls per 1,000 events, target < 2: "
                 f"{'met' if per_k < 2 else 'MISSED'}")
    print(f"  flap: {c} ({e2e.load_average()})", flush=True)
    rows_all = alarms()
    for speed in speeds:
        schedule, t0, count = replay_schedule(rows_all, speed, replay_seconds)
        c = measure(workdir / f"replay-{speed}", lambda port, s=schedule: load.replay(
            s, ("127.0.0.1", port), replay_seconds * 1.5))
        rows.append(row(f"alarm replay {speed}x: log t={t0:,.0f}..{t0 + replay_seconds * speed:,.0f} s",
                        c))
        notes.append(f"{speed}x: the densest {replay_seconds * speed:,.0f} s of the log "
                     f"(start_timestamp {t0:,.0f} to {t0 + replay_seconds * speed:,.0f}, "
                     f"{count:,} alarms)")
        print(f"  replay {speed}x: {c} ({e2e.load_average()})", flush=True)
    header = ["scenario", "datagrams sent", "represented at sink", "events in batches",
              "batches", "HTTP calls", "calls / 1,000 events", "fold ratio"]
    return ("HTTP calls per 1,000 events and dedup fold, faultd 1 worker on CPU 0, shipped "
            "accumulator/dispatch settings (access tier 12 s / 2,000, adaptive on), SIGTERM "
            f"after the load (shutdown flush counted). Flapping storm: {flap_rate:,} msg/s for "
            f"{flap_seconds:g} s. {e2e.load_average()}.\n\n"
            + results.table(header, rows) + "\n" + "\n".join(f"- {n}" for n in notes) + "\n"), \
        flap_per_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--replay-seconds", type=float, default=REPLAY_SECONDS)
    parser.add_argument("--flap-seconds", type=float, default=FLAP_SECONDS)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        body, _ = benchmark(Path(tmp), flap_seconds=args.flap_seconds,
                         replay_seconds=args.replay_seconds)
    print(f"\n### HTTP calls and dedup fold\n\n{body}")
    if args.record:
        results.record("HTTP calls per 1,000 events and dedup fold", body)


if __name__ == "__main__":
    main()

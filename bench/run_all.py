"""The whole benchmark suite (issue 8): `make bench` runs it.

1. End to end, highest zero-loss rate for syslog, v2c traps, v3 authPriv traps and
   the 80/20 syslog/trap mix, with 1 and 2 workers (bench/e2e.py);
2. the same load and search against rsyslog (imudp -> omfile) and snmptrapd (-> file)
   on the same CPUs, as ratios faultd/peer (bench/peers/);
3. critical-lane latency during a warning storm at 80 % of the zero-loss syslog rate
   just measured (bench/critical.py);
4. HTTP calls per 1,000 events and dedup fold: flapping storm and the real microwave
   alarm log at 1x/10x/100x (bench/flap.py);
5. peak RSS and RSS per queued event during a 1,000,000-event burst (bench/rss.py);
then the issue's targets, met or missed.  Every table is printed; with --record the
suite is appended to bench/RESULTS.md as one section (date, commit, CPU, cores, load).

Loopback only; every load loop is bounded in count and time.  ~8-10 minutes on a
2-core machine.

    .venv/bin/python bench/run_all.py [--record] [--skip-peers]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import critical
import e2e
import flap
import results
import rss

TARGETS_SYSLOG_2W = 100_000
TARGETS_TRAP_2W = 40_000


def fmt_pct(value: float, target: float) -> str:
    return f"{value / target:.0%} of target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per search step")
    parser.add_argument("--events", type=int, default=1_000_000, help="RSS burst size")
    args = parser.parse_args()
    started = time.monotonic()
    load_start = e2e.load_average()
    sections: list[tuple[str, str]] = []

    def show(title: str, body: str) -> None:
        print(f"\n#### {title}\n\n{body}", flush=True)
        sections.append((title, body))

    with tempfile.TemporaryDirectory(prefix="faultd-bench-") as tmp:
        work = Path(tmp)
        print("== 1+2. end to end, zero-loss search (faultd and peers)", flush=True)
        body, found = e2e.benchmark(list(e2e.KINDS), [1, 2], args.seconds, not args.skip_peers,
                                    work / "e2e")
        show("1-2. End to end, highest zero-loss rate; faultd/peer", body)

        print("== 3. critical lane latency during a warning storm", flush=True)
        rates = {w: max(100, int(found["syslog", w][0] * critical.STORM_SHARE)) for w in (1, 2)}
        body, p99 = critical.benchmark(rates, 8.0, work / "critical")
        show("3. Critical lane latency during a warning storm", body)

        print("== 4. HTTP calls per 1,000 events and dedup fold", flush=True)
        body, per_k = flap.benchmark(work / "flap", flap_seconds=8.0)
        show("4. HTTP calls per 1,000 events and dedup fold", body)

        print("== 5. memory during a 1,000,000-event burst", flush=True)
        show("5. Peak RSS during a 1,000,000-event burst", rss.benchmark(work / "rss", args.events))

    syslog2 = found["syslog", 2][0]
    trap2 = found["trap", 2][0]
    crit_target = (critical.CRITICAL_WINDOW + 0.05) * 1000
    ratios = ", ".join(f"{k} {w}w {f / p:.2f}" for (k, w), (f, p) in found.items() if p)
    rows = [
        ["syslog e2e, 2 workers, zero loss", f">= {TARGETS_SYSLOG_2W:,}/s", f"{syslog2:,}/s",
         "met" if syslog2 >= TARGETS_SYSLOG_2W else
         f"MISSED by {TARGETS_SYSLOG_2W - syslog2:,}/s ({fmt_pct(syslog2, TARGETS_SYSLOG_2W)})"],
        ["v2c traps e2e, 2 workers, zero loss", f">= {TARGETS_TRAP_2W:,}/s", f"{trap2:,}/s",
         "met" if trap2 >= TARGETS_TRAP_2W else
         f"MISSED by {TARGETS_TRAP_2W - trap2:,}/s ({fmt_pct(trap2, TARGETS_TRAP_2W)})"],
        ["faultd/rsyslog and faultd/snmptrapd measured in the same run", "measured",
         ratios or "-", "met" if ratios else "not measured (--skip-peers)"],
    ]
    for w, value in p99.items():
        rows.append([f"critical p99 during storm ({w} worker{'s' if w > 1 else ''})",
                     f"< {crit_target:.0f} ms", f"{value:.0f} ms",
                     "met" if value < crit_target else
                     f"MISSED by {value - crit_target:.0f} ms"])
    rows.append(["flapping storm HTTP calls / 1,000 events", "< 2", f"{per_k:.2f}",
                 "met" if per_k < 2 else f"MISSED by {per_k - 2:.2f}"])
    took = time.monotonic() - started
    show("Targets (issue 8)", results.table(["target", "wanted", "measured", "verdict"], rows)
         + f"\nSuite took {took / 60:.1f} min; load average at start {load_start}, at end "
           f"{e2e.load_average()} ({os.cpu_count()} cores, shared with other work).\n")
    if args.record:
        results.record("Benchmark suite (bench/run_all.py)",
                       "\n".join(f"#### {t}\n\n{b}" for t, b in sections))
        print(f"\nappended to {results.RESULTS}")


if __name__ == "__main__":
    main()

"""Benchmark: per-message cost of each hot-path stage, in-process, µs per message.

Builds the same pipeline the daemon runs for bench/e2e.py (its accumulator
config: one tier "*", 1 s window, 5,000 per batch; raw ring on; real
prometheus Metrics) but without sockets, so each stage can be timed alone:

  trap:   ber.decode | SnmpReceiver.receive | SnmpIngest.on_datagram (+ intake + accumulator)
  syslog: parse_syslog | SyslogNormalizer.normalize | SyslogIngest.on_message (+ ...)

Inputs are e2e's: net-snmp-encoded v2c linkDown traps made distinct by
load.distinct_traps (nothing folds), and the vendor corpus made distinct by a
`seq=` token (nothing folds).  Times are thread CPU time
(time.thread_time), best of --rounds, so neighbours on a shared machine inflate
them less than wall time would; run `uptime` next to it anyway.

    .venv/bin/python bench/bench_hotpath.py [--kind trap|syslog|both] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load

from faultd.accumulator import Accumulator
from faultd.clock import Timer
from faultd.config import SnmpConfig, SyslogConfig, config_from_mapping
from faultd.event import Batch
from faultd.intake import Intake
from faultd.normalize_syslog import SyslogNormalizer
from faultd.observe.metrics import Metrics
from faultd.observe.ring import RawRing
from faultd.parse import ber
from faultd.parse.syslog import parse_syslog
from faultd.snmp.receiver import SnmpReceiver
from faultd.sources.snmp import SnmpIngest
from faultd.sources.syslog import SyslogIngest

SENDER = ("127.0.0.1", 40000)
RECEIVED_AT = 1_796_317_587.0


class _Timer:
    def cancel(self) -> None:
        pass


class _Clock:
    """Timers never fire: windows close only by size, as under a storm."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return _Timer()


def _pipeline() -> tuple[Intake, Metrics, list[Batch]]:
    config = config_from_mapping({"accumulator": {"queue_maxsize": 200000, "tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 1.0, "max_batch_size": 5000}]}})
    metrics = Metrics()
    batches: list[Batch] = []

    def emit(batch: Batch) -> None:
        if len(batches) > 4:
            batches.clear()
        batches.append(batch)

    acc = Accumulator(config.accumulator, clock=_Clock(), emit=emit, metrics=metrics,
                      collector="bench")
    try:
        intake = Intake(acc.offer, acc.has_capacity, metrics, {})  # type: ignore[call-arg,arg-type]
    except TypeError:  # the older Intake(accumulator, metrics, aliases)
        intake = Intake(acc, metrics, {})  # type: ignore[call-arg,arg-type]
    return intake, metrics, batches


def per_message_us(work: Callable[[Any], object], items: Sequence[Any], *, n: int,
                   rounds: int) -> float:
    """Best-of-`rounds` thread-CPU µs per call of `work` over `n` items (cycled)."""
    m = len(items)
    for i in range(min(n, 2 * m)):  # warm caches
        work(items[i % m])
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for i in range(n):
            work(items[i % m])
        best = min(best, time.thread_time() - t0)
    return best / n * 1e6


def _profile(work: Callable[[Any], object], items: Sequence[Any], n: int) -> None:
    prof = cProfile.Profile()
    m = len(items)
    prof.enable()
    for i in range(n):
        work(items[i % m])
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def trap_stages(n: int, rounds: int, profile: bool) -> list[tuple[str, float]]:
    traps = load.capture_net_snmp_traps(64)
    distinct = getattr(load, "distinct_traps", None)  # e2e's "every trap distinct" inputs
    if distinct is not None:
        traps = distinct(traps, 20000)
    state = Path(tempfile.mkdtemp(prefix="faultd-hotpath-"))
    receiver = SnmpReceiver(communities=["public"], users=[], state_directory=state)
    intake, metrics, _ = _pipeline()
    ingest = SnmpIngest(SnmpConfig(), receiver, intake, metrics, RawRing(10000))

    def on_datagram(d: bytes) -> None:
        ingest.on_datagram(d, SENDER)

    rows = [
        ("ber.decode", per_message_us(ber.decode, traps, n=n, rounds=rounds)),
        ("SnmpReceiver.receive", per_message_us(
            lambda d: receiver.receive(d, SENDER, RECEIVED_AT), traps, n=n, rounds=rounds)),
        ("on_datagram (all-in)", per_message_us(on_datagram, traps, n=n, rounds=rounds)),
    ]
    if profile:
        _profile(on_datagram, traps, n)
    return rows


def syslog_stages(n: int, rounds: int, profile: bool) -> list[tuple[str, float]]:
    lines = load.syslog_datagrams(20000)
    tz = datetime.UTC
    normalizer = SyslogNormalizer(tz)
    intake, metrics, _ = _pipeline()
    ingest = SyslogIngest(SyslogConfig(), intake, metrics, RawRing(10000))

    def on_message(d: bytes) -> None:
        ingest.on_message(d, SENDER)

    rows = [
        ("parse_syslog", per_message_us(
            lambda d: parse_syslog(d, received_at=RECEIVED_AT, default_tz=tz), lines, n=n,
            rounds=rounds)),
        ("SyslogNormalizer.normalize", per_message_us(
            lambda d: normalizer.normalize(d, "192.0.2.1", RECEIVED_AT), lines, n=n,
            rounds=rounds)),
        ("on_message (all-in)", per_message_us(on_message, lines, n=n, rounds=rounds)),
    ]
    if profile:
        _profile(on_message, lines, n)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["trap", "syslog", "both"], default="both")
    parser.add_argument("-n", type=int, default=20000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the all-in stage")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    if args.kind in ("trap", "both"):
        rows += trap_stages(args.n, args.rounds, args.profile)
    if args.kind in ("syslog", "both"):
        rows += syslog_stages(args.n, args.rounds, args.profile)
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    print(f"{'stage':<30} {'µs/msg':>8}   (thread CPU, best of {args.rounds}; load {loadavg})")
    for name, us in rows:
        print(f"{name:<30} {us:>8.2f}")


if __name__ == "__main__":
    main()

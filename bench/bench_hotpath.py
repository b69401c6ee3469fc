"""Benchmark: per-message cost of each hot-path stage, in-process, µs per message.

Builds the same pipeline the daemon runs for bench/e2e.py (its accumulator
config: one tier "*", 1 s window, 5,000 per batch; raw ring on; real
prometheus Metrics) but without sockets, so each stage can be timed alone:

  trap:   ber.decode | SnmpReceiver.receive | SnmpIngest.on_datagram (+ intake + accumulator)
  syslog: parse_syslog | VendorTable.match (on the parsed MSG, TAG, MSGID) |
          SyslogNormalizer.normalize | SyslogIngest.on_message (+ ...) |
          pipeline: on_message + intake journal + JSON encode and settle of each
          batch (batches of 1,000, so a --callgrind run of 3,000 sees them) |
          worker side of `workers: N`: datagrams through the UDP protocol, parsing,
          normalising and the intake to the uplink writer (frames of 64) |
          main side of `workers: N`: a receive worker's uplink frame of 64 events
          decoded -> intake -> accumulator + journal -> JSON and settle (per event) |
          batch body: the dispatcher's sliced JSON body of a 5,000-event batch

Inputs are e2e's: net-snmp-encoded v2c linkDown traps made distinct by
load.distinct_traps (nothing folds), and the vendor corpus made distinct by a
`seq=` token (nothing folds).  Times are thread CPU time
(time.thread_time), best of --rounds, so neighbours on a shared machine inflate
them less than wall time would; run `uptime` next to it anyway.

    .venv/bin/python bench/bench_hotpath.py [--kind trap|syslog|both] [--profile] [--callgrind]

--callgrind counts instructions per message instead (two valgrind runs per stage,
n=0 and n=N, subtracted): independent of the neighbours' load, minutes per stage.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import os
import pstats
import subprocess
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
from faultd.event import Batch, encode_batch
from faultd.intake import Intake
from faultd.normalize_syslog import SyslogNormalizer
from faultd.observe.metrics import Metrics
from faultd.observe.ring import RawRing
from faultd.parse import ber
from faultd.parse.syslog import parse_syslog
from faultd.parse.syslog_vendors import build_vendor_table
from faultd.snmp.receiver import SnmpReceiver
from faultd.sources.snmp import SnmpIngest
from faultd.sources.syslog import SyslogIngest
from faultd.spill.journal import IntakeJournal

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


def _pipeline(journal: IntakeJournal | None = None,
              max_batch_size: int = 5000) -> tuple[Intake, Metrics, list[Batch]]:
    """The daemon's intake -> accumulator; with a journal, each emitted batch is also
    JSON-encoded and settled in the journal, as the dispatcher does on delivery."""
    config = config_from_mapping({"accumulator": {"queue_maxsize": 200000, "tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 1.0,
         "max_batch_size": max_batch_size}]}})
    metrics = Metrics()
    batches: list[Batch] = []

    def emit(batch: Batch) -> None:
        if len(batches) > 4:
            batches.clear()
        batches.append(batch)
        if journal is not None:
            encode_batch(batch)
            journal.settle(batch)

    acc = Accumulator(config.accumulator, clock=_Clock(), emit=emit, metrics=metrics,
                      collector="bench", journal=journal)
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


Stage = tuple[str, Callable[[Any], object], Sequence[Any]]


def trap_stages() -> list[Stage]:
    traps = load.capture_net_snmp_traps(64)
    distinct = getattr(load, "distinct_traps", None)  # e2e's "every trap distinct" inputs
    if distinct is not None:
        traps = distinct(traps, 20000)
    state = Path(tempfile.mkdtemp(prefix="faultd-hotpath-"))
    receiver = SnmpReceiver(communities=["public"], users=[], state_directory=state)
    intake, metrics, _ = _pipeline()
    ingest = SnmpIngest(SnmpConfig(), receiver, intake, metrics, RawRing(10000))
    return [
        ("ber.decode", ber.decode, traps),
        ("SnmpReceiver.receive", lambda d: receiver.receive(d, SENDER, RECEIVED_AT), traps),
        ("on_datagram (all-in)", lambda d: ingest.on_datagram(d, SENDER), traps),
    ]


def syslog_stages() -> list[Stage]:
    lines = load.syslog_datagrams(20000)
    tz = datetime.UTC
    normalizer = SyslogNormalizer(tz)
    intake, metrics, _ = _pipeline()
    ingest = SyslogIngest(SyslogConfig(), intake, metrics, RawRing(10000))
    table = build_vendor_table()
    parsed = [parse_syslog(d, received_at=RECEIVED_AT, default_tz=tz) for d in lines]
    fields = [(m.message, m.app_name, m.msgid) for m in parsed]
    return [
        ("parse_syslog",
         lambda d: parse_syslog(d, received_at=RECEIVED_AT, default_tz=tz), lines),
        ("VendorTable.match", lambda f: table.match(*f), fields),
        ("SyslogNormalizer.normalize",
         lambda d: normalizer.normalize(d, "192.0.2.1", RECEIVED_AT), lines),
        ("on_message (all-in)", lambda d: ingest.on_message(d, SENDER), lines),
        ("pipeline (+journal, JSON)", _with_journal(), lines),
        ("worker: datagram to frame", *_worker_side()),
        ("main: worker frame (+journal)", *_main_side()),
        ("batch body, sliced (5,000)", *_batch_body()),
    ]  # fmt: skip


def _with_journal() -> Callable[[bytes], None]:
    """on_message into an accumulator with the intake journal (flushed every 32
    messages, as once per loop iteration under load), batches of 1,000 JSON-encoded
    and settled: everything the daemon does per message but the socket and HTTP."""
    state = Path(tempfile.mkdtemp(prefix="faultd-hotpath-"))
    journal = IntakeJournal(state / "journal", clock=_Clock(), fsync="never")
    intake, metrics, _ = _pipeline(journal, max_batch_size=1000)
    ingest = SyslogIngest(SyslogConfig(), intake, metrics, RawRing(10000))
    on_message, flush = ingest.on_message, journal.flush
    count = 0

    def work(data: bytes) -> None:
        nonlocal count
        on_message(data, SENDER)
        count += 1
        if count % 32 == 0:
            flush()

    return work


FRAME_EVENTS = 64
BODY_EVENTS = 5000
MESSAGES_PER_ITEM = {"main: worker frame (+journal)": FRAME_EVENTS,
                     "worker: datagram to frame": FRAME_EVENTS,
                     "batch body, sliced (5,000)": BODY_EVENTS}


def _batch_body() -> tuple[Callable[[Batch], bytes], list[Batch]]:
    """The dispatcher's request body for a full e2e batch (5,000 normalised syslog
    events), built in slices with a loop turn between them (faultd.dispatch.encode)."""
    from faultd.dispatch.encode import encode_batch_sliced

    normalizer = SyslogNormalizer(datetime.UTC)
    events = [normalizer.normalize(d, "192.0.2.1", RECEIVED_AT)
              for d in load.syslog_datagrams(BODY_EVENTS)]
    batch = Batch(batch_id="b", collector="bench", tier="all", lane="standard",
                  trigger="size", opened_at=RECEIVED_AT, emitted_at=RECEIVED_AT,
                  event_count=len(events), events=events)
    loop = asyncio.new_event_loop()

    def work(item: Batch) -> bytes:
        return loop.run_until_complete(encode_batch_sliced(item))

    return work, [batch]


class _Uplink:
    """A write transport that only counts (the worker's uplink socket, minus the socket)."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _worker_side() -> tuple[Callable[[list[bytes]], None], list[list[bytes]]]:
    """A receive worker of `workers: N`: datagrams as uvloop hands them to the UDP
    protocol, through parsing, normalising and the intake, to the uplink writer,
    which frames them once per loop iteration (here: one per FRAME_EVENTS datagrams).
    Everything the worker does per message but the socket reads and writes."""
    from faultd.sources.udp import DatagramSource
    from faultd.workers import uplink

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make_writer() -> uplink.UplinkWriter:  # it wants a running loop
        return uplink.UplinkWriter(_Uplink(), lambda n: None)  # type: ignore[arg-type]

    writer = loop.run_until_complete(make_writer())
    metrics = Metrics()
    intake = Intake(writer.send, writer.has_capacity, metrics, {})
    ingest = SyslogIngest(SyslogConfig(), intake, metrics)
    protocol = DatagramSource("syslog", ingest.on_message)
    lines = load.syslog_datagrams(20000)
    chunks = [lines[i:i + FRAME_EVENTS] for i in range(0, len(lines), FRAME_EVENTS)]
    received = protocol.datagram_received

    def work(chunk: list[bytes]) -> None:
        for data in chunk:
            received(data, SENDER)
        loop.run_until_complete(asyncio.sleep(0))  # the loop turn that runs the flush

    return work, chunks


def _main_side() -> tuple[Callable[[bytes], None], list[bytes]]:
    """The main process of `workers: N`: uplink frames (as a worker encodes them) in,
    through the daemon's intake (journal, accumulator, batches of 1,000 JSON-encoded
    and settled).  One frame per loop iteration, so one journal write per frame."""
    from faultd.workers import uplink

    events: list[Any] = []
    collect = Intake(lambda e: events.append(e) or True, lambda: True, Metrics(), {})
    worker = SyslogIngest(SyslogConfig(), collect, Metrics(), RawRing(10000))
    for data in load.syslog_datagrams(20000):
        worker.on_message(data, SENDER)
    chunks = [events[i:i + FRAME_EVENTS] for i in range(0, len(events), FRAME_EVENTS)]
    state = Path(tempfile.mkdtemp(prefix="faultd-hotpath-"))
    journal = IntakeJournal(state / "journal", clock=_Clock(), fsync="never")
    intake, _, _ = _pipeline(journal, max_batch_size=1000)
    submit = getattr(intake, "submit_aliased", intake.submit)  # as the daemon does
    if hasattr(uplink, "encode_events"):  # the frame's bytes go to the journal as they are
        frames = [uplink.encode_events(c) for c in chunks]

        def on_events(batch: list[Any], payload: bytes) -> None:
            journal.begin_encoded(payload, len(batch))
            for event in batch:
                submit(event)
            journal.end_encoded()
    else:  # before 2026-12-05: tagged frames; the journal encodes the queued events
        frames = [uplink.encode_frame(uplink.Events(c)) for c in chunks]  # type: ignore[attr-defined,call-arg,arg-type]

        def on_events(batch: list[Any]) -> None:  # type: ignore[misc]
            for event in batch:
                submit(event)

    async def make_reader() -> uplink.UplinkReader:  # it wants a running loop
        return uplink.UplinkReader(on_events, lambda values: None)  # type: ignore[arg-type]

    loop = asyncio.new_event_loop()
    reader = loop.run_until_complete(make_reader())
    loop.close()
    flush = journal.flush

    def work(frame: bytes) -> None:
        reader.data_received(frame)
        flush()

    return work, frames


def _run_only(stage: Stage, n: int) -> None:
    """Warm up, then run `n` calls (no timing): the body callgrind counts."""
    _, work, items = stage
    m = len(items)
    for i in range(min(2 * m, 4000)):
        work(items[i % m])
    for i in range(n):
        work(items[i % m])


def _instructions(kind: str, stage: str, n: int) -> int:
    """Instructions (callgrind Ir) of one process that runs `stage` `n` times."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             __file__, "--kind", kind, "--only", stage, "-n", str(n)],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no callgrind summary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["trap", "syslog", "both"], default="both")
    parser.add_argument("-n", type=int, default=20000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the all-in stage")
    parser.add_argument("--callgrind", action="store_true",
                        help="instructions per message (valgrind; load-independent, slow)")
    parser.add_argument("--stage", default="", help="only stages whose name contains this")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one stage untimed
    args = parser.parse_args()
    kinds = ["trap", "syslog"] if args.kind == "both" else [args.kind]
    builders = {"trap": trap_stages, "syslog": syslog_stages}
    if args.only is not None:
        stage = next(st for st in builders[kinds[0]]() if st[0] == args.only)
        _run_only(stage, args.n)
        return
    rows: list[tuple[str, str]] = []
    for kind in kinds:
        stages = builders[kind]()
        for stage in stages:
            name, work, items = stage
            if args.stage not in name:
                continue
            per_item = MESSAGES_PER_ITEM.get(name, 1)
            if args.callgrind:
                n = min(args.n, 3000) // per_item
                base = _instructions(kind, name, 0)
                total = _instructions(kind, name, n)
                rows.append((name, f"{(total - base) / (n * per_item):,.0f} Ir"))
            else:
                n = args.n // per_item
                us = per_message_us(work, items, n=n, rounds=args.rounds) / per_item
                rows.append((name, f"{us:.2f}"))
        if args.profile:
            _profile(stages[-1][1], stages[-1][2], args.n)
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    what = "callgrind instructions" if args.callgrind else f"thread CPU µs, best of {args.rounds}"
    print(f"{'stage':<30} {'per msg':>12}   ({what}; load {loadavg})")
    for name, value in rows:
        print(f"{name:<30} {value:>12}")


if __name__ == "__main__":
    main()

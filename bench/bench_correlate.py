"""Correlation engine throughput (events/s) with its SQLite store, one process.

Synthetic network: 4 core, 40 aggregation, 4,000 access nodes (100 per
aggregation).  Traffic mixes fibre-cut storms (an aggregation node and its 100
children within seconds), scattered access faults, repeats and clears, in
batches like the accumulator emits.  Batches are built before timing; the timed
part is the engine's evaluation including the per-batch SQLite transaction,
until the last batch is durable.  Batches are pipelined as concurrent callers
(the dispatcher's in-flight deliveries, HTTP clients) let `AsyncCorrelator` do:
batch N+1 is evaluated (`engine.submit`) while batch N commits on the writer
thread, and N counts as done when its commit is; `--serial` waits for each
batch before submitting the next (`engine.evaluate`).
Bounded: a fixed number of events (default 300,000).

    .venv/bin/python bench/bench_correlate.py [--events N] [--batch-size N] [--no-store]
                                              [--serial]

The machine is usually shared: the CPU-time line (events per CPU-second of this
process and of the store's writer process) is steadier than wall-clock
throughput; note `uptime` next to numbers.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import deque
from pathlib import Path

from faultd.correlate import CorrelationEngine, EvaluationResult, parse_policy
from faultd.correlate.store import TicketStore, db_path
from faultd.correlate.writer import Pending
from faultd.event import Batch, FaultEvent, new_id

CORES, AGGS, PER_AGG = 4, 40, 100


def policy() -> dict[str, object]:
    nodes: dict[str, dict[str, object]] = {}
    for c in range(CORES):
        nodes[f"core-{c}"] = {"site": f"dc-{c}", "role": "core", "tier": "core"}
    for a in range(AGGS):
        nodes[f"agg-{a}"] = {
            "site": f"dc-{a % CORES}",
            "role": "aggregation",
            "tier": "core",
            "parents": [f"core-{a % CORES}"],
        }
        for i in range(PER_AGG):
            nodes[f"acc-{a}-{i}"] = {
                "site": f"site-{a}",
                "role": "access",
                "tier": "access",
                "parents": [f"agg-{a}"],
                "services": [f"cust-{a}-{i}"],
            }
    return {
        "topology": {"nodes": nodes},
        "fault_codes": [{"match": "IF-MIB::link*", "category": "link"}],
        "rules": [{"match": {"tier": "core", "category": "link"}, "set": {"severity": 1}}],
        "clears": [
            {
                "fault": {"fault_code": "IF-MIB::linkDown"},
                "clear": {"fault_code": "IF-MIB::linkUp"},
                "key_attributes": ["ifIndex"],
            }
        ],
        "maintenance": [
            {
                "name": "m",
                "scope": {"site": "site-7"},
                "action": "downgrade",
                "recurring": {"days": ["sun"], "start": "01:00", "end": "05:00"},
            }
        ],
        "queues": {"noc": {}, "transport": {"priority": 1}, "access": {"priority": 3}},
        "routing": {
            "queue": "noc",
            "routes": [
                {"match": {"tier": "core", "severity": 1}, "queue": "transport"},
                {"match": {"role": "access"}, "queue": "access"},
            ],
        },
    }


def _event(node: str, code: str, ts: float, if_index: int, severity: int = 2) -> FaultEvent:
    return FaultEvent(
        event_id=new_id(),
        node_id=node,
        source="snmp",
        severity=severity,
        fault_code=code,
        message=f"{code} ifIndex={if_index}",
        timestamp=ts,
        received_at=ts,
        tier="",
        attributes={"ifIndex": if_index},
    )


def traffic(n_events: int, seed: int = 7) -> list[FaultEvent]:
    rng = random.Random(seed)
    out: list[FaultEvent] = []
    ts = 1_700_000_000.0
    while len(out) < n_events:
        ts += rng.uniform(0.5, 5)
        kind = rng.random()
        if kind < 0.5:  # fibre cut storm, children often first
            a = rng.randrange(AGGS)
            storm = [
                _event(f"acc-{a}-{i}", "IF-MIB::linkDown", ts + rng.uniform(0, 8), 1)
                for i in range(PER_AGG)
            ]
            storm.append(_event(f"agg-{a}", "IF-MIB::linkDown", ts + rng.uniform(0, 8), 7))
            storm += [
                _event(f"acc-{a}-{i}", "IF-MIB::linkDown", ts + 9, 1) for i in range(0, PER_AGG, 3)
            ]  # repeats
            storm.append(_event(f"agg-{a}", "IF-MIB::linkUp", ts + 60, 7, 4))
            out += storm
        else:  # scattered access faults and their clears
            for _ in range(50):
                node = f"acc-{rng.randrange(AGGS)}-{rng.randrange(PER_AGG)}"
                t = ts + rng.uniform(0, 30)
                out.append(_event(node, "IF-MIB::linkDown", t, rng.randrange(1, 4)))
                if rng.random() < 0.7:
                    out.append(_event(node, "IF-MIB::linkUp", t + 20, 1, 4))
    return out[:n_events]


def batches(events: list[FaultEvent], size: int) -> list[Batch]:
    out = []
    for i in range(0, len(events), size):
        chunk = events[i : i + size]
        out.append(
            Batch(
                batch_id=new_id(),
                collector="bench",
                tier="access",
                lane="standard",
                trigger="size",
                opened_at=chunk[0].timestamp,
                emitted_at=chunk[-1].timestamp,
                event_count=len(chunk),
                events=chunk,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--no-store", action="store_true", help="engine alone, no SQLite")
    ap.add_argument("--serial", action="store_true", help="wait for each batch's commit")
    args = ap.parse_args()
    bs = batches(traffic(args.events), args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        t_build = time.perf_counter()
        store = None if args.no_store else TicketStore(db_path(Path(tmp)))
        engine = CorrelationEngine(parse_policy(policy()), store)
        build_s = time.perf_counter() - t_build
        changes = opened = merged = resolved = 0
        w0 = engine.store_cpu_seconds()  # the writer process's CPU counts too
        t0 = time.perf_counter()
        c0 = time.process_time()
        inflight: deque[Pending[EvaluationResult]] = deque()
        depth = 1 if args.serial else 2
        for b in [*bs, None]:
            if b is not None:
                inflight.append(engine.submit(b))
            while inflight and (len(inflight) >= depth or b is None):
                r = inflight.popleft().result()  # durable
                changes += len(r.changes)
                opened += r.opened
                merged += r.merged
                resolved += r.resolved
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        writer_cpu = engine.store_cpu_seconds() - w0
        cpu += writer_cpu
        open_now = len(engine.open_tickets())
        engine.close()
        db_mb = 0.0 if args.no_store else db_path(Path(tmp)).stat().st_size / 1e6
    n = sum(len(b.events) for b in bs)
    rows = [
        ("topology nodes", f"{CORES + AGGS + AGGS * PER_AGG:,}"),
        ("engine build (s)", f"{build_s:.2f}"),
        ("events", f"{n:,}"),
        ("batches (size)", f"{len(bs):,} ({args.batch_size})"),
        ("tickets opened / merged / resolved", f"{opened:,} / {merged:,} / {resolved:,}"),
        ("open at end", f"{open_now:,}"),
        ("ticket changes emitted", f"{changes:,}"),
        ("SQLite size (MB)", f"{db_mb:.1f}"),
        ("elapsed (s)", f"{elapsed:.2f}"),
        ("throughput (events/s)", f"{n / elapsed:,.0f}"),
        ("CPU time (s), events per CPU-s", f"{cpu:.2f}, {n / cpu:,.0f}"),
        ("  of which the store's writer process (s)", f"{writer_cpu:.2f}"),
        ("target (events/s)", "50,000"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 16}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()

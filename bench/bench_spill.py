"""Spill store throughput: write N events in batches with fsync=interval, then replay.

Usage: .venv/bin/python bench/bench_spill.py [--events 1000000] [--batch 1000]
       [--fsync interval] [--dir PATH]

Prints a table: write and replay events/s and MB/s, reopen (restart scan) time,
and peak RSS.  Bounded: writes exactly --events events (≈300 B each on disk)
into a temporary directory that is removed afterwards unless --dir is given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faultd.event import Batch, FaultEvent, new_id
from faultd.spill import SpillStore


def _pool(batch_size: int, n: int = 8) -> list[Batch]:
    pool = []
    for k in range(n):
        events = [
            FaultEvent(
                event_id=new_id(),
                node_id=f"access-{k}-{i % 97}",
                source="syslog" if i % 2 else "snmp",
                severity=1 + i % 4,
                fault_code="LINK-3-UPDOWN" if i % 2 else "IF-MIB::linkDown",
                message=f"Interface GigabitEthernet0/{i % 48}, changed state to down",
                timestamp=1_700_000_000.0 + i,
                received_at=1_700_000_000.25 + i,
                tier="access",
                dedup_key=f"{i:020x}",
                attributes={"facility": 23, "sender": "10.1.2.3", "ifIndex": i % 48},
            )
            for i in range(batch_size)
        ]
        pool.append(
            Batch(
                batch_id=new_id(),
                collector="bench",
                tier="access",
                lane="critical" if k == 0 else "standard",
                trigger="size",
                opened_at=1_700_000_000.0,
                emitted_at=1_700_000_012.0,
                event_count=batch_size,
                events=events,
            )
        )
    return pool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--fsync", default="interval", choices=["always", "interval", "never"])
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="faultd-bench-spill-"))
    directory = root / "spill"
    pool = _pool(args.batch)
    n_batches = args.events // args.batch
    try:
        store = SpillStore(directory, fsync=args.fsync)
        written = 0
        t0 = time.perf_counter()
        for i in range(n_batches):
            b = msgspec.structs.replace(pool[i % len(pool)], batch_id=new_id())
            written += store.append(b)
        store.flush()
        t_write = time.perf_counter() - t0
        store.close()

        t0 = time.perf_counter()
        store = SpillStore(directory, fsync=args.fsync)
        t_open = time.perf_counter() - t0
        segments = sum(store.stats().segments.values())
        replayed = events = 0
        t0 = time.perf_counter()
        for item in store.replay():
            events += len(item.batch.events)
            replayed += 1
            store.ack(item.ref)
        t_replay = time.perf_counter() - t0
        left = store.stats().records_pending
        store.close()
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)

    assert replayed == n_batches and events == n_batches * args.batch and left == 0
    mb = written / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("phase", "events/s", "MB/s", "seconds"),
        ("write", f"{events / t_write:,.0f}", f"{mb / t_write:,.1f}", f"{t_write:.2f}"),
        ("reopen", "-", f"{mb / t_open:,.0f}", f"{t_open:.3f}"),
        ("replay+ack", f"{events / t_replay:,.0f}", f"{mb / t_replay:,.1f}", f"{t_replay:.2f}"),
    ]
    print(
        f"spill bench: {events:,} events in {n_batches:,} batches of {args.batch}, "
        f"fsync={args.fsync}, {mb:,.1f} MB on disk in {segments} segments"
    )
    for r in rows:
        print(f"{r[0]:<11} {r[1]:>12} {r[2]:>10} {r[3]:>9}")
    print(f"peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()

"""Replay a real microwave-network alarm log through the correlation engine, scored
against the published causal ground truth.

Data: /work/shared/data/telecom-alarms/24V_439N_Microwave.tar.gz (gcastle PCIC 2021,
MIT): Alarm.csv (alarm_id = alarm type, device_id, start/end seconds), Topology.npy
(undirected device adjacency), DAG.npy (DAG[i, j] == 1: alarm type i causes type j).

How the policy is built (nothing here looks at DAG.npy):
- devices become nodes ``d<id>``; Topology.npy edges become ``topology.links``; the
  engine derives the dependency direction by BFS from the highest-degree device of
  each connected component (a device depends on its neighbour one hop closer to
  that hub), so a fault nearer the hub explains faults further out;
- each alarm is a fault ``ALARM-<type>`` on its device at start_timestamp; the few
  alarms with end > start get a clear event (attributes["clears"]) at their end;
- ``root_cause``: same-node grouping on, correlation window and max hops from the
  command line, idle tickets auto-resolve after --idle seconds of event time;
- events are sent in time-ordered batches (--batch-seconds of event time each);
- many alarms share a timestamp, so which one is the cause is a tie.  With
  ``--rank learned`` (default) the fault-code table gets a ``rank`` per alarm type,
  learned from the *first half* of the log only: for alarms on the same device
  within the window, how often type i strictly precedes type j, minus the reverse;
  types that tend to come first rank first.  ``--rank none`` breaks ties by row.

Scoring: every (root cause, symptom) pair of every final ticket is an attribution
root type → symptom type; it *agrees* when DAG.npy has a directed path from the
root's type to the symptom's.  Chance rate: the share of ordered type pairs (i ≠ j)
that have such a path (uniform, and weighted by how often types occur).  Pairs of
the same type (i == j) cannot agree (the DAG has no self-loops) and are reported
apart.  Bounded: the file has 64,598 alarms.

    .venv/bin/python bench/replay_telecom_alarms.py [--window 60] [--max-hops 1] [--rank none]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from faultd.correlate import CorrelationEngine, parse_policy
from faultd.correlate.store import TicketStore, db_path
from faultd.event import Batch, FaultEvent

ARCHIVE = Path("/work/shared/data/telecom-alarms/24V_439N_Microwave.tar.gz")
EPOCH = 1_700_000_000.0


def load(archive: Path, into: Path) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    folder = next(p.parent for p in into.rglob("Alarm.csv"))
    with (folder / "Alarm.csv").open() as fh:
        rows = list(csv.reader(fh))[1:]
    return rows, np.load(folder / "Topology.npy"), np.load(folder / "DAG.npy")


def closure(dag: np.ndarray) -> np.ndarray:
    reach = dag.astype(bool)
    for k in range(len(reach)):
        reach = reach | (reach[:, [k]] & reach[[k], :])
    return reach


def build_events(rows: list[list[str]]) -> list[FaultEvent]:
    events = []
    for n, (alarm, device, start, end) in enumerate(rows):
        code = f"ALARM-{alarm}"
        base = {"row": n}
        ts = EPOCH + float(start)
        events.append(
            FaultEvent(
                event_id=f"{n:08d}-f",
                node_id=f"d{device}",
                source="replay",
                severity=2,
                fault_code=code,
                message=code,
                timestamp=ts,
                received_at=ts,
                attributes=base,
            )
        )
        if end and float(end) > float(start):
            te = EPOCH + float(end)
            events.append(
                FaultEvent(
                    event_id=f"{n:08d}-c",
                    node_id=f"d{device}",
                    source="replay",
                    severity=4,
                    fault_code=code + "-CLEAR",
                    message="clear",
                    timestamp=te,
                    received_at=te,
                    attributes={"clears": code},
                )
            )
    events.sort(key=lambda e: e.timestamp)
    return events


def batches(events: list[FaultEvent], seconds: float) -> list[Batch]:
    out: list[Batch] = []
    chunk: list[FaultEvent] = []
    for e in events:
        if chunk and e.timestamp - chunk[0].timestamp >= seconds:
            out.append(_batch(chunk, len(out)))
            chunk = []
        chunk.append(e)
    if chunk:
        out.append(_batch(chunk, len(out)))
    return out


def _batch(chunk: list[FaultEvent], n: int) -> Batch:
    return Batch(
        batch_id=f"replay-{n:06d}",
        collector="replay",
        tier="access",
        lane="standard",
        trigger="replay",
        opened_at=chunk[0].timestamp,
        emitted_at=chunk[-1].timestamp,
        event_count=len(chunk),
        events=chunk,
    )


def learn_ranks(rows: list[list[str]], window: float) -> dict[int, int]:
    """Alarm type -> rank from temporal precedence on the first half of the log."""
    first = sorted(rows, key=lambda r: float(r[2]))[: len(rows) // 2]
    by_dev: dict[str, list[tuple[float, int]]] = {}
    for alarm, device, start, _ in first:
        by_dev.setdefault(device, []).append((float(start), int(alarm)))
    score: Counter[int] = Counter()
    for seq in by_dev.values():
        seq.sort()
        lo = 0
        for hi, (t, j) in enumerate(seq):
            while seq[lo][0] < t - window:
                lo += 1
            for t_i, i in seq[lo:hi]:
                if t_i < t and i != j:
                    score[i] += 1
                    score[j] -= 1
    types = sorted({int(r[0]) for r in rows}, key=lambda a: (-score[a], a))
    return {a: n for n, a in enumerate(types)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--window", type=float, default=60.0, help="correlation window (s)")
    ap.add_argument("--max-hops", type=int, default=1, help="ancestor levels; 0 = all")
    ap.add_argument("--idle", type=float, default=600.0, help="auto-resolve after (s)")
    ap.add_argument("--batch-seconds", type=float, default=10.0)
    ap.add_argument("--rank", choices=["learned", "none"], default="learned")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows, topo, dag = load(args.archive, Path(tmp) / "data")
        n_dev = topo.shape[0]
        links = [
            [f"d{i}", f"d{j}"] for i in range(n_dev) for j in range(i + 1, n_dev) if topo[i, j]
        ]
        ranks = learn_ranks(rows, args.window) if args.rank == "learned" else {}
        policy = parse_policy(
            {
                "fault_codes": [{"match": f"ALARM-{a}", "rank": r} for a, r in ranks.items()],
                "topology": {"nodes": {f"d{i}": {} for i in range(n_dev)}, "links": links},
                "root_cause": {
                    "correlation_window_seconds": args.window,
                    "same_node": True,
                    "max_hops": args.max_hops,
                    "auto_resolve_after_seconds": args.idle,
                    "resolve_when": "all_cleared",
                },
                "queues": {"noc": {}},
                "routing": {"queue": "noc"},
            }
        )
        state = Path(tmp) / "state"
        engine = CorrelationEngine(policy, TicketStore(db_path(state)), clock=lambda: EPOCH)
        events = build_events(rows)
        bs = batches(events, args.batch_seconds)
        t0 = time.perf_counter()
        opened = merged = changes = 0
        for b in bs:
            r = engine.evaluate(b)
            opened, merged, changes = opened + r.opened, merged + r.merged, changes + len(r.changes)
        elapsed = time.perf_counter() - t0
        engine.close()
        db = sqlite3.connect(db_path(state))
        pairs = db.execute(
            "SELECT r.fault_code, r.node, s.fault_code, s.node FROM tickets t"
            " JOIN faults r ON r.fid = t.tno"
            " JOIN faults s ON s.tno = t.tno AND s.fid != t.tno"
            " WHERE t.state != 'merged'"
        ).fetchall()
        db.close()
    reach = closure(dag)
    n_types = dag.shape[0]
    agree = same_type = 0
    by_kind: Counter[str] = Counter()
    agree_kind: Counter[str] = Counter()
    for rc, rn, sc, sn in pairs:
        i, j = int(rc.split("-")[1]), int(sc.split("-")[1])
        kind = "same device" if rn == sn else "dependent device"
        by_kind[kind] += 1
        if i == j:
            same_type += 1
        elif reach[i, j]:
            agree += 1
            agree_kind[kind] += 1
    distinct = len(pairs) - same_type
    freq = Counter(int(r[0]) for r in rows)
    total = sum(freq.values())
    uniform = sum(reach[i, j] for i in range(n_types) for j in range(n_types) if i != j) / (
        n_types * (n_types - 1)
    )
    w_num = sum(
        freq[i] * freq[j] for i in range(n_types) for j in range(n_types) if i != j and reach[i, j]
    )
    w_den = sum(freq[i] * freq[j] for i in range(n_types) for j in range(n_types) if i != j)
    tickets = opened - merged
    table = [
        ("raw alarms", f"{len(rows):,}"),
        ("events replayed (incl. clears)", f"{len(events):,} in {len(bs):,} batches"),
        ("tickets (opened - merged)", f"{tickets:,}  ({opened:,} opened, {merged:,} merged)"),
        ("compression", f"{1 - tickets / len(rows):.1%}"),
        ("ticket changes emitted", f"{changes:,}"),
        ("attributions (root -> symptom)", f"{len(pairs):,}"),
        (
            "  same device / dependent device",
            f"{by_kind['same device']:,} / {by_kind['dependent device']:,}",
        ),
        ("  same alarm type (cannot agree)", f"{same_type:,}"),
        ("agree with DAG, distinct types", f"{agree / max(distinct, 1):.1%} of {distinct:,}"),
        (
            "  of same-device / dependent pairs",
            f"{agree_kind['same device'] / max(1, by_kind['same device']):.1%} / "
            f"{agree_kind['dependent device'] / max(1, by_kind['dependent device']):.1%}",
        ),
        ("agree with DAG, all pairs", f"{agree / max(len(pairs), 1):.1%}"),
        ("chance: uniform type pairs", f"{uniform:.1%}"),
        ("chance: frequency-weighted pairs", f"{w_num / w_den:.1%}"),
        (
            "window / max hops / idle / batch",
            f"{args.window:g} s / {args.max_hops} / {args.idle:g} s / {args.batch_seconds:g} s",
        ),
        ("tie-break rank", args.rank),
        ("engine time (s)", f"{elapsed:.2f} ({len(events) / elapsed:,.0f} events/s)"),
        ("alarm types / devices", f"{n_types} / {n_dev} (total alarms {total:,})"),
    ]
    width = max(len(k) for k, _ in table)
    print(f"{'metric':<{width}}  value\n{'-' * width}  {'-' * 30}")
    for k, v in table:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()

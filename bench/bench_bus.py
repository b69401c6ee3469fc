"""End-to-end events/s through NATS JetStream, and consumer lag under a storm.

Starts a real nats-server (JetStream, temp store), a counting sink
(bench/sink.py), and 1 then 2 accumulator daemons (`faultd run`, role
accumulator, each its own process).  The bench process plays the collector: a
`faultd.bus.publisher.Publisher` publishes a storm of distinct events (the
same code path `role: collector` uses after normalisation) as fast as
JetStream acks them.  A sampler reads every partition consumer's pending count
(the lag) every 0.2 s.  Everything is bounded: a fixed event count and a
deadline per run.

    .venv/bin/python bench/bench_bus.py [--events 40000] [--partitions 8]

Columns: publish ev/s (collector -> JetStream acked), end-to-end ev/s (first
publish -> last event acknowledged by the sink), peak lag (messages in the
stream not yet delivered to an accumulator), time from the end of the storm
until the lag is 0 and every event reached the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faultd.bus.busmetrics import CollectorMetrics  # noqa: E402
from faultd.bus.connection import connect, ensure_stream  # noqa: E402
from faultd.bus.partition import durable_for  # noqa: E402
from faultd.bus.publisher import Publisher  # noqa: E402
from faultd.config import BusConfig  # noqa: E402
from faultd.event import FaultEvent, dedup_key, new_id  # noqa: E402
from faultd.spill.store import SpillStore  # noqa: E402

NATS = Path(sys.executable).parent / "nats-server"
RUN_DEADLINE = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as resp:
        return int(json.load(resp)["represented"])


def sink_reset(port: int) -> None:
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{port}/reset", method="POST"), timeout=5).close()


def make_events(count: int, nodes: int = 500) -> list[FaultEvent]:
    now = time.time()
    out = []
    for i in range(count):
        node = f"node-{i % nodes:04d}"
        message = f"Interface Gi0/{i} changed state to down"
        out.append(FaultEvent(
            event_id=new_id(), node_id=node, source="syslog", severity=2,
            fault_code="LINK-3-UPDOWN", message=message, timestamp=now, received_at=now,
            dedup_key=dedup_key(node, "LINK-3-UPDOWN", message)))
    return out


def accumulator_config(work: Path, name: str, nats_url: str, sink_port: int, stream: str,
                       partitions: int) -> Path:
    state = work / name
    state.mkdir(parents=True, exist_ok=True)
    raw = {
        "state_directory": str(state), "collector_name": name,
        "snmp": {"listen": None}, "syslog": {"listen": None}, "metrics": {"listen": None},
        "logging": {"level": "info"},
        "dispatch": {"endpoint": f"http://127.0.0.1:{sink_port}/batches", "max_in_flight": 8,
                     "rate_limit": {"requests_per_second": 2000, "burst": 2000},
                     "max_pending_batches": 256},
        "accumulator": {"queue_maxsize": 200000, "tiers": [
            {"name": "all", "match": ["*"], "window_seconds": 0.5, "max_batch_size": 2000}]},
        "bus": {"role": "accumulator", "servers": [nats_url], "stream": stream,
                "subject_prefix": f"bench.{stream.lower()}", "partitions": partitions,
                "member_name": name, "lease_ttl_seconds": 3, "fetch_batch": 1000},
    }
    path = state / "faultd.yaml"
    path.write_text(yaml.safe_dump(raw))
    os.chmod(path, 0o600)
    return path


async def lag_of(js: object, stream: str, partitions: int) -> int:
    total = 0
    for p in range(partitions):
        try:
            info = await js.consumer_info(stream, durable_for(stream, p))  # type: ignore[attr-defined]
        except Exception:
            continue
        total += info.num_pending or 0
    return total


async def run(work: Path, nats_url: str, sink_port: int, members: int, events: int,
              partitions: int) -> dict[str, float]:
    stream = f"BENCH{members}"
    procs = []
    logs = []
    for i in range(members):
        name = f"acc-{members}-{i}"
        path = accumulator_config(work, name, nats_url, sink_port, stream, partitions)
        log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "faultd", "run", "--config",
                                       str(path)], stdout=log, stderr=log, cwd=ROOT))
    config = BusConfig(role="collector", servers=[nats_url], stream=stream,
                       subject_prefix=f"bench.{stream.lower()}", partitions=partitions,
                       publish_timeout_seconds=10)
    nc = await connect(config, "bench-collector")
    js = nc.jetstream()
    try:
        await ensure_stream(js, config)
        deadline = time.monotonic() + 30
        while True:  # every member holds some partition
            texts = [(work / f"acc-{members}-{i}.log").read_text() for i in range(members)]
            if all("took partition" in t for t in texts):
                owned = sum(t.count("took partition") - t.count("released partition")
                            for t in texts)
                if owned >= partitions:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("accumulators never took their partitions:\n" + "\n".join(texts))
            await asyncio.sleep(0.2)
        sink_reset(sink_port)
        outbox = SpillStore(work / f"outbox-{members}", fsync="never")
        from prometheus_client import CollectorRegistry

        publisher = Publisher(nc, config, outbox, CollectorMetrics(CollectorRegistry()), "bench")
        batch = make_events(events)
        peak = 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, await lag_of(js, stream, partitions))
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        failed = 0
        for start in range(0, events, 1024):
            failed += len(await publisher.publish(batch[start:start + 1024]))
        published = time.monotonic()
        end = published + RUN_DEADLINE
        while sink_count(sink_port) < events - failed and time.monotonic() < end:
            await asyncio.sleep(0.05)
        delivered_at = time.monotonic()
        got = sink_count(sink_port)
        stop.set()
        await sampler
        outbox.close()
        return {"members": members, "events": events, "failed": failed, "delivered": got,
                "publish_rate": events / (published - started),
                "e2e_rate": got / (delivered_at - started), "peak_lag": peak,
                "drain": delivered_at - published}
    finally:
        await nc.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="faultd-bench-bus-") as tmp:
        work = Path(tmp)
        port, sink_port = free_port(), free_port()
        conf = work / "nats.conf"
        conf.write_text(f'listen: 127.0.0.1:{port}\njetstream {{ store_dir: "{work / "js"}" }}\n')
        server = subprocess.Popen([str(NATS), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sink.py"), "--port",
                                 str(sink_port)])
        try:
            wait_port(port)
            wait_port(sink_port)
            rows = [await run(work, f"nats://127.0.0.1:{port}", sink_port, members,
                              args.events, args.partitions) for members in (1, 2)]
        finally:
            for proc in (sink, server):
                proc.terminate()
                proc.wait(10)
    print(f"\nbus end to end: {args.events} distinct events, {args.partitions} partitions, "
          f"nats-server on loopback, {os.cpu_count()} CPUs shared by everything")
    print(f"{'accumulators':>12} {'publish ev/s':>13} {'end-to-end ev/s':>16} "
          f"{'peak lag':>9} {'drain s':>8} {'delivered':>10}")
    for r in rows:
        print(f"{r['members']:>12} {r['publish_rate']:>13,.0f} {r['e2e_rate']:>16,.0f} "
              f"{r['peak_lag']:>9,} {r['drain']:>8.2f} {r['delivered']:>10,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40000)
    parser.add_argument("--partitions", type=int, default=8)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

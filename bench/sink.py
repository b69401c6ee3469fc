"""Counting HTTP endpoint for benchmarks: acknowledges batches, counts what they represent.

GET /count returns {"requests", "batches", "events", "represented", "critical_events"}:
requests counts every POST (retries included: the HTTP calls the downstream had to
serve), batches/events count distinct batch_ids, and represented sums 1 + duplicates
over events (what the collector received and folded).  Batches seen twice (a retry
after a lost ack) are counted once, by batch_id.

Critical-lane latency: an event whose message carries ``t0=<seconds>`` (the sender's
time.monotonic(); CLOCK_MONOTONIC is shared by every process on the host) gets
``arrival - t0`` recorded, arrival being time.monotonic() when the request reached
the handler.  GET /latency returns {"critical": [...], "other": [...]} in seconds
("other": marked events that came on the standard lane).  GET /latency_stages splits
each critical latency by the stamps faultd puts in the envelope, all in seconds:
{"receive": received_at - t0 (socket queue, worker, loop), "window": emitted_at -
received_at (the critical window and timer lateness), "deliver": arrival - emitted_at
(dispatch, HTTP, this sink's own loop)}; t0 is moved to the wall clock with the
sink's monotonic-to-wall offset at arrival.

    python bench/sink.py --port 18080
"""

from __future__ import annotations

import argparse
import re
import time

import msgspec
from aiohttp import web

T0 = re.compile(r"t0=(\d+\.\d+)")


class _Event(msgspec.Struct):
    duplicates: int = 0
    message: str = ""
    received_at: float = 0.0


class _Batch(msgspec.Struct):
    batch_id: str
    events: list[_Event]
    lane: str = "standard"
    emitted_at: float = 0.0


def make_app() -> web.Application:
    decoder = msgspec.json.Decoder(_Batch)
    seen: set[str] = set()
    counts = {"requests": 0, "batches": 0, "events": 0, "represented": 0, "critical_events": 0}
    latency: dict[str, list[float]] = {"critical": [], "other": []}
    stages: dict[str, list[float]] = {"receive": [], "window": [], "deliver": []}

    async def post(request: web.Request) -> web.Response:
        arrival = time.monotonic()
        to_wall = time.time() - arrival
        counts["requests"] += 1
        batch = decoder.decode(await request.read())
        if batch.batch_id not in seen:
            seen.add(batch.batch_id)
            counts["batches"] += 1
            counts["events"] += len(batch.events)
            counts["represented"] += sum(1 + e.duplicates for e in batch.events)
            critical = batch.lane == "critical"
            if critical:
                counts["critical_events"] += len(batch.events)
            for e in batch.events:
                if "t0=" in e.message and (m := T0.search(e.message)):
                    latency["critical" if critical else "other"].append(arrival - float(m[1]))
                    if critical:
                        stages["receive"].append(e.received_at - (float(m[1]) + to_wall))
                        stages["window"].append(batch.emitted_at - e.received_at)
                        stages["deliver"].append(arrival + to_wall - batch.emitted_at)
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def get_latency(request: web.Request) -> web.Response:
        return web.json_response(latency)

    async def get_stages(request: web.Request) -> web.Response:
        return web.json_response(stages)

    async def reset(request: web.Request) -> web.Response:
        for key in counts:
            counts[key] = 0
        for values in (*latency.values(), *stages.values()):
            values.clear()
        seen.clear()
        return web.json_response(counts)

    app = web.Application(client_max_size=256 << 20)
    app.router.add_post("/batches", post)
    app.router.add_get("/count", count)
    app.router.add_get("/latency", get_latency)
    app.router.add_get("/latency_stages", get_stages)
    app.router.add_post("/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

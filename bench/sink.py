"""Counting HTTP endpoint for benchmarks: acknowledges batches, counts what they represent.

GET /count returns {"batches", "events", "represented"} where represented sums
1 + duplicates over events (what the collector received and folded).  Batches
seen twice (a retry after a lost ack) are counted once, by batch_id.

    python bench/sink.py --port 18080
"""

from __future__ import annotations

import argparse

import msgspec
from aiohttp import web


class _Event(msgspec.Struct):
    duplicates: int = 0


class _Batch(msgspec.Struct):
    batch_id: str
    events: list[_Event]


def make_app() -> web.Application:
    decoder = msgspec.json.Decoder(_Batch)
    seen: set[str] = set()
    counts = {"batches": 0, "events": 0, "represented": 0}

    async def post(request: web.Request) -> web.Response:
        batch = decoder.decode(await request.read())
        if batch.batch_id not in seen:
            seen.add(batch.batch_id)
            counts["batches"] += 1
            counts["events"] += len(batch.events)
            counts["represented"] += sum(1 + e.duplicates for e in batch.events)
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def reset(request: web.Request) -> web.Response:
        for key in counts:
            counts[key] = 0
        seen.clear()
        return web.json_response(counts)

    app = web.Application(client_max_size=256 << 20)
    app.router.add_post("/batches", post)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""A real HTTP correlation endpoint on loopback that records batches and can misbehave.

`script` is a list of responses consumed one per request (then 200 forever):
each item is a status int, or a dict {status, headers, delay, body}.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Request:
    at: float
    headers: dict[str, str]
    status: int
    batch: dict[str, Any] | None


@dataclass
class RecordingEndpoint:
    script: list[Any] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False  # answer 503 to everything while True
    hang: bool = False  # accept and never answer while True
    url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/batches", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/batches"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if raw[:2] == b"\x1f\x8b":  # aiohttp usually inflates gzip bodies itself
            raw = gzip.decompress(raw)
        batch = json.loads(raw)
        step: Any = self.script.pop(0) if self.script else 200
        if isinstance(step, int):
            step = {"status": step}
        if self.down:
            step = {"status": 503}
        while self.hang:
            await asyncio.sleep(0.05)
        if step.get("delay"):
            await asyncio.sleep(step["delay"])
        status = step.get("status", 200)
        self.requests.append(Request(time.monotonic(), dict(request.headers), status, batch))
        if 200 <= status < 300:
            self.accepted.append(batch)
            self._arrived.set()
        return web.Response(status=status, headers=step.get("headers", {}),
                            text=step.get("body", "ok"))

    # -- views ------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Every event of every accepted batch, deduplicated by batch_id (at-least-once)."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for batch in self.accepted:
            if batch["batch_id"] in seen:
                continue
            seen.add(batch["batch_id"])
            out.extend(batch["events"])
        return out

    def represented(self) -> int:
        """How many received messages the accepted events stand for (1 + duplicates each)."""
        return sum(1 + e["duplicates"] for e in self.events())

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("endpoint did not see what the test waited for")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.1))

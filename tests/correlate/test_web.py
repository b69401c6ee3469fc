"""The HTTP app on a real aiohttp server over 127.0.0.1, engine in a worker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from faultd.correlate import AsyncCorrelator
from faultd.correlate.service import serve_correlator
from faultd.correlate.tickets import TicketChange, read_log
from faultd.correlate.web import make_app
from faultd.event import encode_batch

from .conftest import T0, batch, ev


async def _client(app: web.Application) -> TestClient:  # type: ignore[type-arg]
    client: TestClient = TestClient(TestServer(app, host="127.0.0.1"))  # type: ignore[type-arg]
    await client.start_server()
    return client


async def test_post_batches_tickets_and_page(
    write_policy: Callable[..., Path], tmp_path: Path
) -> None:
    correlator = AsyncCorrelator(
        write_policy(), tmp_path / "state", mode="thread", clock=lambda: T0
    )
    await correlator.start()
    got: list[TicketChange] = []

    async def on_changes(changes: list[TicketChange]) -> None:
        got.extend(changes)

    client = await _client(make_app(correlator, on_changes=on_changes, clock=lambda: T0 + 125))
    try:
        children = [ev(f"acc-{i:03d}", ts=T0 + 1) for i in range(1, 201)]
        b1 = batch(children[:150])
        b2 = batch([*children[150:], ev("agg-1", ts=T0 + 2), ev("lyo-004", "FAN", ts=T0)])
        for b in (b1, b2):
            resp = await client.post(
                "/batches", data=encode_batch(b), headers={"Idempotency-Key": b.batch_id}
            )
            assert resp.status == 200, await resp.text()
        again = await client.post(
            "/batches", data=encode_batch(b1), headers={"Idempotency-Key": b1.batch_id}
        )
        summary = await again.json()
        assert summary["duplicate"] is True and summary["opened"] == 150

        tickets = await (await client.get("/tickets")).json()
        assert sorted(t["root_cause"]["node"] for t in tickets) == ["agg-1", "lyo-004"]
        agg = next(t for t in tickets if t["root_cause"]["node"] == "agg-1")
        assert agg["symptom_count"] == 200 and "cust-042" in agg["impacted_services"]
        everything = await (await client.get("/tickets?state=all")).json()
        assert sum(t["state"] == "merged" for t in everything) == 150  # others never left
        assert sum(c.action == "merge" for c in got) == 150  # the 50 others were never emitted
        one = await client.get(f"/tickets/{agg['ticket_id']}")
        assert (await one.json())["ticket_id"] == agg["ticket_id"]
        assert (await client.get("/tickets/nope")).status == 404
        assert {c.action for c in got} == {"open", "merge"}

        page = await client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        text = await page.text()
        assert re.search(r'<meta http-equiv="refresh" content="\d+">', text)
        rows = re.findall(r'<tr class="ticket[^"]*" data-ticket-id="([^"]+)"', text)
        assert sorted(rows) == sorted(t["ticket_id"] for t in tickets)
        row = re.search(rf'data-ticket-id="{agg["ticket_id"]}".*?</tr>', text, re.S)
        assert row is not None
        cells = dict(re.findall(r'<td class="([a-z-]+)"[^>]*>(.*?)</td>', row.group(0)))
        assert cells["root-node"] == "agg-1"
        assert cells["symptoms"] == "200"
        assert cells["age"] == "2m05s"
        assert cells["queue"].startswith("noc")
        assert "cust-001" in cells["services"]
    finally:
        await client.close()
        await correlator.close()


async def test_invalid_batch_is_400(write_policy: Callable[..., Path], tmp_path: Path) -> None:
    correlator = AsyncCorrelator(write_policy(), tmp_path / "state", mode="thread")
    await correlator.start()
    client = await _client(make_app(correlator))
    try:
        assert (await client.post("/batches", data=b"{not json")).status == 400
        assert (await client.post("/batches", data=b'{"batch_id": "x"}')).status == 400
        assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
        assert (await client.get("/tickets?state=bogus")).status == 400
        page = await (await client.get("/")).text()
        assert 'class="empty"' in page
    finally:
        await client.close()
        await correlator.close()


async def test_serve_correlator_process_worker_and_ticket_log(
    write_policy: Callable[..., Path], tmp_path: Path, unused_tcp_port: int
) -> None:
    state = tmp_path / "svc"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_correlator(write_policy(), f"127.0.0.1:{unused_tcp_port}", state, stop)
    )
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{base}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            b = batch([ev("agg-2", ts=T0), ev("lyo-001", ts=T0 + 1)])
            async with session.post(f"{base}/batches", data=encode_batch(b)) as r:
                assert r.status == 200
                assert (await r.json())["opened"] == 1
            clear = batch([ev("agg-2", "IF-MIB::linkUp", ts=T0 + 9)])
            async with session.post(f"{base}/batches", data=encode_batch(clear)) as r:
                assert (await r.json())["resolved"] == 1
            async with session.get(f"{base}/tickets") as r:
                assert await r.json() == []
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    changes = read_log(state / "tickets" / "tickets.jsonl")
    assert [(c.action, c.ticket.root_cause.node) for c in changes] == [
        ("open", "agg-2"),
        ("resolve", "agg-2"),
    ]
    assert changes[1].ticket.symptom_count == 1

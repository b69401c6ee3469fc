"""NOC view and batch intake over HTTP (aiohttp): `make_app(correlator)`.

- ``POST /batches``  faultd.batch/v1 JSON → 200 + summary JSON; 400 when invalid.
  ``Idempotency-Key`` (default: the batch_id) identifies the batch: a repeat is
  acknowledged with the first summary and ``"duplicate": true``.
- ``GET /tickets``   open tickets as JSON (``?state=all`` for every ticket,
  suppressed included); ``GET /tickets/{id}`` one ticket.
- ``GET /healthz``   liveness.
- ``GET /``          read-only HTML wall screen of open tickets, refreshing itself;
  each row is ``<tr class="ticket" data-ticket-id="…">`` with cells classed
  ``root-node``, ``root-fault``, ``symptoms``, ``services``, ``age``, ``queue``.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from faultd.correlate.tickets import TicketChange, TicketView, encode
from faultd.correlate.worker import AsyncCorrelator
from faultd.event import decode_batch

ChangeHandler = Callable[[list[TicketChange]], Awaitable[None]]

CORRELATOR_KEY = web.AppKey("correlator", AsyncCorrelator)
_MAX_BODY = 64 * 1024 * 1024


def make_app(
    correlator: AsyncCorrelator,
    *,
    on_changes: ChangeHandler | None = None,
    refresh_seconds: int = 10,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The HTTP app over a started AsyncCorrelator; `on_changes` receives emitted changes."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[CORRELATOR_KEY] = correlator

    async def reader_views(state: str, include_suppressed: bool) -> list[TicketView]:
        reader = correlator.reader
        if reader is None:
            raise web.HTTPServiceUnavailable(text="correlator not started")
        return await asyncio.to_thread(
            reader.tickets, state=state, include_suppressed=include_suppressed
        )

    async def post_batch(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            batch = decode_batch(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return web.json_response({"error": f"invalid batch: {exc}"}, status=400)
        if batch.schema != "faultd.batch/v1":
            return web.json_response({"error": f"unknown schema {batch.schema!r}"}, status=400)
        key = request.headers.get("Idempotency-Key", "").strip()
        if key and key != batch.batch_id:
            batch = msgspec.structs.replace(batch, batch_id=key)
        result = await correlator.evaluate(batch)
        if on_changes is not None and result.changes:
            await on_changes(result.changes)
        return web.json_response(result.summary())

    async def get_tickets(request: web.Request) -> web.Response:
        state = request.query.get("state", "open")
        if state not in ("open", "all", "resolved", "merged"):
            return web.json_response(
                {"error": "state must be open|all|resolved|merged"}, status=400
            )
        views = await reader_views(state, state != "open")
        return web.Response(body=encode(views), content_type="application/json")

    async def get_ticket(request: web.Request) -> web.Response:
        reader = correlator.reader
        if reader is None:
            raise web.HTTPServiceUnavailable()
        view = await asyncio.to_thread(reader.ticket, request.match_info["ticket_id"])
        if view is None:
            raise web.HTTPNotFound()
        return web.Response(body=encode(view), content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def index(request: web.Request) -> web.Response:
        views = await reader_views("open", False)
        return web.Response(
            text=render_page(views, clock(), refresh_seconds), content_type="text/html"
        )

    app.router.add_post("/batches", post_batch)
    app.router.add_get("/tickets", get_tickets)
    app.router.add_get("/tickets/{ticket_id}", get_ticket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    return app


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


_SEV = {1: "critical", 2: "major", 3: "minor", 4: "warning"}

_STYLE = """body{font-family:sans-serif;background:#111;color:#eee;margin:1em}
table{border-collapse:collapse;width:100%}th,td{padding:.3em .6em;border-bottom:1px solid #333;
text-align:left}tr.sev-critical td{background:#5a1111}tr.sev-major td{background:#5a3311}
tr.sev-minor td{background:#4a4a11}.muted{color:#999}"""


def render_page(views: list[TicketView], now: float, refresh_seconds: int) -> str:
    """The wall-screen HTML for a list of open tickets (most urgent first)."""
    esc = html.escape
    rows = []
    for v in sorted(views, key=lambda v: (v.severity, -v.opened_at)):
        rc = v.root_cause
        target = v.routing[0] if v.routing else None
        queue = f"{target.queue} (P{target.priority}, {target.group})" if target else ""
        services = ", ".join(v.impacted_services[:20])
        if len(v.impacted_services) > 20:
            services += f" … (+{len(v.impacted_services) - 20})"
        rows.append(
            f'<tr class="ticket sev-{_SEV.get(v.severity, "warning")}" '
            f'data-ticket-id="{esc(v.ticket_id)}" data-severity="{v.severity}">'
            f'<td class="ticket-id">{esc(v.ticket_id)}</td>'
            f'<td class="severity">{_SEV.get(v.severity, v.severity)}</td>'
            f'<td class="root-node">{esc(rc.node)}</td>'
            f'<td class="root-fault">{esc(rc.fault_code)}</td>'
            f'<td class="symptoms">{v.symptom_count}</td>'
            f'<td class="services">{esc(services)}</td>'
            f'<td class="age" data-opened-at="{v.opened_at}">{_age(now - v.opened_at)}</td>'
            f'<td class="queue">{esc(queue)}</td>'
            f'<td class="maintenance">{esc(v.maintenance.state)}</td></tr>'
        )
    body = "\n".join(rows) or '<tr class="empty"><td colspan="9">No open tickets</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{int(refresh_seconds)}">
<title>faultd — open tickets ({len(views)})</title><style>{_STYLE}</style></head>
<body><h1>Open tickets: <span id="open-count">{len(views)}</span></h1>
<table id="tickets"><thead><tr><th>Ticket</th><th>Severity</th><th>Root cause node</th>
<th>Fault</th><th>Symptoms</th><th>Impacted services</th><th>Age</th><th>Queue</th>
<th>Maintenance</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p class="muted">Refreshes every {int(refresh_seconds)} s.</p></body></html>
"""

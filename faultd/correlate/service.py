"""Standalone correlator service (`faultd correlate --config PATH`): `serve_correlator`.

Runs the engine in its worker process, serves the HTTP app on `listen`
("host:port", "[::1]:port"), and delivers ticket changes itself: to each route's
webhook (one POST, best effort: inside the daemon the lead's rate-limited
dispatcher does this properly), and to the ticket log under the state directory
for routes without a webhook or when a webhook POST fails.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
from aiohttp import web

from faultd.config import parse_hostport
from faultd.correlate.tickets import TicketChange, TicketLog, encode
from faultd.correlate.web import make_app
from faultd.correlate.worker import AsyncCorrelator

log = logging.getLogger("faultd.correlate")


class ChangeSink:
    """Delivers changes: webhook per route target, else (or on failure) the ticket log."""

    def __init__(self, log_: TicketLog, session: aiohttp.ClientSession) -> None:
        self.log = log_
        self._session = session

    async def __call__(self, changes: list[TicketChange]) -> None:
        to_log: list[TicketChange] = []
        for change in changes:
            hooks = {t.webhook for t in change.routing if t.webhook}
            if len(hooks) < len(change.routing) or not change.routing:
                to_log.append(change)
            for url in sorted(hooks):
                if not await self._post(url, change) and change not in to_log:
                    to_log.append(change)
        if to_log:
            await asyncio.to_thread(self.log.append, to_log)

    async def _post(self, url: str, change: TicketChange) -> bool:
        try:
            async with self._session.post(
                url,
                data=encode(change),
                headers={"Content-Type": "application/json", "Idempotency-Key": change.change_id},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                if resp.status < 300:
                    return True
                log.warning("webhook %s answered %s for %s", url, resp.status, change.change_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook %s failed for %s: %s", url, change.change_id, exc)
        return False


async def serve_correlator(
    policy_path: Path, listen: str, state_directory: Path, stop: asyncio.Event
) -> None:
    """Serve the correlator until `stop` is set (raises PolicyError on a bad policy)."""
    host, port = parse_hostport(listen)
    correlator = AsyncCorrelator(policy_path, state_directory, mode="process")
    await correlator.start()
    ticket_log = TicketLog.under(state_directory)
    try:
        async with aiohttp.ClientSession() as session:
            app = make_app(correlator, on_changes=ChangeSink(ticket_log, session))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, host, port)
                await site.start()
                log.info("correlator listening on %s:%s", host, port)
                await stop.wait()
            finally:
                await runner.cleanup()
    finally:
        await correlator.close()
        ticket_log.close()

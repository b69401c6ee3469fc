"""The NOC wall page rendered by a real headless Chromium (Debian package `chromium`).

The real aiohttp app serves real tickets (engine in its worker thread, SQLite
store) on 127.0.0.1; Chromium loads ``/`` and dumps the DOM it built, and the
ticket rows are checked in that DOM, not in the HTML we sent.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp import web

from faultd.correlate import AsyncCorrelator
from faultd.correlate.web import make_app

from .conftest import T0, batch, ev

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium)"
)


class _Rows(HTMLParser):
    """Collects tr.ticket rows: data attributes and the text of each classed cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "ticket" in a.get("class", "").split():
            self._row = self.rows.setdefault(a["data-ticket-id"], {})
            self._row["data-severity"] = a.get("data-severity", "")
        elif tag == "td" and self._row is not None:
            self._cell = a.get("class", "")
            self._row[self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self._row[self._cell] += data


async def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def test_wall_page_renders_ticket_rows_in_chromium(
    write_policy: Callable[..., Path], tmp_path: Path
) -> None:
    correlator = AsyncCorrelator(
        write_policy(), tmp_path / "state", mode="thread", clock=lambda: T0
    )
    await correlator.start()
    runner = web.AppRunner(make_app(correlator, clock=lambda: T0 + 600), access_log=None)
    await runner.setup()
    try:
        children = [ev(f"acc-{i:03d}", ts=T0 + 1 + i) for i in range(1, 13)]
        cut = await correlator.evaluate(batch([ev("agg-1", ts=T0 + 5), *children]))
        core = await correlator.evaluate(batch([ev("core-2", "OPTICAL-LOS", T0 + 300)]))
        agg_view = next(c.ticket for c in cut.changes if c.action == "open")
        agg_id = agg_view.ticket_id
        core_id = core.changes[0].ticket_id

        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        dom = await _dump_dom(f"http://127.0.0.1:{port}/", tmp_path / "chromium-profile")
    finally:
        await runner.cleanup()
        await correlator.close()

    parser = _Rows()
    parser.feed(dom)
    assert "Open tickets" in dom
    assert set(parser.rows) == {agg_id, core_id}
    agg = parser.rows[agg_id]
    assert agg["root-node"] == "agg-1"
    assert agg["root-fault"] == "IF-MIB::linkDown"
    assert agg["symptoms"] == "12"
    services = agg_view.impacted_services  # every customer below agg-1: the page lists 20
    assert len(services) > 20 and "north-backhaul" in services
    assert agg["services"] == ", ".join(services[:20]) + f" … (+{len(services) - 20})"
    assert agg["services"].startswith("cust-001, cust-002, ")
    assert agg["queue"] == "noc (P4, NOC L1)"
    assert agg["age"] == "10m00s"  # opened at T0 (engine clock), page rendered at T0 + 600
    core_row = parser.rows[core_id]
    assert core_row["root-node"] == "core-2" and core_row["root-fault"] == "OPTICAL-LOS"
    assert core_row["symptoms"] == "0" and core_row["data-severity"] == "1"
    assert core_row["queue"] == "transport (P1, Transport NOC)"
    assert core_row["services"].startswith("backbone, lyo-cust-001, ")  # all of core-2's tree
    # most urgent first: the critical core ticket is the first row Chromium laid out
    assert dom.index(core_id) < dom.index(agg_id)

"""The metrics listener: /metrics, /healthz, /readyz and /debug/* over aiohttp.

/healthz answers 200 while the event loop runs (this handler runs on it);
/readyz answers 200 once listeners are bound and the config is loaded, 503 before
and during shutdown.  /debug/* (task dump, raw ring) answers loopback peers only
and can be disabled with `metrics.debug_endpoints: false`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from faultd.config import parse_hostport
from faultd.observe.metrics import Metrics
from faultd.observe.tasks import dump_tasks

DebugHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(peer: str | None) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return peer.startswith("/")  # unix socket peers are local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class ObservabilityServer:
    def __init__(self, metrics: Metrics, *, is_ready: Callable[[], bool],
                 debug_enabled: bool = True) -> None:
        self.metrics = metrics
        self.is_ready = is_ready
        self.debug_enabled = debug_enabled
        self.debug_routes: dict[str, DebugHandler] = {}
        self._runner: web.AppRunner | None = None
        self.bound: list[tuple[str, int]] = []

    def add_debug_route(self, name: str, handler: DebugHandler) -> None:
        self.debug_routes[name] = handler

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_route("*", "/debug/{name}", self._debug)
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.is_ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def _debug(self, request: web.Request) -> web.StreamResponse:
        if not self.debug_enabled:
            raise web.HTTPNotFound(text="debug endpoints are disabled\n")
        if not _is_loopback(request.remote):
            raise web.HTTPForbidden(text="debug endpoints answer loopback peers only\n")
        name = request.match_info["name"]
        if name == "tasks":
            return web.Response(text=dump_tasks())
        handler = self.debug_routes.get(name)
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)

    async def start(self, listen: str) -> None:
        host, port = parse_hostport(listen)
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here; needed for port 0
        sockets = getattr(server, "sockets", None) or []
        self.bound = [s.getsockname()[:2] for s in sockets]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

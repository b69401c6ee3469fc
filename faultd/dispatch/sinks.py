"""Where batches go: the `Sink` interface, the HTTP endpoint sink and the embedded file sink.

A sink makes exactly one delivery attempt and classifies the result; retrying,
rate limiting and spilling are the dispatcher's job.  Classification follows
DESIGN.md: 2xx ok; 408/429/503 and other 5xx, timeouts and connection errors
retry (honouring Retry-After); any other 4xx is a permanent rejection.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiohttp

from faultd.config import DispatchConfig
from faultd.dispatch.backoff import parse_retry_after
from faultd.dispatch.encode import gzip_sliced
from faultd.event import Batch

OutcomeKind = Literal["ok", "retry", "reject"]
_RETRY_4XX = frozenset({408, 425, 429})


def retryable_status(status: int) -> bool:
    """A non-2xx answer worth retrying: 408/425/429 and every 5xx (DESIGN.md)."""
    return status in _RETRY_4XX or status >= 500


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""


class Sink(Protocol):
    name: str

    async def deliver(self, batch: Batch, body: bytes) -> Outcome: ...

    async def close(self) -> None: ...


def client_ssl_context(config: DispatchConfig) -> ssl.SSLContext | None:
    tls = config.tls
    if not (config.endpoint or "").startswith("https:"):
        return None
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class HttpSink:
    """POST each batch as JSON to the configured endpoint."""

    name = "http"

    def __init__(self, config: DispatchConfig) -> None:
        assert config.endpoint is not None
        self.endpoint = config.endpoint
        self._gzip = config.gzip
        self._headers = {"Content-Type": "application/json", **config.headers}
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        connector = aiohttp.TCPConnector(
            limit=config.max_in_flight * 2 + 2, ssl=client_ssl_context(config) or False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            raise_for_status=False,
        )

    async def deliver(self, batch: Batch, body: bytes) -> Outcome:
        headers = dict(self._headers)
        headers["Idempotency-Key"] = batch.batch_id
        data = await gzip_sliced(body) if self._gzip else body
        try:
            async with self._session.post(self.endpoint, data=data, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:
                    await response.read()
                    return Outcome("ok", status)
                text = (await response.text(errors="replace"))[:500]
                if retryable_status(status):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    return Outcome("retry", status, retry_after, text)
                return Outcome("reject", status, None, text)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome("retry", None, None, f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        await self._session.close()


class FileSink:
    """The embedded default downstream: one JSON line per batch under the state directory.

    It lets `make run` work with nothing else installed; `tail -f` it to watch batches.
    """

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._file = os.fdopen(fd, "ab", buffering=0)

    async def deliver(self, batch: Batch, body: bytes) -> Outcome:
        try:
            self._file.write(body + b"\n")
        except OSError as exc:
            return Outcome("retry", None, None, f"write failed: {exc.strerror}")
        return Outcome("ok")

    async def close(self) -> None:
        self._file.close()

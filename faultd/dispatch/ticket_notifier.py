"""Ticket webhooks: deliver correlator ticket changes to their queues' webhooks.

One worker per webhook URL, each with its own token bucket, full-jitter retries
(honouring Retry-After) and a queue ordered by route priority, so a priority-1
ticket for the transport queue goes out before routine ones.  A change is
retried until delivered; a permanent 4xx is logged and dropped (it is already in
the ticket log).  Changes still pending at shutdown are written to an outbox
file and re-sent at the next start, so a webhook outage loses nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
from pathlib import Path

import aiohttp
import msgspec

from faultd.cancel import cancel_and_wait
from faultd.config import CorrelationConfig
from faultd.correlate.tickets import TicketChange, decode_change, encode
from faultd.dispatch.backoff import full_jitter, parse_retry_after
from faultd.dispatch.ratelimit import TokenBucket
from faultd.dispatch.sinks import retryable_status
from faultd.observe.quietlog import QuietLogger

log = logging.getLogger("faultd.tickets")
quiet = QuietLogger(log)


class _Pending(msgspec.Struct):
    url: str
    change: TicketChange


class _Webhook:
    def __init__(self, url: str, bucket: TokenBucket) -> None:
        self.url = url
        self.bucket = bucket
        self.heap: list[tuple[int, int, TicketChange]] = []
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.current: TicketChange | None = None


class TicketNotifier:
    def __init__(self, config: CorrelationConfig, outbox: Path) -> None:
        self._config = config
        self._outbox = outbox
        self._hooks: dict[str, _Webhook] = {}
        self._seq = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.webhook_timeout_seconds))
        if self._outbox.exists():
            restored = 0
            for line in self._outbox.read_bytes().splitlines():
                try:
                    pending = msgspec.json.decode(line, type=_Pending)
                except msgspec.DecodeError:
                    continue
                self._enqueue(pending.url, pending.change)
                restored += 1
            self._outbox.unlink()
            log.info("re-sending %d ticket changes left from the last run", restored)

    def submit(self, changes: list[TicketChange]) -> None:
        for change in changes:
            for url in {t.webhook for t in change.routing if t.webhook}:
                self._enqueue(url, change)

    def pending(self) -> int:
        return sum(len(h.heap) + (h.current is not None) for h in self._hooks.values())

    def _enqueue(self, url: str, change: TicketChange) -> None:
        hook = self._hooks.get(url)
        if hook is None:
            rate = self._config.webhook_rate_limit
            loop = asyncio.get_running_loop()
            hook = _Webhook(url, TokenBucket(rate.requests_per_second, rate.burst, loop.time))
            hook.task = asyncio.create_task(self._worker(hook), name=f"webhook {url}")
            self._hooks[url] = hook
        priority = min((t.priority for t in change.routing if t.webhook == url), default=9)
        heapq.heappush(hook.heap, (priority, next(self._seq), change))
        hook.wakeup.set()

    async def _worker(self, hook: _Webhook) -> None:
        while True:
            if not hook.heap:
                hook.wakeup.clear()
                await hook.wakeup.wait()
                continue
            _, _, change = heapq.heappop(hook.heap)
            hook.current = change
            await self._deliver(hook, change)
            hook.current = None

    async def _deliver(self, hook: _Webhook, change: TicketChange) -> None:
        assert self._session is not None
        body = encode(change)
        headers = {"Content-Type": "application/json", "Idempotency-Key": change.change_id}
        attempt = 0
        while True:
            await hook.bucket.take()
            retry_after = None
            try:
                async with self._session.post(hook.url, data=body, headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return
                    if not retryable_status(resp.status):
                        log.error("webhook %s refused ticket change %s (HTTP %d): %s", hook.url,
                                  change.change_id, resp.status, (await resp.text())[:300])
                        return
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    detail = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                detail = f"{type(exc).__name__}: {exc}"
            quiet.warning(f"webhook:{hook.url}", "webhook %s failed (%s); retrying", hook.url,
                          detail)
            delay = full_jitter(attempt, 0.5, 30.0)
            if retry_after is not None:
                delay = max(delay, min(retry_after, 3600.0))
            attempt += 1
            await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop the workers; persist what was not delivered to the outbox."""
        await cancel_and_wait([h.task for h in self._hooks.values() if h.task is not None])
        leftovers: list[bytes] = []
        for hook in self._hooks.values():
            pending = [c for _, _, c in sorted(hook.heap)]
            if hook.current is not None:
                pending.insert(0, hook.current)
            leftovers += [msgspec.json.encode(_Pending(hook.url, c)) for c in pending]
        if leftovers:
            self._outbox.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._outbox, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as f:
                f.write(b"\n".join(leftovers) + b"\n")
            log.warning("%d ticket changes not delivered yet; kept in %s", len(leftovers),
                        self._outbox)
        if self._session is not None:
            await self._session.close()


__all__ = ["TicketNotifier", "decode_change"]

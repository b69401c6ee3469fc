"""Stopping asyncio tasks reliably: cancel, wait, and cancel again if it was swallowed.

A single `task.cancel()` followed by `gather(task)` is not enough on CPython 3.11:
`asyncio.wait_for()` swallows a cancellation that arrives in the same loop iteration
in which its inner future completes (gh-86296, fixed in 3.12 when wait_for was
rebuilt on `asyncio.timeout`).  The task then carries on as if nothing had happened,
and the gather waits forever.  nats-py awaits every request through wait_for, so a
bus task stopped while a KV update is being answered hit exactly that: a graceful
leave that hung (tests/bus/test_group.py, under CPU load).  `cancel_and_wait`
cancels, waits a little, cancels whatever is still running again, and gives up
after a bound instead of hanging the shutdown.  faultd's own code waits with
`asyncio.timeout()`, which does not have the flaw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("faultd")

RETRY_SECONDS = 0.5
LIMIT_SECONDS = 10.0


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *,
                          retry: float = RETRY_SECONDS,
                          limit: float = LIMIT_SECONDS) -> set[asyncio.Future[Any]]:
    """Cancel `tasks` and wait until they are done, re-cancelling every `retry` seconds
    those that are not; returns the ones still running after `limit` seconds (logged).

    Exceptions the tasks ended with are retrieved (not raised): this is for shutdown.
    """
    every = list(tasks)
    pending = {t for t in every if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(retry, remaining))
    for task in every:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    for task in pending:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        log.error("task %s did not stop within %.0fs of being cancelled; leaving it", name,
                  limit)
    return pending

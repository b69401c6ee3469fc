"""Event-loop lag probe: how late a scheduled wake-up actually runs.

Every `interval` seconds the probe sleeps and measures the overshoot; the value
feeds faultd_loop_lag_seconds and a rate-limited warning above `warn_seconds`.
A starving loop (a blocking call, a parse storm) shows up here first.
"""

from __future__ import annotations

import asyncio
import logging

from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger

log = logging.getLogger("faultd.loop")
quiet = QuietLogger(log, interval=30.0)


async def probe_loop_lag(metrics: Metrics, stop: asyncio.Event, interval: float = 0.25,
                         warn_seconds: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        scheduled = loop.time() + interval
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - scheduled)
        metrics.loop_lag.observe(lag)
        metrics.last_loop_lag = lag
        if lag > warn_seconds:
            quiet.warning("lag", "event loop lagging: woke %.3f s late", lag)

"""Time for the pipeline: a `Clock` the accumulator and dispatcher schedule on.

Production uses `LoopClock` (the asyncio loop's monotonic time and timers); tests
use a manual clock with the same interface so windows can be driven without
sleeping.  `wall()` is epoch time for envelope stamps; `monotonic()` is for
measuring and scheduling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class LoopClock:
    """The running event loop's clock; timers are loop.call_later handles."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()

    def monotonic(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_later(delay, callback)

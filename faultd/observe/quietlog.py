"""Rate-limited logging for things that can repeat thousands of times a second.

`QuietLogger.warning(key, msg, ...)` logs the first occurrence of `key`, then at
most one line per `interval` seconds, each saying how many similar lines were
suppressed since the last one.  Bad input from a hostile or broken device must
be visible in the log without the log becoming the outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class QuietLogger:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._now = now
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        if len(self._last) > 10_000:  # bound the key tables under hostile input
            self._last.clear()
            self._suppressed.clear()
        if suppressed:
            msg = f"{msg} (suppressed {suppressed} similar in the last {self.interval:g}s)"
        self.logger.log(level, msg, *args, **kwargs)

    def warning(self, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, key, msg, *args, **kwargs)

    def error(self, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, key, msg, *args, **kwargs)

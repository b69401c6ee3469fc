"""Logging setup: text or JSON lines on stderr, or native journald fields under systemd.

Extra fields passed with `extra={"FAULTD_BATCH_ID": ...}` become journal fields
under systemd and keys in JSON output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from faultd import systemd

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                plain = isinstance(value, (int, float, str, bool))
                out[key.lower()] = value if plain else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    numeric = getattr(logging, level.upper(), logging.INFO)
    handler: logging.Handler | None = systemd.journal_handler(numeric)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(numeric)
    # aiohttp/pysnmp chatter stays at warning unless we debug
    for noisy in ("aiohttp.access", "pysnmp", "pysmi", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))

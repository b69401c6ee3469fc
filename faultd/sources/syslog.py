"""Syslog source: UDP datagrams and TCP frames -> normalised events -> intake.

Parsing and normalisation live in `faultd.normalize_syslog`; this module only
receives, filters by sender, counts, and hands events on.  Bad input is counted
in faultd_parse_errors_total{source="syslog"} and logged with rate limiting; it
never disturbs the events around it.
"""

from __future__ import annotations

import logging
import time
from zoneinfo import ZoneInfo

import msgspec

from faultd.addresses import SocketAddress
from faultd.config import SyslogConfig
from faultd.intake import Intake
from faultd.normalize_syslog import SyslogNormalizer, SyslogParseError
from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger
from faultd.observe.ring import RawRing
from faultd.parse.syslog_vendors import build_vendor_table
from faultd.sources.fairness import build_limiter
from faultd.sources.filters import SourceFilter

log = logging.getLogger("faultd.syslog")
quiet = QuietLogger(log)


class SyslogIngest:
    """Per-message handling shared by the UDP and TCP syslog transports."""

    __slots__ = ("_dropped", "_filter", "_intake", "_limiter", "_max_size", "_normalizer",
                 "_parse_error", "_rate_dropped", "_received", "ring")

    def __init__(self, config: SyslogConfig, intake: Intake, metrics: Metrics,
                 ring: RawRing | None = None) -> None:
        self.ring = ring
        vendors = build_vendor_table(
            [{k: v for k, v in msgspec.structs.asdict(p).items() if v is not None}
             for p in config.vendor_patterns])
        self._normalizer = SyslogNormalizer(
            ZoneInfo(config.default_timezone),
            severity_map=config.severity_map,
            vendor_table=vendors,
            max_clock_skew_seconds=config.max_clock_skew_seconds,
        )
        self._filter = SourceFilter(config.allowed_sources)
        self._intake = intake
        self._received = metrics.received["syslog"]
        self._parse_error = metrics.parse_error["syslog"]
        self._dropped = metrics.dropped["not_allowed"]
        self._limiter = build_limiter(config.source_rate_limit)
        self._rate_dropped = metrics.dropped["source_rate"]
        self._max_size = config.max_message_size

    def on_message(self, data: bytes, addr: SocketAddress, source: str = "syslog") -> None:
        received_at = time.time()
        self._received.inc()
        if self.ring is not None:
            self.ring.append(received_at, source, addr, data)
        sender = addr[0]
        if not self._filter.allowed(sender):
            self._dropped.inc()
            quiet.warning(f"syslog-denied:{sender}", "syslog from %s refused: not in "
                          "syslog.allowed_sources", sender)
            return
        if self._limiter is not None and not self._limiter.allow(sender):
            self._rate_dropped.inc()
            quiet.warning("syslog-rate", "syslog from %s refused: over "
                          "syslog.source_rate_limit (later senders not named)", sender)
            return
        if len(data) > self._max_size:
            # UDP: the kernel already truncated at the receive size; never parse a
            # partial or oversized message (TCP frames are refused by the framer).
            self._parse_error.inc()
            quiet.warning("syslog-oversize", "syslog from %s refused: %d bytes is over "
                          "syslog.max_message_size", sender, len(data))
            return
        try:
            event = self._normalizer.normalize(data, sender, received_at)
        except SyslogParseError as exc:
            self._parse_error.inc()
            quiet.warning(f"syslog-parse:{sender}", "unparseable syslog from %s: %s (%d bytes)",
                          sender, exc, len(data))
            return
        self._intake.submit(event)

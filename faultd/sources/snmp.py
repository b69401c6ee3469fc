"""SNMP trap source: UDP datagrams -> `SnmpReceiver` (faultd.snmp) -> intake.

Decoding, authentication and normalisation are the receiver's job; this module
filters senders, sends the receiver's response (INFORM acknowledgement, v3
discovery Report) back on the same socket, counts refusals by reason, and hands
accepted events on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from faultd.addresses import SocketAddress
from faultd.config import SnmpConfig
from faultd.intake import Intake
from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger
from faultd.observe.ring import RawRing
from faultd.snmp.receiver import SnmpReceiver, SnmpUser
from faultd.sources.fairness import build_limiter
from faultd.sources.filters import SourceFilter
from faultd.sources.udp import DatagramSource

log = logging.getLogger("faultd.snmp")
quiet = QuietLogger(log)


def build_receiver(config: SnmpConfig, state_directory: Path) -> SnmpReceiver:
    users = [
        SnmpUser(name=u.name, auth_protocol=u.auth_protocol, auth_key=u.auth_key,
                 priv_protocol=u.priv_protocol, priv_key=u.priv_key, engine_id=u.engine_id)
        for u in config.users
    ]
    rules = [{"match": r.match, "severity": r.severity, "varbinds": dict(r.varbinds)}
             for r in config.severity_rules]
    return SnmpReceiver(
        communities=list(config.communities),
        users=users,
        state_directory=state_directory,
        mib_dirs=[Path(d) for d in config.mib_dirs],
        severity_rules=rules or None,
        volatile_oids=list(config.volatile_oids) or None,
    )


class SnmpIngest:
    __slots__ = ("_filter", "_intake", "_limiter", "_metrics", "_rate_dropped", "_received",
                 "protocol", "receiver", "ring")

    def __init__(self, config: SnmpConfig, receiver: SnmpReceiver, intake: Intake,
                 metrics: Metrics, ring: RawRing | None = None) -> None:
        self.ring = ring
        self.receiver = receiver
        self._filter = SourceFilter(config.allowed_sources)
        self._intake = intake
        self._metrics = metrics
        self._received = metrics.received["snmp"]
        self._limiter = build_limiter(config.source_rate_limit)
        self._rate_dropped = metrics.dropped["source_rate"]
        self.protocol: DatagramSource | None = None  # set once the socket is open

    def on_datagram(self, data: bytes, addr: SocketAddress) -> None:
        received_at = time.time()
        self._received.inc()
        if self.ring is not None:
            self.ring.append(received_at, "snmp", addr, data)
        sender = addr[0]
        if not self._filter.allowed(sender):
            self._metrics.snmp_rejected.labels("source").inc()
            quiet.warning(f"snmp-denied:{sender}", "trap from %s refused: not in "
                          "snmp.allowed_sources", sender)
            return
        if self._limiter is not None and not self._limiter.allow(sender):
            # Refused before decoding, INFORMs included: no Response is sent, so
            # the agent retransmits later (its retry is the INFORM's recovery).
            self._rate_dropped.inc()
            quiet.warning("snmp-rate", "trap from %s refused: over snmp.source_rate_limit "
                          "(later senders not named)", sender)
            return
        result = self.receiver.receive(data, (addr[0], addr[1]), received_at)
        if result.response is not None and self.protocol is not None:
            self.protocol.sendto(result.response, addr)
        if result.rejected is not None:
            self._metrics.snmp_rejected.labels(result.rejected).inc()
            if result.rejected == "malformed":
                self._metrics.parse_error["snmp"].inc()
            # the receiver itself logs refusals (rate-limited); no second line here
        for event in result.events:
            self._intake.submit(event)

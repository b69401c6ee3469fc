"""SnmpReceiver: one datagram in, zero or one FaultEvent (plus bytes to send back) out.

The daemon owns the UDP socket and calls ``receive`` synchronously, once per
datagram.  v1 Trap / v2c Trap / v2c Inform messages inside the fast path's
strict subset are decoded by faultd.parse.ber (~10-20 us); everything else
(SNMPv3, odd encodings, garbage) goes through the pysnmp engine
(faultd.snmp.engine), which also labels rejections.  Decoded notifications
are normalized by faultd.snmp.normalize.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultd.addresses import SocketAddress
from faultd.event import FaultEvent
from faultd.parse import ber
from faultd.snmp.engine import PysnmpPath
from faultd.snmp.mib import MibNames
from faultd.snmp.normalize import NormalizeError, Normalizer
from faultd.snmp.types import PDU_INFORM, DecodedTrap, SnmpUser

__all__ = ["ReceiveResult", "SnmpReceiver", "SnmpUser"]

log = logging.getLogger(__name__)

_shared_mib: MibNames | None = None


def default_mib_names() -> MibNames:
    """A process-wide MibNames for the default modules (no user MIB dirs)."""
    global _shared_mib
    if _shared_mib is None:
        _shared_mib = MibNames()
    return _shared_mib


@dataclass(slots=True)
class ReceiveResult:
    """Outcome of one datagram.

    events: normally 0 or 1.  response: bytes to send back to the sender
    (INFORM Response, v3 discovery Report).  rejected: reason label for
    faultd_snmp_rejected_total{reason}, None when accepted (or when only a
    discovery Report was answered).
    """

    events: list[FaultEvent] = field(default_factory=list)
    response: bytes | None = None
    rejected: str | None = None


class _LogLimiter:
    """At most one log line per reason per interval."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def __call__(self, reason: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) >= self.interval:
            n = self.suppressed.pop(reason, 0)
            self._last[reason] = now
            log.warning(msg + (f" ({n} similar suppressed)" if n else ""), *args)
        else:
            self.suppressed[reason] = self.suppressed.get(reason, 0) + 1


class SnmpReceiver:
    """Decodes, authenticates and normalizes SNMP notifications, one datagram at a time.

    Constructing it compiles ``mib_dirs`` (errors in ``mib_errors``, never
    raised), loads MIBs and builds the pysnmp engine; raises ValueError only
    for invalid users / severity rules / volatile OIDs (configuration errors).
    """

    def __init__(
        self,
        *,
        communities: list[str],
        users: list[SnmpUser],
        state_directory: Path,
        mib_dirs: Sequence[Path] = (),
        severity_rules: Sequence[Mapping[str, Any]] | None = None,
        volatile_oids: list[str] | None = None,
    ) -> None:
        self.state_directory = Path(state_directory)
        self._communities = frozenset(c.encode() for c in communities)
        self._engine = PysnmpPath(
            communities=communities, users=users, state_directory=self.state_directory
        )
        if mib_dirs:
            mib = MibNames(mib_dirs=list(mib_dirs), cache_dir=self.state_directory / "mibs")
        else:
            mib = default_mib_names()
        self.mib = mib
        self.mib_errors: dict[str, str] = dict(mib.errors)
        self._normalizer = Normalizer(
            mib, severity_rules=severity_rules, volatile_oids=volatile_oids
        )
        self.fast_path_hits = 0
        self.slow_path_hits = 0
        self._log = _LogLimiter()

    @property
    def engine_id(self) -> bytes:
        """Our SNMP engine ID (senders of v3 INFORMs localize their keys to it)."""
        return self._engine.engine_id

    def decode(
        self, data: bytes, sender: SocketAddress, received_at: float
    ) -> tuple[DecodedTrap | None, bytes | None, str | None]:
        """Decode and authenticate only: (trap, response, rejected)."""
        return self._decided(data, sender, received_at, ber.decode(data))

    def _decided(
        self, data: bytes, sender: SocketAddress, received_at: float, trap: DecodedTrap | None
    ) -> tuple[DecodedTrap | None, bytes | None, str | None]:
        """decode() given the fast path's result for `data` (None: declined)."""
        if trap is not None:
            self.fast_path_hits += 1
            if trap.community not in self._communities:
                return None, None, "community"
            response = ber.inform_response(data) if trap.pdu == PDU_INFORM else None
            return trap, response, None
        self.slow_path_hits += 1
        result = self._engine.receive(data, sender, received_at)
        return result.trap, result.response, result.rejected

    def receive(self, data: bytes, sender: SocketAddress, received_at: float) -> ReceiveResult:
        """Process one datagram; never raises on any input."""
        try:
            trap = ber.decode(data)
            if trap is not None and trap.community in self._communities:
                # The common case, inlined from decode(): fast path, accepted community.
                self.fast_path_hits += 1
                response = ber.inform_response(data) if trap.pdu == PDU_INFORM else None
                try:
                    event = self._normalizer.normalize(trap, sender, received_at)
                except NormalizeError as exc:
                    self._log("malformed", "SNMP: malformed notification from %s: %s",
                              sender[0], exc)
                    return ReceiveResult([], response, "malformed")
                return ReceiveResult([event], response, None)
            trap, response, rejected = self._decided(data, sender, received_at, trap)
            if trap is None:
                if rejected is not None:
                    self._log(rejected, "SNMP: rejected datagram from %s: %s", sender[0], rejected)
                return ReceiveResult([], response, rejected)
            try:
                event = self._normalizer.normalize(trap, sender, received_at)
            except NormalizeError as exc:
                self._log("malformed", "SNMP: malformed notification from %s: %s", sender[0], exc)
                return ReceiveResult([], response, "malformed")
            return ReceiveResult([event], response, None)
        except Exception:
            log.exception("SNMP: unexpected error on a datagram from %s", sender[0])
            return ReceiveResult([], None, "internal_error")

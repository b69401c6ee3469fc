"""Syslog normaliser: raw syslog bytes from a sender to one canonical FaultEvent.

Applies DESIGN.md's syslog rules: node_id from HOSTNAME (else the sender IP),
severity from the vendor code's severity when there is one, else from the syslog
severity through the (configurable) map; fault_code from the vendor table, else
the app name, else "syslog"; the device stamp as event time only when it is
within `max_clock_skew_seconds` of the receive time.  Alias maps and tiers are
applied later by the pipeline, so `tier` stays "".
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

from msgspec.structs import astuple

from faultd.event import FaultEvent, dedup_key, new_id
from faultd.parse.syslog import SyslogMessage, SyslogParseError, parse_syslog
from faultd.parse.syslog_vendors import VendorTable, build_vendor_table

__all__ = ["DEFAULT_SEVERITY_MAP", "SyslogNormalizer", "SyslogParseError"]

DEFAULT_SEVERITY_MAP: Final[Mapping[int, int]] = {0: 1, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 4}

# The field order `normalize` unpacks; a change to SyslogMessage must change both.
_FIELDS: Final = ("format", "facility", "severity", "pri_present", "hostname", "app_name",
                  "procid", "msgid", "timestamp", "timestamp_text", "message", "structured_data")
if SyslogMessage.__struct_fields__ != _FIELDS:
    raise ImportError(f"SyslogMessage fields changed: {SyslogMessage.__struct_fields__}")


class SyslogNormalizer:
    """Turns syslog messages into FaultEvents; one instance per configuration.

    Attributes set on every event: `format`, `facility`, `syslog_severity`,
    `sender`, and when present `app_name`, `procid`, `msgid`, `vendor`,
    `vendor_severity`, `device_timestamp` (epoch s), `device_timestamp_text`,
    `clock_skew_fallback` (True when the device stamp was not trusted) and
    structured data flattened as `sd.<SD-ID>.<param>`.
    """

    __slots__ = ("_default_tz", "_max_skew", "_severity", "_vendors")

    def __init__(
        self,
        default_tz: datetime.tzinfo,
        severity_map: Mapping[int, int] | None = None,
        vendor_table: VendorTable | None = None,
        max_clock_skew_seconds: float = 86400.0,
    ) -> None:
        merged = dict(DEFAULT_SEVERITY_MAP)
        if severity_map:
            for level, sev in severity_map.items():
                if not 0 <= level <= 7 or not 1 <= sev <= 4:
                    raise ValueError(f"severity_map: bad entry {level} -> {sev}")
                merged[level] = sev
        self._severity: tuple[int, ...] = tuple(merged[level] for level in range(8))
        self._default_tz = default_tz
        self._vendors = vendor_table if vendor_table is not None else build_vendor_table()
        self._max_skew = max_clock_skew_seconds

    def normalize(self, data: bytes, sender_ip: str, received_at: float) -> FaultEvent:
        """One FaultEvent for one syslog message; raises SyslogParseError for junk."""
        # All fields in one C call: compiled code reads a msgspec field through the
        # generic getattr, which cost more than this whole unpacking (order: _FIELDS).
        # The declarations let mypyc keep its typed operations on what astuple gives.
        fmt: str
        facility: int
        severity_level: int
        hostname: str | None
        app_name: str | None
        procid: str | None
        msgid: str | None
        device_ts: float | None
        timestamp_text: str | None
        message: str
        structured_data: dict[str, dict[str, str]]
        (fmt, facility, severity_level, _, hostname, app_name, procid, msgid, device_ts,
         timestamp_text, message, structured_data) = astuple(
            parse_syslog(data, received_at=received_at, default_tz=self._default_tz))
        node_id = (hostname or sender_ip).lower()
        attributes: dict[str, Any] = {
            "format": fmt,
            "facility": facility,
            "syslog_severity": severity_level,
            "sender": sender_ip,
        }
        identity = message
        found = self._vendors.match(message, app_name, msgid)
        if found is not None:
            fault_code = found.fault_code
            attributes["vendor"] = found.vendor
            if found.vendor_severity is not None:
                severity_level = found.vendor_severity
                attributes["vendor_severity"] = found.vendor_severity
            if found.identity is not None:
                identity = found.identity
        else:
            fault_code = app_name or "syslog"
        if app_name is not None:
            attributes["app_name"] = app_name
        if procid is not None:
            attributes["procid"] = procid
        if msgid is not None:
            attributes["msgid"] = msgid
        timestamp = received_at
        if device_ts is not None:
            attributes["device_timestamp"] = device_ts
            attributes["device_timestamp_text"] = timestamp_text
            if abs(device_ts - received_at) <= self._max_skew:
                timestamp = device_ts
            else:
                attributes["clock_skew_fallback"] = True
        if structured_data:
            for sd_id, params in structured_data.items():
                for name, value in params.items():
                    attributes[f"sd.{sd_id}.{name}"] = value
        return FaultEvent(
            event_id=new_id(),
            node_id=node_id,
            source="syslog",
            severity=self._severity[severity_level],
            fault_code=fault_code,
            message=message,
            timestamp=timestamp,
            received_at=received_at,
            dedup_key=dedup_key(node_id, fault_code, identity),
            attributes=attributes,
        )

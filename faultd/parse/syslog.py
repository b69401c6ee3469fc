"""Syslog parser: one datagram/frame of bytes to a `SyslogMessage`.

Reads RFC 5424 strictly and RFC 3164 the way devices actually write it: missing
PRI, missing hostname, Cisco sequence numbers and `*`/`.` clock markers, stamps
with years, milliseconds, zone names or ISO form, NX-OS year-first stamps,
Huawei `+08:00` stamps, Junos double spaces, TAG with and without `[pid]`.
Input that is not text (NULs, mostly unprintable, empty) raises
`SyslogParseError`; invalid UTF-8 is replaced, never fatal.

Everything here is on the per-message hot path: precompiled regexes, str
methods, and the cached time arithmetic of `faultd.parse.syslog_time`.
"""

from __future__ import annotations

import datetime
import re
from typing import Final, Literal

import msgspec

from faultd.parse.syslog_fast import fast_3164
from faultd.parse.syslog_time import (
    ISO_STAMP,
    MISS,
    TZ_NAMES,
    iso_epoch,
    iso_stamp_epoch,
    match_stamp,
    remember,
    stamp_cache,
    stamp_text_epoch,
)

__all__ = ["SyslogMessage", "SyslogParseError", "parse_syslog"]

# RFC 3164 §4.3.3: a message without PRI is facility 1 (user), severity 5 (notice).
DEFAULT_FACILITY: Final = 1
DEFAULT_SEVERITY: Final = 5


class SyslogParseError(ValueError):
    """The input is not a syslog message (binary junk, empty)."""


class SyslogMessage(msgspec.Struct, gc=False):
    """One parsed syslog message.

    `message` is the MSG part with the BOM, Cisco sequence number, clock-sync
    markers and stamp prefixes removed, and surrounding whitespace stripped.
    `structured_data` maps SD-ID to its params; a param repeated inside one
    element (RFC 5424 allows it) keeps all values joined with ", ".
    """

    format: Literal["rfc5424", "rfc3164"]
    facility: int
    severity: int
    pri_present: bool
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    timestamp: float | None
    timestamp_text: str | None
    message: str
    structured_data: dict[str, dict[str, str]]


# Bytes that make a message "unprintable": C0 controls except TAB/LF/CR, and DEL.
_CONTROL_BYTES: Final = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
_TRAILER: Final = b" \t\r\n\x00"
_BOM: Final = "\ufeff"

# --- RFC 5424 -------------------------------------------------------------
_SD_WHOLE_ELEMENT: Final = re.compile(
    r'\[([^\s=\]"]{1,32})((?: [^\s=\]"]{1,32}="[^"\\]*(?:\\.[^"\\]*)*")*)\]', re.DOTALL
)
_SD_PARAM: Final = re.compile(r' ([^\s=\]"]{1,32})="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_SD_UNESCAPE: Final = re.compile(r'\\(["\\\]])')

# --- RFC 3164 and friends ---------------------------------------------------
_CISCO_SEQUENCE: Final = re.compile(r"\d{1,12}: ")
# "host: " or "host " (optionally an IOS-XR node "LC/0/2/CPU0:") before a stamp.
_HOST_BEFORE_STAMP: Final = re.compile(r"([A-Za-z0-9][\w.\-]*)(?:: +| +(?:[A-Z]{2}/\S+?:)?)")
_TAG: Final = re.compile(r"([^\s:\[\]%][^\s:\[\]]{0,63})(?:\[([^\]\s]{0,32})\])?: ?")
_SPACES_COLON: Final = re.compile(r" *: *")
# Fast path for the most common shape: "[YYYY ]Mmm dd hh:mm:ss host tag[pid]: msg".
_PLAIN_3164: Final = re.compile(
    r"((?:\d{4} )?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) +(?!\d{4} |TZ[+-])([^\s:\[\]%*]+) +"
    r"(?:([^\s:\[\]%][^\s:\[\]]{0,63})(?:\[([^\]\s]{0,32})\])?: ?)?"
)
# Fast path for Cisco IOS: "seq: [host: ][*.]Mmm dd hh:mm:ss[.mmm][ ZONE]: %FAC-..."
_CISCO_IOS: Final = re.compile(
    r"\d{1,12}: (?:([A-Za-z0-9][\w.\-]*): )?[*.]?"
    r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?: [A-Za-z]{2,9})?): (?=%)"
)
# Fast path for ISO-stamped RFC 3164: the stamp exactly as match_stamp reads it
# (atomic: no backtracking into it), then, as _parse_3164 continues after a stamp
# not followed by a colon: spaces, the host word (up to a space; not "%.." or ":..", no "[",
# not ending in ":"), spaces, an optional ": ", and _TAG.
_ISO_3164: Final = re.compile(
    r"(?>(?P<stamp>" + ISO_STAMP.pattern + r")) +(?![%:])(?P<host>[^ \[]*[^ \[:]) +(?:: )?"
    r"(?:(?P<app>[^\s:\[\]%][^\s:\[\]]{0,63})(?:\[(?P<pid>[^\]\s]{0,32})\])?: ?)?"
)
# "<PRI>" prefixes (valid ones only: 0-191, no leading zeros) -> (facility, severity).
_PRI_TABLE: Final[dict[str, tuple[int, int]]] = {f"<{n}>": divmod(n, 8) for n in range(192)}


def parse_syslog(data: bytes, *, received_at: float, default_tz: datetime.tzinfo) -> SyslogMessage:
    """Parse one syslog message; raises SyslogParseError if `data` is not syslog.

    `received_at` (epoch s) anchors year inference for yearless stamps;
    `default_tz` applies to stamps that carry no zone.
    """
    data = data.rstrip(_TRAILER)
    if not data:
        raise SyslogParseError("empty message")
    if 0 in data:  # an int needle: memchr (a bytes needle costs a caught TypeError in C)
        raise SyslogParseError("NUL byte in message")
    try:
        text = data.decode("utf-8")
        bad = 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
    # C0 controls (TAB/LF/CR allowed) and DEL; one C pass, cheaper than str.isprintable.
    bad += len(data) - len(data.translate(None, _CONTROL_BYTES))
    if bad and bad * 10 > len(text) * 3:
        raise SyslogParseError("mostly unprintable bytes")

    # A valid PRI ends at the first ">" (only digits precede it), so one lookup of
    # text[:close + 1] finds exactly what trying text[:5], [:4] and [:3] found.
    close = text.find(">", 2, 5)
    pri = _PRI_TABLE.get(text[: close + 1]) if close > 0 else None
    if pri is not None:
        facility, severity = pri
        pri_present = True
        pos = close + 1
        if text.startswith("1 ", pos):
            parsed = _parse_5424(text, pos + 2, facility, severity, default_tz)
            if parsed is not None:
                return parsed
    else:
        facility, severity = DEFAULT_FACILITY, DEFAULT_SEVERITY
        pri_present = False
        pos = 0
    first = text[pos : pos + 1]
    if first == " ":
        pos += 1  # Cisco ISE and others put a space after PRI
        first = text[pos : pos + 1]
    if first.isdigit() and text.startswith("-", pos + 4):
        # Fast path for "YYYY-MM-DDThh:mm:ss[zone] host tag[pid]: msg" (Junos, EOS,
        # Huawei, switches): what _parse_3164 does for it, in one match.
        iso = _ISO_3164.match(text, pos)
        if iso is not None:
            stamp, hostname, app_name, procid = iso.group("stamp", "host", "app", "pid")
            epoch = iso_stamp_epoch(stamp, default_tz)
            if epoch is not None:
                return SyslogMessage(
                    "rfc3164", facility, severity, pri_present, hostname, app_name,
                    procid or None, None, epoch, stamp, text[iso.end() :].strip(), {},
                )  # fmt: skip
    elif first.isupper() or first.isdigit():
        # Fast paths for the common shapes; anything unusual takes _parse_3164.
        plain = _PLAIN_3164.match(text, pos)
        if plain is not None:
            stamp, hostname, app_name, procid = plain.groups()
            if hostname not in TZ_NAMES:
                epoch = stamp_text_epoch(stamp, received_at, default_tz)
                if epoch is not None:
                    return SyslogMessage(
                        "rfc3164", facility, severity, pri_present, hostname, app_name,
                        procid or None, None, epoch, stamp, text[plain.end() :].strip(), {},
                    )  # fmt: skip
        elif first.isdigit():
            cisco = _CISCO_IOS.match(text, pos)
            if cisco is not None:
                hostname, stamp = cisco.groups()
                epoch = stamp_text_epoch(stamp, received_at, default_tz)
                if epoch is not None:
                    return SyslogMessage(
                        "rfc3164", facility, severity, pri_present, hostname, None, None,
                        None, epoch, stamp, text[cisco.end() :].strip(), {},
                    )  # fmt: skip
    # The other RFC 3164 shapes seen on real gear (IOS-XR, NX-OS "host: stamp",
    # PRI-less IOS, stamps with zone and year): faultd.parse.syslog_fast returns what
    # _parse_3164 would, in one match (the equivalence test proves it), or None.
    fast = fast_3164(text, pos, received_at, default_tz)
    if fast is not None:
        hostname, app_name, procid, epoch, stamp, end = fast
        return SyslogMessage(
            "rfc3164", facility, severity, pri_present, hostname, app_name, procid, None,
            epoch, stamp, text[end:].strip(), {},
        )  # fmt: skip
    return _parse_3164(text, pos, facility, severity, pri_present, received_at, default_tz)


def _nil(field: str) -> str | None:
    return None if field == "-" else field


def _parse_5424(
    text: str, pos: int, facility: int, severity: int, default_tz: datetime.tzinfo
) -> SyslogMessage | None:
    """RFC 5424 after `<PRI>1 `; None if the header is malformed (caller falls back)."""
    fields = text[pos:].split(" ", 5)
    if len(fields) < 5:
        return None
    if len(fields) == 5:
        fields.append("-")
    stamp, hostname, app_name, procid, msgid, rest = fields
    timestamp: float | None = None
    if stamp != "-":
        key = (stamp, "5424", default_tz, 0)
        cached = stamp_cache.get(key, MISS)
        if cached is MISS:
            m = ISO_STAMP.fullmatch(stamp)
            try:
                cached = None if m is None else iso_epoch(m, default_tz)
            except ValueError:
                cached = None
            remember(key, cached)
        if cached is None:
            return None
        timestamp = cached  # type: ignore[assignment]
    structured_data: dict[str, dict[str, str]] = {}
    if rest.startswith("-"):
        message = rest[1:]
    elif rest.startswith("["):
        parsed = _parse_structured_data(rest)
        if parsed is None:
            return None
        structured_data, end = parsed
        message = rest[end:]
    else:
        return None
    if message:
        if message[0] != " ":
            return None
        message = message[1:]
        if message.startswith(_BOM):
            message = message[1:]
        message = message.strip()
    return SyslogMessage(
        format="rfc5424",
        facility=facility,
        severity=severity,
        pri_present=True,
        hostname=_nil(hostname),
        app_name=_nil(app_name),
        procid=_nil(procid),
        msgid=_nil(msgid),
        timestamp=timestamp,
        timestamp_text=None if stamp == "-" else stamp,
        message=message,
        structured_data=structured_data,
    )


def _parse_structured_data(text: str) -> tuple[dict[str, dict[str, str]], int] | None:
    """SD-ELEMENTs at the start of `text`: (data, end offset), or None if malformed."""
    result: dict[str, dict[str, str]] = {}
    pos = 0
    length = len(text)
    while pos < length and text[pos] == "[":
        m = _SD_WHOLE_ELEMENT.match(text, pos)
        if m is None:
            return None
        sd_id, body = m.groups()
        params = result.setdefault(sd_id, {})
        if "\\" in body:
            pairs = [(name, _SD_UNESCAPE.sub(r"\1", value))
                     for name, value in _SD_PARAM.findall(body)]  # fmt: skip
        else:
            # Without a backslash the element regex admits no '"' inside a value, so
            # the validated body ' n1="v1" n2="v2"' splits on '"' into exactly
            # [' n1=', 'v1', ' n2=', 'v2', '']: what _SD_PARAM.findall returns, cheaper.
            parts = body.split('"')
            pairs = list(zip([name[1:-1] for name in parts[:-1:2]], parts[1::2], strict=True))
        pos = m.end()
        if not params:
            params.update(pairs)
            if len(params) == len(pairs):
                continue
            params.clear()
        for name, value in pairs:  # a repeated param name: keep every value, joined with ", "
            previous = params.get(name)
            params[name] = value if previous is None else f"{previous}, {value}"
    return result, pos


def _parse_3164(
    text: str,
    pos: int,
    facility: int,
    severity: int,
    pri_present: bool,
    received_at: float,
    default_tz: datetime.tzinfo,
) -> SyslogMessage:
    """RFC 3164 and the vendor dialects; never fails (unparsed text becomes MSG)."""
    hostname: str | None = None
    app_name: str | None = None
    procid: str | None = None
    timestamp: float | None = None
    timestamp_text: str | None = None

    seq = _CISCO_SEQUENCE.match(text, pos)
    if seq is not None:
        pos = seq.end()
    stamp = match_stamp(text, pos, received_at, default_tz)
    stamp_start = pos
    if stamp is None:
        host = _HOST_BEFORE_STAMP.match(text, pos)
        if host is not None:
            stamp = match_stamp(text, host.end(), received_at, default_tz)
            if stamp is not None:
                hostname = host.group(1)
                stamp_start = host.end()
            elif text.startswith("%", host.end()) and text[host.end() - 2] == ":":
                hostname = host.group(1)  # Cisco "router1: %LINK-..." without stamp
                pos = host.end()
    if stamp is not None:
        timestamp, pos = stamp
        timestamp_text = text[stamp_start:pos].lstrip("*.")
        colon = _SPACES_COLON.match(text, pos)
        if colon is not None and ":" in colon.group():
            pos = colon.end()  # Cisco "stamp: %FAC-..." / IOS-XR "stamp : proc[pid]:"
        else:
            while text.startswith(" ", pos):
                pos += 1  # Junos writes two spaces before the host
            if hostname is None:
                space = text.find(" ", pos)
                word = text[pos:] if space < 0 else text[pos:space]
                if word and not word.endswith(":") and "[" not in word and word[0] != "%":
                    hostname = word
                    pos = len(text) if space < 0 else space + 1
                    while text.startswith(" ", pos):
                        pos += 1
                    if text.startswith(": ", pos):
                        pos += 2  # Cisco ASA: "host : %ASA-4-106023: ..."
    tag = _TAG.match(text, pos)
    if tag is not None:
        app_name = tag.group(1)
        procid = tag.group(2) or None
        pos = tag.end()
    return SyslogMessage(
        format="rfc3164",
        facility=facility,
        severity=severity,
        pri_present=pri_present,
        hostname=hostname,
        app_name=app_name,
        procid=procid,
        msgid=None,
        timestamp=timestamp,
        timestamp_text=timestamp_text,
        message=text[pos:].strip(),
        structured_data={},
    )

"""Frozen reference: faultd.parse.syslog_vendors as it was before the %-bucket work.

Kept verbatim (apart from this docstring) as the executable specification the
optimised module is checked against in test_syslog_vendors_equivalence.py: its
VendorTable tries the rows one regex at a time.  Do not optimise this file.

Original module docstring:
Vendor fault codes in syslog messages: one declarative table, extensible from config.

Each row names a vendor, a regex matched at the start of the MSG (or the RFC 5424
MSGID), a template that builds the fault code from the regex's named groups, and
optionally a group holding the vendor's severity.  Vendor severities are returned
on the syslog scale 0-7 so the normaliser maps them like any syslog severity.

A row may also name a `volatile` group: text that changes between repeats of the
same alarm (Nokia's event sequence number, SR Linux pid/sequence).  `identity`
is the message with that span removed, for the dedup key.

Built-in rows (first match wins; user rows from config go before them):

- cisco-iosxr: `%PKT_INFRA-LINK-3-UPDOWN : ...` -> `PKT_INFRA-LINK-3-UPDOWN`
- huawei (VRP, H3C/HP Comware): `%%01IFNET/4/LINK_STATE(l)[0]:...` -> `IFNET/4/LINK_STATE`
- arista (EOS, an agent TAG such as `Ebra:`/`Bgp:`): `%ETH-4-...` -> `ETH-4-...`
- cisco (IOS, IOS-XE, NX-OS, ASA/PIX): `%LINK-3-UPDOWN: ...` -> `LINK-3-UPDOWN`
- nokia-sros (TAG `TMNX`): `169 Base PORT-MAJOR-portDown-2002 ...` -> `PORT-portDown-2002`
- nokia-srlinux (TAG `sr_*`): `chassis|3279|3279|00168|W: ...` -> the app name
- juniper: `RPD_BGP_NEIGHBOR_STATE_CHANGED: ...` at MSG start, or such a MSGID

Nokia SR OS codes drop the severity word and the router/VR context
(`Base`, `management`): `<application>-<event name>-<event id>`; the severity word
(CRITICAL/MAJOR/MINOR/WARNING/...) becomes the vendor severity.  Linux daemons
have no row: the normaliser falls back to the TAG (app name).

The match is cheap for messages no row can match: rows are bucketed by the
first character they can start with, so a message starting with `(` or `{`
costs one dict lookup.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

__all__ = ["BUILTIN_ROWS", "VendorMatch", "VendorRow", "VendorTable", "build_vendor_table"]

# Vendor severity words to syslog severities (0 emerg .. 7 debug).  Chosen so that
# the default syslog map lands on the intended faultd severity: CRITICAL -> 2
# (-> 1 critical), MAJOR -> 3 (-> 2), MINOR -> 4 (-> 3), WARNING -> 5 (-> 4).
SEVERITY_WORDS: Final[dict[str, int]] = {
    "EMERG": 0, "EMERGENCY": 0, "PANIC": 0, "ALERT": 1, "CRIT": 2, "CRITICAL": 2,
    "ERR": 3, "ERROR": 3, "MAJOR": 3, "WARN": 4, "MINOR": 4, "WARNING": 5,
    "NOTICE": 5, "INDETERMINATE": 5, "INFO": 6, "INFORMATIONAL": 6, "CLEARED": 6,
    "DEBUG": 7,
    # SR Linux one-letter levels
    "A": 1, "C": 2, "E": 3, "W": 4, "N": 5, "I": 6, "D": 7,
}  # fmt: skip

_FORMATTER: Final = string.Formatter()


class VendorMatch(msgspec.Struct, gc=False, frozen=True):
    """What the table recognised in one message."""

    vendor: str
    fault_code: str
    vendor_severity: int | None
    identity: str | None = None  # message without volatile parts; None = message itself


class VendorRow(msgspec.Struct, gc=False, frozen=True):
    """One vendor pattern.

    `pattern` is matched with re.match (anchored at the start) against the MSG,
    or against the MSGID when `field == "msgid"`.  `code` is a str.format
    template over the named groups plus `{app_name}`.  `severity_group` names the
    group with the vendor severity (a digit 0-7 or a word from SEVERITY_WORDS).
    `app` (a regex, fullmatch) restricts the row to messages with a matching TAG/
    APP-NAME.  `first_chars` (optional) lists every character a matching MSG can
    start with; it only serves the prefilter.
    """

    vendor: str
    pattern: re.Pattern[str]
    code: str = "{code}"
    severity_group: str | None = None
    app: re.Pattern[str] | None = None
    field: str = "message"
    first_chars: str | None = None


_UPPER: Final = string.ascii_uppercase
_DIGITS: Final = string.digits

BUILTIN_ROWS: Final[tuple[VendorRow, ...]] = (
    VendorRow(
        vendor="cisco-iosxr",
        pattern=re.compile(r"%(?P<code>[A-Z0-9_]+-[A-Z0-9_]+-(?P<sev>[0-7])-[A-Z0-9_]+) :"),
        severity_group="sev",
        first_chars="%",
    ),
    VendorRow(
        vendor="huawei",
        pattern=re.compile(
            r"%%\d{2}(?P<code>[A-Z0-9_]+/(?P<sev>[0-7])/[A-Za-z0-9_]+)(?:\([a-z]\))?"
        ),
        severity_group="sev",
        first_chars="%",
    ),
    VendorRow(
        vendor="arista",
        pattern=re.compile(r"%(?P<code>[A-Z0-9_]+(?:-[A-Z0-9_]+)*-(?P<sev>[0-7])-[A-Z0-9_]+)"),
        severity_group="sev",
        app=re.compile(r"[A-Z][A-Za-z0-9]*"),
        first_chars="%",
    ),
    VendorRow(
        vendor="cisco",
        pattern=re.compile(r"%(?P<code>[A-Z0-9_]+(?:-[A-Z0-9_]+)*-(?P<sev>[0-7])-[A-Z0-9_]+)"),
        severity_group="sev",
        first_chars="%",
    ),
    VendorRow(
        vendor="nokia-sros",
        pattern=re.compile(
            r"(?P<volatile>\d+ )\S+ (?P<app>[A-Z][A-Z0-9_]*)-(?P<sev>[A-Z]+)-"
            r"(?P<event>[A-Za-z0-9_]+)-(?P<id>\d+)\b"
        ),
        code="{app}-{event}-{id}",
        severity_group="sev",
        app=re.compile(r"TMNX"),
        first_chars=_DIGITS,
    ),
    VendorRow(
        vendor="nokia-srlinux",
        pattern=re.compile(r"[a-z][a-z0-9_]*\|(?P<volatile>\d+\|\d+\|\d+\|)(?P<sev>[A-Z]): "),
        code="{app_name}",
        severity_group="sev",
        app=re.compile(r"sr_[a-z0-9_]+"),
        first_chars=string.ascii_lowercase,
    ),
    VendorRow(
        vendor="juniper",
        pattern=re.compile(r"(?P<code>[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?=:|$| \[)"),
        first_chars=_UPPER,
    ),
    VendorRow(
        vendor="juniper",
        pattern=re.compile(r"(?P<code>[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"),
        field="msgid",
    ),
)


# Severity text (a syslog digit or a word, as written) -> syslog severity.
_SEVERITY_LOOKUP: Final[dict[str, int]] = {
    **{str(level): level for level in range(8)},
    **SEVERITY_WORDS,
    **{word.capitalize(): level for word, level in SEVERITY_WORDS.items()},
    **{word.lower(): level for word, level in SEVERITY_WORDS.items()},
}

# A row prepared for the hot loop: (row, pattern.match, app.fullmatch or None,
# code group name or None when the template needs str.format, has volatile group).
_Prepared = tuple[
    VendorRow,
    Callable[[str], "re.Match[str] | None"],
    "Callable[[str], re.Match[str] | None] | None",
    str | None,
    bool,
]


def _prepare(row: VendorRow) -> _Prepared:
    simple = row.code[1:-1] if _SIMPLE_TEMPLATE.fullmatch(row.code) else None
    if simple == "app_name":
        simple = None
    app = row.app.fullmatch if row.app is not None else None
    return (row, row.pattern.match, app, simple, "volatile" in row.pattern.groupindex)


_template_cache: dict[str, tuple[tuple[str, bool | None], ...]] = {}


def _template_parts(template: str) -> tuple[tuple[str, bool | None], ...]:
    """A code template split into (literal, None) and (group name, True) parts."""
    parts = _template_cache.get(template)
    if parts is None:
        built: list[tuple[str, bool | None]] = []
        for literal, field, _, _ in _FORMATTER.parse(template):
            if literal:
                built.append((literal, None))
            if field:
                built.append((field, True))
        parts = _template_cache[template] = tuple(built)
    return parts


_SIMPLE_TEMPLATE: Final = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


class VendorTable:
    """An ordered list of VendorRows with a first-character prefilter."""

    __slots__ = ("_any_rows", "_buckets", "_msgid_rows", "rows")

    def __init__(self, rows: Sequence[VendorRow]) -> None:
        self.rows: tuple[VendorRow, ...] = tuple(rows)
        message_rows = [_prepare(r) for r in self.rows if r.field == "message"]
        self._msgid_rows = tuple(_prepare(r) for r in self.rows if r.field == "msgid")
        self._any_rows = tuple(p for p in message_rows if p[0].first_chars is None)
        buckets: dict[str, tuple[_Prepared, ...]] = {}
        for ch in {c for p in message_rows if p[0].first_chars for c in p[0].first_chars}:
            buckets[ch] = tuple(
                p for p in message_rows if p[0].first_chars is None or ch in p[0].first_chars
            )
        self._buckets = buckets

    def match(
        self, message: str, app_name: str | None, msgid: str | None = None
    ) -> VendorMatch | None:
        """The first row matching `message` (then `msgid`), or None."""
        if message:
            for prepared in self._buckets.get(message[0], self._any_rows):
                app_ok = prepared[2]
                if app_ok is not None and (app_name is None or app_ok(app_name) is None):
                    continue
                m = prepared[1](message)
                if m is not None:
                    found = _build(prepared, m, message, app_name)
                    if found is not None:
                        return found
        if msgid:
            for prepared in self._msgid_rows:
                app_ok = prepared[2]
                if app_ok is not None and (app_name is None or app_ok(app_name) is None):
                    continue
                m = prepared[1](msgid)
                if m is not None:
                    found = _build(prepared, m, msgid, app_name)
                    if found is not None:
                        return VendorMatch(found.vendor, found.fault_code, found.vendor_severity)
        return None


def _build(
    prepared: _Prepared, m: re.Match[str], text: str, app_name: str | None
) -> VendorMatch | None:
    row, _, _, simple, volatile = prepared
    if simple is not None:
        code = m.group(simple)
    else:
        code = "".join(
            part if is_field is None else (app_name or "") if part == "app_name" else m[part] or ""
            for part, is_field in _template_parts(row.code)
        )
    if not code:
        return None
    severity: int | None = None
    if row.severity_group is not None:
        raw = m.group(row.severity_group)
        if raw is not None:
            severity = _SEVERITY_LOOKUP.get(raw)
            if severity is None:
                severity = SEVERITY_WORDS.get(raw.upper())
    identity: str | None = None
    if volatile and m.group("volatile") is not None:
        identity = text[: m.start("volatile")] + text[m.end("volatile") :]
    return VendorMatch(row.vendor, code, severity, identity)


def build_vendor_table(extra: Sequence[Mapping[str, Any]] = ()) -> VendorTable:
    """The built-in table with user rows from config placed first.

    Each extra row is a mapping with `name` and `pattern` (a regex with a named
    group `code` and optionally `severity`), and optionally `code` (a template
    over the named groups, default "{code}"), `app` (regex on the TAG/APP-NAME)
    and `field` ("message" or "msgid").  Raises ValueError for a bad row.
    """
    rows: list[VendorRow] = []
    for index, spec in enumerate(extra):
        where = f"vendor row {index}"
        name = spec.get("name")
        pattern = spec.get("pattern")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: name must be a non-empty string")
        if not isinstance(pattern, str):
            raise ValueError(f"{where} ({name}): pattern must be a string")
        try:
            compiled = re.compile(pattern)
            app = spec.get("app")
            app_re = re.compile(app) if isinstance(app, str) else None
        except re.error as exc:
            raise ValueError(f"{where} ({name}): bad regex: {exc}") from exc
        code = spec.get("code", "{code}")
        if not isinstance(code, str):
            raise ValueError(f"{where} ({name}): code must be a string template")
        groups = set(compiled.groupindex)
        used = {f for _, f, _, _ in _FORMATTER.parse(code) if f}
        missing = used - groups - {"app_name"}
        if missing:
            raise ValueError(f"{where} ({name}): template uses unknown groups {sorted(missing)}")
        field = spec.get("field", "message")
        if field not in ("message", "msgid"):
            raise ValueError(f"{where} ({name}): field must be 'message' or 'msgid'")
        rows.append(
            VendorRow(
                vendor=name,
                pattern=compiled,
                code=code,
                severity_group="severity" if "severity" in groups else None,
                app=app_re,
                field=field,
            )
        )
    return VendorTable([*rows, *BUILTIN_ROWS])

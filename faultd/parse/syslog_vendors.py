"""Vendor fault codes in syslog messages: one declarative table, extensible from config.

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
costs one dict lookup.  The four built-in `%` rows (cisco-iosxr, huawei, arista,
cisco) are one entry: one regex without backtracking instead of up to three.
"""

from __future__ import annotations

import operator
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

# A row prepared for the hot loop: (row, matcher, app cache or None, code group name or
# None, has volatile group, %-format and group getter for a plain template or None).
# The matcher is pattern.match (_PERCENT.match for the combined "%" entry).  The app
# cache maps an APP-NAME to whether `row.app` fullmatches it (a pure function of the
# string, so caching it changes nothing; bounded).
_Prepared = tuple[
    VendorRow,
    Callable[[str], Any],
    dict[str, bool] | None,
    str | None,
    bool,
    str | None,
    Callable[[tuple[str, ...]], Any] | None,
]
_APP_CACHE_LIMIT: Final = 1024


def _prepare(row: VendorRow) -> _Prepared:
    simple = row.code[1:-1] if _SIMPLE_TEMPLATE.fullmatch(row.code) else None
    if simple == "app_name":
        simple = None
    app: dict[str, bool] | None = {} if row.app is not None else None
    fmt, getter = (None, None) if simple is not None else _plain_template(row)
    volatile = "volatile" in row.pattern.groupindex
    return (row, row.pattern.match, app, simple, volatile, fmt, getter)


def _plain_template(row: VendorRow) -> tuple[str | None, Callable[[tuple[str, ...]], Any] | None]:
    """A template whose fields are all group names (or app_name), without conversions or
    format specs, as a %-format and an itemgetter over `m.groups("") + (app_name or "",)`:
    the same text the generic join of _template_parts builds.  (None, None) otherwise."""
    index = row.pattern.groupindex
    literals: list[str] = []
    positions: list[int] = []
    for literal, field, spec, conversion in _FORMATTER.parse(row.code):
        literals.append(literal.replace("%", "%%"))
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            return None, None
        if field == "app_name":
            positions.append(row.pattern.groups)  # the appended app_name slot
        elif field in index:
            positions.append(index[field] - 1)
        else:
            return None, None
        literals.append("%s")
    if not positions:
        return None, None
    if len(positions) == 1:
        only = positions[0]
        return "".join(literals), lambda values: (values[only],)  # a tuple, as for several
    return "".join(literals), operator.itemgetter(*positions)


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


def _app_ok(app: re.Pattern[str] | None, cache: dict[str, bool], app_name: str) -> bool:
    """Whether `app` fullmatches `app_name` (remembered in `cache`)."""
    if len(cache) >= _APP_CACHE_LIMIT:
        cache.clear()
    ok = cache[app_name] = app is not None and app.fullmatch(app_name) is not None
    return ok


# The built-in "%" rows, in table order, and what trying them one after another
# returns, with one regex.  The rows:
#   cisco-iosxr  %(?P<code>W-W-(?P<sev>[0-7])-W) :
#   huawei       %%\d{2}(?P<code>W/(?P<sev>[0-7])/[A-Za-z0-9_]+)(?:\([a-z]\))?
#   arista       %(?P<code>W(?:-W)*-(?P<sev>[0-7])-W)   (app: [A-Z][A-Za-z0-9]*)
#   cisco        the arista pattern, any app
# with W = [A-Z0-9_]+.  Huawei is the only one that can match "%%", the others need a
# W character after the "%".  Every W there is a whole word of the dash-separated run
# after the "%" (each is followed by "-", or is the last and greedy), so the rows come
# down to: IOS-XR = exactly 4 words, the third a digit 0-7, then " :"; cisco (greedy
# star) = the LAST word i in 1..n-2 that is a digit 0-7, code = words 0..i+1.  Arista
# and cisco share the pattern: the arista row's app check picks the vendor.
#
# _PERCENT's first branch takes the usual case, the digit second to last (i = n-2,
# found without the greedy star's backtracking: lazily, then "the run ends here");
# its second branch is the huawei row; the empty third branch sends everything else
# to _percent_slow, the word-by-word rule above.  Because every "%" message matches
# _PERCENT, the combined entry never skips the slow rule.
# tests/parse/test_syslog_vendors_equivalence.py proves the results equal to the
# one-row-at-a-time reference (tests/parse/syslog_vendors_reference.py).
_PERCENT_ROWS: Final = BUILTIN_ROWS[:4]
_PERCENT: Final = re.compile(
    r"%(?:(?P<code>(?:[A-Z0-9_]++-)+?(?P<sev>[0-7])-[A-Z0-9_]++)(?!-[A-Z0-9_])(?P<xr> :)?"
    r"|%\d{2}(?P<hw>[A-Z0-9_]+/(?P<hw_sev>[0-7])/[A-Za-z0-9_]+)"
    r"|)"
)
_WORD_RUN: Final = re.compile(r"[A-Z0-9_-]*").match
_SEV_DIGITS: Final = frozenset("01234567")
_ARISTA_APP: Final = BUILTIN_ROWS[2].app
_arista_apps: dict[str, bool] = {}  # the arista row's app check, cached like the rows'
# Placeholder row of the combined entry (never matched on its own).
_PERCENT_ROW: Final = VendorRow(vendor="(built-in % rows)", pattern=_PERCENT)


def _percent_slow(message: str) -> tuple[str, str, str] | None:
    """(vendor or "ios" for arista/cisco, code, severity digit) of the cisco-iosxr, arista
    and cisco rows for a message starting with "%", or None."""
    run = _WORD_RUN(message, 1).group()  # type: ignore[union-attr]  # "*" always matches
    words = run.split("-")
    whole = "" not in words
    if not whole:  # the words end at a double or trailing dash
        words = words[: words.index("")]
    n = len(words)
    if n == 4 and whole and words[2] in _SEV_DIGITS and message.startswith(" :", len(run) + 1):
        return ("cisco-iosxr", run, words[2])
    for i in range(n - 2, 0, -1):
        if words[i] in _SEV_DIGITS:
            code = run if whole and i == n - 2 else "-".join(words[: i + 2])
            return ("ios", code, words[i])
    return None


def _build_percent(m: re.Match[str], message: str, app_name: str | None) -> VendorMatch | None:
    """The VendorMatch of the first built-in "%" row that matches, from a _PERCENT match."""
    code, sev, xr, hw, hw_sev = m.groups()
    if code is not None:
        if xr is not None and code.count("-") == 3:
            return VendorMatch("cisco-iosxr", code, _SEVERITY_LOOKUP[sev])
        vendor = "ios"
    elif hw is not None:
        return VendorMatch("huawei", hw, _SEVERITY_LOOKUP[hw_sev])
    else:
        slow = _percent_slow(message)
        if slow is None:
            return None
        vendor, code, sev = slow
        if vendor != "ios":
            return VendorMatch(vendor, code, _SEVERITY_LOOKUP[sev])
    # the arista row's app check, else the cisco row
    if app_name is not None:
        ok = _arista_apps.get(app_name)
        if ok or (ok is None and _app_ok(_ARISTA_APP, _arista_apps, app_name)):
            return VendorMatch("arista", code, _SEVERITY_LOOKUP[sev])
    return VendorMatch("cisco", code, _SEVERITY_LOOKUP[sev])


def _combine_percent_rows(bucket: list[_Prepared]) -> list[_Prepared]:
    """`bucket` with the built-in "%" rows, where they follow one another, as one entry."""
    rows = [p[0] for p in bucket]
    for i in range(len(rows) - len(_PERCENT_ROWS) + 1):
        if all(
            a is b for a, b in zip(rows[i : i + len(_PERCENT_ROWS)], _PERCENT_ROWS, strict=True)
        ):
            combined: _Prepared = (_PERCENT_ROW, _PERCENT.match, None, None, False, None, None)
            return [*bucket[:i], combined, *bucket[i + len(_PERCENT_ROWS) :]]
    return bucket


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
            bucket = [p for p in message_rows if p[0].first_chars is None or ch in p[0].first_chars]
            buckets[ch] = tuple(_combine_percent_rows(bucket) if ch == "%" else bucket)
        self._buckets = buckets

    def match(
        self, message: str, app_name: str | None, msgid: str | None = None
    ) -> VendorMatch | None:
        """The first row matching `message` (then `msgid`), or None."""
        if message:
            for prepared in self._buckets.get(message[0], self._any_rows):
                cache = prepared[2]
                if cache is not None:
                    if app_name is None:
                        continue
                    ok = cache.get(app_name)
                    if not ok and (ok is not None or not _app_ok(prepared[0].app, cache, app_name)):
                        continue
                m = prepared[1](message)
                if m is None:
                    continue
                if prepared[0] is _PERCENT_ROW:
                    found = _build_percent(m, message, app_name)
                else:
                    found = _build(prepared, m, message, app_name)
                if found is not None:
                    return found
        if msgid:
            for prepared in self._msgid_rows:
                cache = prepared[2]
                if cache is not None:
                    if app_name is None:
                        continue
                    ok = cache.get(app_name)
                    if not ok and (ok is not None or not _app_ok(prepared[0].app, cache, app_name)):
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
    row, _, _, simple, volatile, fmt, getter = prepared
    if simple is not None:
        code = m.group(simple)
    elif getter is not None:
        code = fmt % getter((*m.groups(""), app_name or ""))
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
    if volatile:
        start, stop = m.span("volatile")
        if start >= 0:
            identity = text[:start] + text[stop:]
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

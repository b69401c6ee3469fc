"""Syslog timestamp arithmetic: device stamps to epoch seconds, without strptime.

The syslog parser calls these per message, so everything is cached: the epoch of
midnight per calendar day, the UTC offset of a zone per (day, hour), and the year
inference for stamps that carry no year (RFC 3164 `Mmm dd hh:mm:ss`).  The stamp
readers at the end (ISO and month-name stamps in the text, `match_stamp`) cache
their results by stamp text, shared by the parser's general and fast paths.
"""

from __future__ import annotations

import calendar
import datetime
import re
import time
from typing import Final

MONTHS: Final[dict[str, int]] = {}
for _i, _name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
):
    MONTHS[_name.capitalize()] = _i
    MONTHS[_name.upper()] = _i
    MONTHS[_name] = _i

# Time zone abbreviations seen on network gear, as fixed offsets in seconds.
# Abbreviations are ambiguous world-wide (CST is US Central and China Standard);
# this table takes the North American / European reading, which is what the
# vendor documentation uses.  Unknown names fall back to the default zone.
TZ_NAMES: Final[dict[str, int]] = {
    "UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "WEST": 3600, "BST": 3600,
    "CET": 3600, "CEST": 7200, "MET": 3600, "MEST": 7200, "MEZ": 3600, "MESZ": 7200,
    "EET": 7200, "EEST": 10800, "MSK": 10800, "IST": 19800, "SGT": 28800,
    "HKT": 28800, "JST": 32400, "KST": 32400, "AEST": 36000, "AEDT": 39600,
    "NZST": 43200, "NZDT": 46800,
    "EST": -18000, "EDT": -14400, "CST": -21600, "CDT": -18000,
    "MST": -25200, "MDT": -21600, "PST": -28800, "PDT": -25200,
    "AKST": -32400, "AKDT": -28800, "HST": -36000,
}  # fmt: skip

_day_epoch_cache: dict[tuple[int, int, int], int] = {}
_offset_cache: dict[tuple[datetime.tzinfo, int, int, int, int], int] = {}
_CACHE_LIMIT: Final = 4096
_UTC: Final = datetime.UTC
_SECONDS_PER_DAY: Final = 86400.0


def day_epoch(year: int, month: int, day: int) -> int:
    """Epoch seconds of 00:00 UTC on the given date; ValueError if it is no date."""
    key = (year, month, day)
    cached = _day_epoch_cache.get(key)
    if cached is not None:
        return cached
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(f"no such date: {year}-{month}-{day}")
    value = calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))
    if len(_day_epoch_cache) >= _CACHE_LIMIT:
        _day_epoch_cache.clear()
    _day_epoch_cache[key] = value
    return value


def zone_offset(tz: datetime.tzinfo, year: int, month: int, day: int, hour: int) -> int:
    """UTC offset in seconds of wall-clock time `year-month-day hour:00` in `tz`."""
    if tz is _UTC:
        return 0
    key = (tz, year, month, day, hour)
    cached = _offset_cache.get(key)
    if cached is not None:
        return cached
    delta = datetime.datetime(year, month, day, hour, tzinfo=tz).utcoffset()
    value = int(delta.total_seconds()) if delta is not None else 0
    if len(_offset_cache) >= _CACHE_LIMIT:
        _offset_cache.clear()
    _offset_cache[key] = value
    return value


def parse_offset(text: str) -> int | None:
    """`Z`, `+08:00`, `-0700`, `+8`, a zone name from TZ_NAMES, or `TZ-6` -> seconds."""
    known = TZ_NAMES.get(text)
    if known is not None:
        return known
    if text.startswith("TZ"):
        text = text[2:]
    if len(text) < 2 or text[0] not in "+-":
        return None
    digits = text[1:].replace(":", "")
    if not digits.isdigit() or len(digits) > 4:
        return None
    if len(digits) <= 2:
        hours, minutes = int(digits), 0
    else:
        hours, minutes = int(digits[:-2]), int(digits[-2:])
    if hours > 14 or minutes > 59:
        return None
    seconds = hours * 3600 + minutes * 60
    return -seconds if text[0] == "-" else seconds


def to_epoch(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: float,
    offset: int | None,
    default_tz: datetime.tzinfo,
) -> float:
    """Epoch seconds of a wall-clock stamp; `offset` None means `default_tz`."""
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time out of range")
    if offset is None:
        offset = zone_offset(default_tz, year, month, day, hour)
    return day_epoch(year, month, day) + hour * 3600 + minute * 60 + second + fraction - offset


def infer_year(month: int, received_at: float) -> int:
    """The year a yearless stamp of `month` most plausibly belongs to (first guess).

    The receive time's year, except across New Year: a December stamp received in
    January is last year's, a January stamp received in December is next year's.
    `epoch_with_inferred_year` refines by the one-day-in-the-future rule.
    """
    received = time.gmtime(received_at)
    year = received.tm_year
    if month == 12 and received.tm_mon == 1:
        return year - 1
    if month == 1 and received.tm_mon == 12:
        return year + 1
    return year


def epoch_with_inferred_year(
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: float,
    offset: int | None,
    default_tz: datetime.tzinfo,
    received_at: float,
) -> tuple[int, float]:
    """(year, epoch) for a stamp without a year.

    A stamp more than a day ahead of `received_at` is taken to be last year's
    (device clocks run slow more often than they run a year fast).
    """
    year = infer_year(month, received_at)
    if month == 2 and day == 29:
        # Feb 29 exists only in leap years: walk back to the nearest one.
        while not calendar.isleap(year):
            year -= 1
    epoch = to_epoch(year, month, day, hour, minute, second, fraction, offset, default_tz)
    if epoch > received_at + _SECONDS_PER_DAY and not (month == 2 and day == 29):
        year -= 1
        epoch = to_epoch(year, month, day, hour, minute, second, fraction, offset, default_tz)
    return year, epoch


# --- stamps in the text ------------------------------------------------------
ISO_STAMP: Final = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?:\.\d+)*"
    r"(?: ?(Z|[+-]\d{2}:?\d{2}))?"
)
# Month-name stamps: [*.][YYYY ]Mmm dd [YYYY ]hh:mm:ss[.fff][offset][ zone][ YYYY]
BSD_STAMP: Final = re.compile(
    r"([*.])?(?:(\d{4}) )?([A-Za-z]{3}) {1,2}(\d{1,2}) (?:(\d{4}) )?"
    r"(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?"
    r"(?: ((?:TZ)?[+-]\d{1,2}(?::?\d{2})?|[A-Za-z][A-Za-z]{1,9})(?=[: ]|$))?"
    r"(?: (\d{4})(?= |$))?"
)


def iso_epoch(m: re.Match[str], default_tz: datetime.tzinfo) -> float:
    year, month, day, hour, minute, second, frac, off = m.groups()
    offset = None if off is None else parse_offset(off)
    return to_epoch(
        int(year), int(month), int(day), int(hour), int(minute), int(second),
        int(frac) / 10 ** len(frac) if frac else 0.0, offset, default_tz,
    )  # fmt: skip


def bsd_epoch(
    m: re.Match[str], received_at: float, default_tz: datetime.tzinfo
) -> tuple[float, int] | None:
    """(epoch, end of stamp) for a `BSD_STAMP` match, or None if it is no stamp."""
    _clock, year1, mon, day, year2, hour, minute, second, frac, off, zone, year3 = m.groups()
    month = MONTHS.get(mon)
    if month is None:
        return None
    end = m.end()
    offset: int | None = None
    if off is not None:
        offset = parse_offset(off)
    if zone is not None:
        zone_offset = parse_offset(zone)
        if zone_offset is None and zone not in TZ_NAMES:
            # A word after the time is a zone only if known or Cisco-style "zone:".
            zone_end = m.end(11)
            if zone_end < len(m.string) and m.string[zone_end] == ":":
                pass  # unknown zone name (e.g. "NewYork:") -> default zone
            else:
                end = m.start(11) - 1
                year3 = None
        elif offset is None:
            offset = zone_offset
    fraction = int(frac) / 10 ** len(frac) if frac else 0.0
    year = year1 or year2 or year3
    try:
        if year is not None:
            epoch = to_epoch(
                int(year), month, int(day), int(hour), int(minute), int(second),
                fraction, offset, default_tz,
            )  # fmt: skip
        else:
            _, epoch = epoch_with_inferred_year(
                month, int(day), int(hour), int(minute), int(second),
                fraction, offset, default_tz, received_at,
            )  # fmt: skip
    except ValueError:
        return None
    return epoch, end


def match_stamp(
    text: str, pos: int, received_at: float, default_tz: datetime.tzinfo
) -> tuple[float, int] | None:
    """A device stamp starting at `pos`: (epoch, end), or None.

    Results are cached by stamp text (plus the character after it, the zone
    and, for yearless stamps, the hour of receipt): in a storm many messages
    share a stamp, and the conversion costs more than the regex.
    """
    if pos >= len(text):
        return None
    first = text[pos]
    if first.isdigit() and text.startswith("-", pos + 4):
        iso = ISO_STAMP.match(text, pos)
        if iso is None:
            return None
        key = (iso.group(), "", default_tz, 0)
        hit = stamp_cache.get(key, MISS)
        if hit is MISS:
            try:
                hit = (iso_epoch(iso, default_tz), iso.end() - pos)
            except ValueError:
                hit = None
            remember(key, hit)
        return None if hit is None else (hit[0], pos + hit[1])  # type: ignore[index]
    if first.isalpha() or first in "*." or first.isdigit():
        bsd = BSD_STAMP.match(text, pos)
        if bsd is None:
            return None
        end = bsd.end()
        key = (bsd.group(), text[end : end + 1], default_tz, int(received_at) // 3600)
        hit = stamp_cache.get(key, MISS)
        if hit is MISS:
            found = bsd_epoch(bsd, received_at, default_tz)
            hit = None if found is None else (found[0], found[1] - pos)
            remember(key, hit)
        return None if hit is None else (hit[0], pos + hit[1])  # type: ignore[index]
    return None


MISS: Final = object()
_STAMP_CACHE_LIMIT: Final = 8192
stamp_cache: dict[tuple[str, str, datetime.tzinfo, int], object] = {}


def iso_stamp_epoch(stamp: str, default_tz: datetime.tzinfo) -> float | None:
    """Epoch of an ISO stamp as match_stamp caches it (same key, same value), or None."""
    key = (stamp, "", default_tz, 0)
    hit = stamp_cache.get(key, MISS)
    if hit is MISS:
        m = ISO_STAMP.match(stamp)
        try:
            hit = None if m is None else (iso_epoch(m, default_tz), m.end())
        except ValueError:
            hit = None
        remember(key, hit)
    return None if hit is None else hit[0]  # type: ignore[index]


def stamp_text_epoch(stamp: str, received_at: float, default_tz: datetime.tzinfo) -> float | None:
    """Epoch of a whole month-name stamp as the fast paths capture it (cached)."""
    key = (stamp, "whole", default_tz, int(received_at) // 3600)
    hit = stamp_cache.get(key, MISS)
    if hit is MISS:
        # The ":" lets a trailing unknown zone word count as a (Cisco) zone.
        m = BSD_STAMP.match(stamp + ":")
        found = None if m is None else bsd_epoch(m, received_at, default_tz)
        hit = None if found is None or found[1] != len(stamp) else found[0]
        remember(key, hit)
    return hit  # type: ignore[return-value]


def remember(key: tuple[str, str, datetime.tzinfo, int], value: object) -> None:
    if len(stamp_cache) >= _STAMP_CACHE_LIMIT:
        stamp_cache.clear()
    stamp_cache[key] = value

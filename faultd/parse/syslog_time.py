"""Syslog timestamp arithmetic: device stamps to epoch seconds, without strptime.

The syslog parser calls these per message, so everything is cached: the epoch of
midnight per calendar day, the UTC offset of a zone per (day, hour), and the year
inference for stamps that carry no year (RFC 3164 `Mmm dd hh:mm:ss`).
"""

from __future__ import annotations

import calendar
import datetime
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

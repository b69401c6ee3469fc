"""Syslog parser fast paths for the RFC 3164 shapes the parser's own fast paths miss.

`parse_syslog` tries its one-regex fast paths (plain BSD, Cisco IOS, ISO-stamped),
then `fast_3164` here, and only then the general `_parse_3164`.  `fast_3164` reads
two more shapes, each with one regex that takes the general path's steps in the
same order, and returns exactly what `_parse_3164` would, or None (then the caller
runs `_parse_3164`):

- stamp first: `[seq: ]stamp[ :] [host ][: ]tag[pid]: msg` -- PRI-less IOS
  (`*Mar  1 18:48:50.483 UTC: %SYS-...`), stamps with a zone and a year
  (`Aug 24 05:34:00 CST 1987 host ...`, `1990 Oct 22 ... TZ-6 host`, H3C
  `Jan 28 06:43:28 2017 host`), unpadded days (Cisco ISE), `/usr/sbin/cron[pid]:`.
- host first: `[seq: ]host: stamp` (NX-OS) and `[seq: ]host NODE:stamp` (IOS-XR
  `gw2.acy1 LC/0/2/CPU0:Jul  7 20:16:14.834 : ifmgr[214]: %PKT_INFRA-...`).

How the regexes keep to the general path (it matches piece by piece, each piece
with re.match, never revisiting one):

- each piece the general path matches on its own is an atomic group or has a
  possessive quantifier here, so a later failure cannot make the engine take a
  different (backtracked) reading of it: the Cisco sequence number (taken
  whenever present), the host before the stamp (`_HOST_BEFORE_STAMP`), the stamp
  (`BSD_STAMP`, read exactly as `match_stamp` reads it at that position);
- where the general path goes on only when a piece is present or absent, the
  regex branches on it: `: ` after the stamp (no hostname word then), the
  hostname word's tests (not empty, no `[`, not `%...`, not ending in `:`);
- the stamp's epoch comes from the shared stamp cache under `match_stamp`'s own
  key (or from `match_stamp` itself on a miss), and the fast path gives up when
  that reading ends elsewhere (an unknown zone word that is not a zone) or is no
  stamp: the general path then does the same work and decides;
- the host-first regex is tried only when the stamp-first one failed, i.e. when
  `match_stamp` finds no month-name stamp right after the sequence number, and
  not when an ISO stamp could start there (the general path reads those first).

tests/parse/test_syslog_equivalence.py proves the results equal to the frozen
reference parser on the corpus, on generated lines of both shapes and on near
misses that must fall back.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from faultd.parse.syslog_time import BSD_STAMP, MISS, match_stamp, stamp_cache

__all__ = ["fast_3164"]

_SEQUENCE: Final = r"(?:\d{1,12}: )?+"  # the general path's _CISCO_SEQUENCE, when present
_STAMP: Final = r"(?>(?P<stamp>" + BSD_STAMP.pattern + r"))"
# The general path's _TAG, optional (its match, or nothing).
_TAG: Final = r"(?:(?P<app>[^\s:\[\]%][^\s:\[\]]{0,63})(?:\[(?P<pid>[^\]\s]{0,32})\])?: ?)?"

# After a stamp at the sequence end: " *: *" (the Cisco/IOS-XR colon; then no
# hostname word), else the spaces, the hostname word when it passes the tests (up to
# a space or the end), spaces and an optional ": " (Cisco ASA), then the TAG.
_STAMP_FIRST: Final = re.compile(
    _SEQUENCE
    + _STAMP
    + r"(?: *: *|(?! *:) *(?>(?!%)(?P<host>[^ \[]*[^ \[:])(?= |\Z) *(?:: )?)?)"
    + _TAG
)
# The general path's _HOST_BEFORE_STAMP, then the stamp right after it, then " *: *"
# or just spaces, then the TAG.
_HOST_FIRST: Final = re.compile(
    _SEQUENCE
    + r"(?>(?P<host>[A-Za-z0-9][\w.\-]*)(?:: +| +(?:[A-Z]{2}/\S+?:)?))"
    + _STAMP
    + r" *(?:: *)?"
    + _TAG
)

Fields = tuple[str | None, str | None, str | None, float, str, int]


def fast_3164(
    text: str, pos: int, received_at: float, default_tz: datetime.tzinfo
) -> Fields | None:
    """(hostname, app_name, procid, timestamp, timestamp_text, MSG start) as the
    general path reads `text` from `pos`, for the two shapes above; None otherwise."""
    m = _STAMP_FIRST.match(text, pos)
    if m is None:
        m = _HOST_FIRST.match(text, pos)
        if m is None:
            return None
        host = m.start("host")
        if text[host].isdigit() and text.startswith("-", host + 4):
            return None  # match_stamp would try an ISO stamp here first
    stamp = m.group("stamp")
    start, end = m.span("stamp")
    key = (stamp, text[end : end + 1], default_tz, int(received_at) // 3600)
    hit = stamp_cache.get(key, MISS)
    if hit is MISS:
        found = match_stamp(text, start, received_at, default_tz)  # computes and caches
        if found is None or found[1] != end:
            return None
        epoch = found[0]
    elif hit is None or hit[1] != end - start:  # type: ignore[index]
        return None
    else:
        epoch = hit[0]  # type: ignore[index]
    hostname, app_name, procid = m.group("host", "app", "pid")
    return hostname, app_name, procid or None, epoch, stamp.lstrip("*."), m.end()

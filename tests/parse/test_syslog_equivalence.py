"""The optimised syslog parser and normaliser agree with the frozen reference versions.

tests/parse/syslog_reference.py and normalize_syslog_reference.py are the
modules as they were before the hot-path work (syslog_vendors_reference.py the
vendor table before its `%` rows were combined).  For every corpus line (as
sent, with e2e's `seq=` suffix, without PRI, with other PRIs), and for
hypothesis-generated lines built from syslog-shaped pieces (PRIs valid and
invalid, sequence numbers, BSD / ISO / NX-OS stamps with zones, hosts, tags,
vendor codes, structured data), both must return equal SyslogMessages (or
raise the same error), and the normalisers equal events apart from event_id.
"""

from __future__ import annotations

import datetime
import importlib.util
import string
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultd.normalize_syslog import SyslogNormalizer
from faultd.parse import syslog as fast_parse

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    """A reference module from this directory (tests/parse is not a package)."""
    spec = importlib.util.spec_from_file_location(f"faultd_tests_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref_parse = _load("syslog_reference")
ref_normalize = _load("normalize_syslog_reference")
ref_vendors = _load("syslog_vendors_reference")
# the reference pipeline end to end: frozen parser and frozen (one-row-at-a-time) vendor table
ref_normalize.parse_syslog = ref_parse.parse_syslog
ref_normalize.build_vendor_table = ref_vendors.build_vendor_table

CORPUS = HERE.parent / "data" / "syslog" / "vendor-lines.txt"
LINES = [ln for ln in CORPUS.read_bytes().splitlines() if ln.strip()]
ZONES: list[datetime.tzinfo] = [datetime.UTC, ZoneInfo("Europe/Berlin"),
                                ZoneInfo("America/New_York")]  # fmt: skip
RECEIVED = [1_796_317_587.0, 1_767_225_600.5, 1_000_000_000.0]  # Dec 2026, 1 Jan 2026, 2001


def _parsed(module: Any, data: bytes, received_at: float, tz: datetime.tzinfo) -> Any:
    try:
        msg = module.parse_syslog(data, received_at=received_at, default_tz=tz)
    except ValueError as exc:
        return ("raised", type(exc).__name__, str(exc))
    return tuple(getattr(msg, f) for f in msg.__struct_fields__)


def _event(normalizer: Any, data: bytes, received_at: float) -> Any:
    try:
        e = normalizer.normalize(data, "192.0.2.7", received_at)
    except ValueError as exc:
        return ("raised", type(exc).__name__, str(exc))
    return (e.node_id, e.source, e.severity, e.fault_code, e.message, e.timestamp,
            e.received_at, e.tier, e.dedup_key, e.duplicates, list(e.attributes.items()))  # fmt: skip


def _variants(line: bytes) -> list[bytes]:
    out = [line, line + b" seq=0-17", line + b"\n", b"  " + line]
    if line.startswith(b"<"):
        close = line.find(b">")
        out += [line[close + 1 :], b"<191>" + line[close + 1 :], b"<7>" + line[close + 1 :],
                b"<192>" + line[close + 1 :], b"<013>" + line[close + 1 :]]  # fmt: skip
    return out


# Edges of the parser's fast paths (ISO-stamped 3164, PRI lookup).
EDGE_LINES = [
    b"<13>2020-03-31T08:41:59+00:00 %host tag: msg",
    b"<13>2020-03-31T08:41:59+00:00 host: tag: msg",
    b"<13>2020-03-31T08:41:59+00:00 host : %ASA-4-106023: x",
    b"<13>2020-03-31T08:41:59+00:00 ho[st tag: msg",
    b"<13>2020-02-30T08:41:59+00:00 host tag: msg",
    b"<13>2020-03-31T25:41:59 host tag: msg",
    b"<13>2020-03-31T08:41:59+00:00host tag: msg",
    b"<13>2020-03-31T08:41:59+00:00 host",
    b"<13>2020-03-31T08:41:59+00:00 host ",
    b"<13>2020-03-31T08:41:59+00:00  host  tag[1]: msg",
    b"<13>2020-03-31 08:41:59 +0100 host tag: msg",
    b"<13>2020-03-31T08:41:59: host tag: msg",
    b"<13>2020-03-31T08:41:59 : host tag: msg",
    b"<13>2020-03-31T08:41:59.5.6Z host\ttab tag: msg",
    b"<13>2020-03-31T08:41:59Z host %LINK-3-UPDOWN: x",
    b"<13>2020-03-31T08:41:59Z host :tag: msg",
    b"<13>2020-03-31T08:41:59Z host [tag]: msg",
    b"<13>2020-03-31T08:41:59Z host tag[]: msg",
    b"<13>2020-03-31T08:41:59Z host tag[a b]: msg",
    b"<13>2020-03-31T08:41:59Z host a:b c",
    b"2020-03-31T08:41:59Z host tag: no pri",
    b"<13>1 2020-03-31T08:41:59Z host app - - - 5424",
    b"<1>", b"<1>x", b"<>x", b"<1234>x", b"<19>>x", b"<1>>", b"<9999", b"1>", b"<0013>x",
]


@pytest.mark.parametrize("line", LINES + EDGE_LINES,
                         ids=[str(i + 1) for i in range(len(LINES) + len(EDGE_LINES))])
def test_corpus_lines_parse_and_normalise_like_the_reference(line: bytes) -> None:
    for tz in ZONES:
        fast_n, ref_n = SyslogNormalizer(tz), ref_normalize.SyslogNormalizer(tz)
        for received in RECEIVED:
            for data in _variants(line):
                assert _parsed(fast_parse, data, received, tz) == _parsed(
                    ref_parse, data, received, tz), data
                assert _event(fast_n, data, received) == _event(ref_n, data, received), data


# --- generated lines from syslog-shaped pieces ---------------------------------------

PRIS = st.sampled_from(["", "<13>", "<0>", "<191>", "<189>", "<5>", "<192>", "<013>", "<1", "<>",
                        "<13> ", "<165>1 "])  # fmt: skip
SEQS = st.sampled_from(["", "", "521: ", "000123: ", "1234567890123: ", "12:"])
MONTHS = st.sampled_from(["Jan", "Feb", "Oct", "Dec", "JAN", "jan", "Foo"])
BSD = st.builds(
    lambda mark, year1, mon, day, year2, h, m, s, frac, zone, year3: (
        f"{mark}{year1}{mon} {day} {year2}{h:02d}:{m:02d}:{s:02d}{frac}{zone}{year3}"),
    st.sampled_from(["", "", "*", "."]), st.sampled_from(["", "", "2018 "]), MONTHS,
    st.sampled_from([" 1", "1", "29", "31", "01", "32"]), st.sampled_from(["", "", "2017 "]),
    st.integers(0, 24), st.integers(0, 60), st.integers(0, 61),
    st.sampled_from(["", "", ".699", ",5", ".123456"]),
    st.sampled_from(["", "", " UTC", " MEST", " NewYork", "+08:00", " TZ-6", "Z", " CST"]),
    st.sampled_from(["", "", " 1987"]),
)  # fmt: skip
ISO = st.builds(
    lambda y, mo, d, sep, h, frac, zone: f"{y}-{mo}-{d}{sep}{h:02d}:41:59{frac}{zone}",
    st.sampled_from(["2020", "2018", "1999"]), st.sampled_from(["03", "7", "13"]),
    st.sampled_from(["31", "23", "1", "30"]), st.sampled_from(["T", " "]), st.integers(0, 25),
    st.sampled_from(["", ".270", ".270.1", ".3775554"]),
    st.sampled_from(["", "Z", "+00:00", "-0700", "+8"]),
)  # fmt: skip
STAMPS = st.one_of(BSD, ISO, st.just(""), st.just("-"))
HOSTS = st.sampled_from(["", "router1 ", "router1: ", "gw2.acy1 LC/0/2/CPU0:", "10.0.0.99 ",
                         "UTC ", "host : ", "  vmx01 ", "%host "])  # fmt: skip
AFTER = st.sampled_from([" ", ": ", " : ", "  ", ""])
TAGS = st.sampled_from(["", "su: ", "rpd[2902]: ", "/usr/sbin/cron[54928]: ", "TMNX: ",
                        "Ebra: ", "sr_chassis_mgr: ", "ifmgr[214]: ", "x[]: ", "a[b c]: "])  # fmt: skip
BODIES = st.one_of(
    st.sampled_from([
        "%LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
        "%PKT_INFRA-LINK-3-UPDOWN : Interface Gi0/0/0/1, changed state to Down",
        "%%01IFNET/4/LINK_STATE(l)[0]:The line protocol on the interface went Down.",
        "RPD_BGP_NEIGHBOR_STATE_CHANGED: BGP peer 1.1.1.1 state changed",
        "169 Base SNMP-WARNING-linkDown-2004 [1/1/c1/1]:  Interface down",
        "chassis|3279|3279|00168|W: Fan tray 1 removed",
        '[meta sequenceId="1"] i am foobar', "- - - msg", "", "\ufeffbom text",
    ]),
    st.text(alphabet=string.printable + "äé\u00a0", max_size=40),
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(PRIS, SEQS, HOSTS, STAMPS, AFTER, TAGS, BODIES, st.sampled_from(range(len(ZONES))),
       st.sampled_from(RECEIVED))  # fmt: skip
def test_generated_lines_parse_like_the_reference(
    pri: str, seq: str, host: str, stamp: str, after: str, tag: str, body: str, zone: int,
    received: float,
) -> None:
    tz = ZONES[zone]
    for text in (f"{pri}{seq}{host}{stamp}{after}{tag}{body}",
                 f"{pri}{seq}{stamp}{after}{host}{tag}{body}"):  # fmt: skip
        data = text.encode("utf-8", "surrogatepass")
        assert _parsed(fast_parse, data, received, tz) == _parsed(ref_parse, data, received, tz)


ISO_HOSTS = st.sampled_from(["host", "%host", "host:", "ho[st", "h:st", "a\tb", "-", "x", ":",
                             "10.0.0.1", "router1.example", "%"])  # fmt: skip
SPACES = st.sampled_from([" ", "  ", "", " : ", ": ", " :"])


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["<13>", "", "<189> "]), ISO, SPACES, ISO_HOSTS, SPACES, TAGS, BODIES)
def test_generated_iso_stamped_lines_parse_like_the_reference(
    pri: str, stamp: str, sp1: str, host: str, sp2: str, tag: str, body: str
) -> None:
    data = f"{pri}{stamp}{sp1}{host}{sp2}{tag}{body}".encode()
    for tz in (datetime.UTC, ZONES[1]):
        assert _parsed(fast_parse, data, RECEIVED[0], tz) == _parsed(
            ref_parse, data, RECEIVED[0], tz), data


SD_NAMES = st.sampled_from(["a", "id", "x@1", "exampleSDID@32473", "n" * 32, "n" * 33, "", "a b",
                            'q"', "a=b", "a]"])  # fmt: skip
SD_VALUES = st.one_of(
    st.sampled_from(["", "v", "a b", "x]y", 'q\\"uote', "back\\\\slash", "br\\]", "trail\\",
                     '"', "-", "ä"]),
    st.text(alphabet='ab ]["\\=', max_size=8),
)  # fmt: skip
SD_PARAMS = st.lists(st.tuples(SD_NAMES, SD_VALUES), max_size=5)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(SD_NAMES, SD_PARAMS), min_size=1, max_size=3),
       st.sampled_from(["", " msg", "msg", " ", "] x"]), st.booleans())  # fmt: skip
def test_generated_structured_data_parses_like_the_reference(
    elements: list[tuple[str, list[tuple[str, str]]]], tail: str, repeat: bool
) -> None:
    sd = "".join(f"[{sd_id}" + "".join(f' {k}="{v}"' for k, v in params) + "]"
                 for sd_id, params in elements)  # fmt: skip
    if repeat:
        sd += sd
    data = f"<13>1 2020-03-31T08:41:59Z host app - - {sd}{tail}".encode()
    assert _parsed(fast_parse, data, RECEIVED[0], datetime.UTC) == _parsed(
        ref_parse, data, RECEIVED[0], datetime.UTC), data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(RECEIVED))
def test_arbitrary_bytes_parse_like_the_reference(data: bytes, received: float) -> None:
    assert _parsed(fast_parse, data, received, datetime.UTC) == _parsed(
        ref_parse, data, received, datetime.UTC)


# --- the syslog_fast shapes (stamp first, host first) and their near misses --------------

FAST_STAMPS = st.builds(
    lambda mark, year1, mon, pad, day, year2, h, frac, zone, year3: (
        f"{mark}{year1}{mon}{pad}{day} {year2}{h:02d}:41:59{frac}{zone}{year3}"),
    st.sampled_from(["", "", "*", "."]), st.sampled_from(["", "", "1990 "]),
    st.sampled_from(["Jul", "Nov", "Feb", "FEB", "Foo"]), st.sampled_from([" ", "  "]),
    st.sampled_from(["7", "1", "29", "30", "31", "32"]), st.sampled_from(["", "", "2017 "]),
    st.integers(0, 24), st.sampled_from(["", "", ".834", ",5"]),
    st.sampled_from(["", "", " UTC", " CST", " NewYork", " TZ-6", "+08:00", " PDT", " Foo1"]),
    st.sampled_from(["", "", " 1987", " 12345"]),
)  # fmt: skip
FAST_PRIS = st.sampled_from(["", "<13>", "<190>", "<13> ", "<999>"])
FAST_SEQS = st.sampled_from(["", "", "94307: ", "1: ", "12:", "1234567890123: "])
AFTER_STAMP = st.sampled_from([": ", " : ", " ", "  ", ":", "", " :", ":  "])
HOST_WORDS = st.sampled_from(["ISE-1", "mymachine", "HOSTNAME-SW01", "%x", "a[b", "x:", ":x",
                              "a\tb", "ab:c", "10.1.2.3", "/usr/sbin/cron[54928]:", "Jan",
                              "2017", "rtr\u00e9", ""])  # fmt: skip
AFTER_HOST = st.sampled_from([" ", "  ", " : ", ": ", "", " :"])
FAST_TAGS = st.sampled_from(["", "ifmgr[214]: ", "isis[1006]: ", "su: ", "x[]: ", "a[b c]: ",
                             "CISE_Failed_Attempts ", "%SYS-5-CONFIG_I: "])  # fmt: skip
FAST_BODIES = st.sampled_from(["%PKT_INFRA-LINK-3-UPDOWN : Interface Te0/2/0/4, Down",
                               "(root) CMD (/usr/libexec/atrun)", "", " seq=0-17", "msg: x"])
HOSTS_FIRST = st.sampled_from(["gw2.acy1", "xrv", "sw01.pdx01", "Jan", "2017", "2020-1-2",
                               "12345", "rtr\u00e9", "-x", "a_b"])  # fmt: skip
HOST_SEPS = st.sampled_from([": ", ":  ", " ", "  ", " LC/0/2/CPU0:", " RP/0/RSP0/CPU0:",
                             "  RP/0:", " rp/0:", " RP/:", " RP/0 :", ":", " LC/0:1:"])  # fmt: skip


def _same(data: bytes, received: float, tz: datetime.tzinfo) -> None:
    assert _parsed(fast_parse, data, received, tz) == _parsed(ref_parse, data, received, tz), data


@settings(max_examples=1500, deadline=None)
@given(FAST_PRIS, FAST_SEQS, FAST_STAMPS, AFTER_STAMP, HOST_WORDS, AFTER_HOST, FAST_TAGS,
       FAST_BODIES, st.sampled_from(range(len(ZONES))), st.sampled_from(RECEIVED))  # fmt: skip
def test_generated_stamp_first_lines_parse_like_the_reference(
    pri: str, seq: str, stamp: str, after: str, host: str, after_host: str, tag: str,
    body: str, zone: int, received: float,
) -> None:  # fmt: skip
    data = f"{pri}{seq}{stamp}{after}{host}{after_host}{tag}{body}".encode()
    _same(data, received, ZONES[zone])


@settings(max_examples=1500, deadline=None)
@given(FAST_PRIS, FAST_SEQS, HOSTS_FIRST, HOST_SEPS, FAST_STAMPS, AFTER_STAMP, FAST_TAGS,
       FAST_BODIES, st.sampled_from(range(len(ZONES))), st.sampled_from(RECEIVED))  # fmt: skip
def test_generated_host_first_lines_parse_like_the_reference(
    pri: str, seq: str, host: str, sep: str, stamp: str, after: str, tag: str, body: str,
    zone: int, received: float,
) -> None:  # fmt: skip
    data = f"{pri}{seq}{host}{sep}{stamp}{after}{tag}{body}".encode()
    _same(data, received, ZONES[zone])


# Lines the fast paths must read (fast_3164 answers), and near misses they must leave to
# the general path (fast_3164 says None): both parse like the reference either way.
FAST_TAKEN = [
    "<187>94307: gw2.acy1 LC/0/2/CPU0:Jul  7 20:16:14.834 : ifmgr[214]: %PKT_INFRA-LINK-3-UP",
    "<190>12345: gw1.acy1 RP/0/RSP0/CPU0:Nov  1 11:11:24.927: isis[1006]: %ROUTING-ISIS-5-A",
    "<190>sw01.pdx01: 2017 Jul 28 14:42:46 UTC: %AUTHPRIV-6-SYSTEM_MSG: pam_unix",
    "*Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty2",
    "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time",
    "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All",
    "Jan 28 06:43:28 2017 HOSTNAME-SW01 %%10WEB/4/WEBOPT_LOGIN_FAIL(l): admin failed",
    "<78>Oct 25 09:10:00 /usr/sbin/cron[54928]: (root) CMD (/usr/libexec/atrun)",
    "<181> Sep 8 18:11:57 ISE-1 CISE_Failed_Attempts 000231543 1 0",
    "<13>Oct 11 22:14:15 host-1 : %ASA-4-106023: Deny",
    "<13>Oct 11 22:14:15.5 : tag: msg",
    "<13>*Oct 11 22:14:15 10.0.0.1",
]
FAST_NEAR_MISSES = [
    "<14>MiniSwitch 7483c04f9d75,USW_FLEX_MINI-1.8.6.694: NETDEV: Setup PVID... done",
    "<13>Oct 11 22:14:15 Foo host: unknown zone word, not a zone: stamp ends before it",
    "<13>Oct 11 22:14:15 NewYork host tag: msg",  # unknown zone, no colon: general path
    "<13>Oct 11 22:14:15 host : %ASA-4-106023: Deny",  # "host" read as a zone word first
    "<13>Oct 11 22:14:15 host",
    "<13>Feb 30 22:14:15 host tag: no such date",
    "<13>Foo 11 22:14:15 host tag: no such month",
    "<13>Oct 11 24:14:15 host tag: hour 24",
    "<13>2020-1-2: Oct 11 22:14:15 host tag: ISO-looking host",
    "<13>router1: %LINK-3-UPDOWN: no stamp",
    "<13>94307: gw2.acy1 LC/0/2/CPU0:Foo  7 20:16:14.834 : ifmgr[214]: bad month",
    "<13>sw01: 2017 Feb 30 14:42:46 UTC: %X-1-Y: bad date after host",
    "<13>94307: gw2 LC/0:1:Jul  7 20:16:14.834 : ifmgr[214]: node ends at the first colon",
]


@pytest.mark.parametrize("line", FAST_TAKEN + FAST_NEAR_MISSES)
def test_fast_paths_taken_and_left(line: str) -> None:
    from faultd.parse.syslog_fast import fast_3164

    text = line[line.index(">") + 1 :] if line.startswith("<") else line
    text = text[1:] if text.startswith(" ") else text
    for tz in ZONES:
        for received in RECEIVED:
            answer = fast_3164(text, 0, received, tz)
            assert (answer is not None) == (line in FAST_TAKEN), (line, received, tz)
            _same(line.encode(), received, tz)
            _same(line.encode() + b" seq=0-17", received, tz)

"""The vendor table matches exactly like the frozen one-regex-at-a-time reference.

tests/parse/syslog_vendors_reference.py is faultd.parse.syslog_vendors as it was
before the built-in `%` rows became one combined regex.  For every corpus line
(message, TAG and MSGID as parsed), for hypothesis-generated `%` codes and
near-misses (IOS-XR " :" or not, Huawei `%%NN`, Arista-shaped and other TAGs, too
few dashes, severities out of range, lower case, Unicode digits), for the other
buckets, and for tables with user rows, reordered or partial built-in rows, both
tables must return the same (vendor, fault_code, vendor_severity, identity).
"""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultd.parse import syslog_vendors as fast
from faultd.parse.syslog import parse_syslog

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"faultd_tests_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load("syslog_vendors_reference")

CORPUS = HERE.parent / "data" / "syslog" / "vendor-lines.txt"
LINES = [ln for ln in CORPUS.read_bytes().splitlines() if ln.strip()]

USER_ROWS: list[dict[str, Any]] = [
    {"name": "acme", "pattern": r"%(?P<code>FAN[A-Z]+)-(?P<severity>\d)"},
    {"name": "percent-any", "pattern": r"%%(?P<code>\d\d)", "app": r"Ebra"},
    {"name": "empty", "pattern": r"(?P<code>x?)%"},
    {"name": "by-msgid", "pattern": r"(?P<code>ID\d+)", "field": "msgid"},
    {"name": "template", "pattern": r"(?P<a>[A-Z]+)(?:-(?P<b>\d+))?(?P<volatile> #\d+)?:",
     "code": "100%{a}-{b}{{x}}:{app_name}"},
    {"name": "conversion", "pattern": r"(?P<code>[a-z]+)!(?P<n>\d*)", "code": "{code!r}{n:>4}"},
    {"name": "words", "pattern": r"<(?P<severity>[A-Za-z]+)> (?P<code>\S*)"},
    {"name": "app-only", "pattern": r"~(?P<x>y)?", "code": "{app_name}", "app": r"[a-z]+"},
    {"name": "msgid-template", "pattern": r"(?P<a>[a-z]+)(?P<b>\d)?", "code": "{b}{a}",
     "field": "msgid"},
]  # fmt: skip


def _tables(extra: list[dict[str, Any]]) -> tuple[Any, Any]:
    return fast.build_vendor_table(extra), ref.build_vendor_table(extra)


def _rows_pair(indices: list[int]) -> tuple[Any, Any]:
    """VendorTable(rows) of both modules, built-in rows picked by index (order kept)."""
    return (fast.VendorTable([fast.BUILTIN_ROWS[i] for i in indices]),
            ref.VendorTable([ref.BUILTIN_ROWS[i] for i in indices]))  # fmt: skip


TABLES: list[tuple[Any, Any]] = [
    _tables([]),
    _tables(USER_ROWS),
    _rows_pair(list(range(len(fast.BUILTIN_ROWS)))),
    _rows_pair([3, 2, 1, 0, 4, 5, 6, 7]),  # reordered: no combined entry
    _rows_pair([0, 1, 3]),  # arista missing: no combined entry
    _rows_pair([1, 0, 2, 3]),
    _rows_pair([6, 0, 1, 2, 3, 0]),  # a row repeated after the run
]


def _matched(table: Any, message: str, app: str | None, msgid: str | None) -> Any:
    found = table.match(message, app, msgid)
    if found is None:
        return None
    return (found.vendor, found.fault_code, found.vendor_severity, found.identity)


def _check(message: str, app: str | None, msgid: str | None) -> None:
    for new, old in TABLES:
        assert _matched(new, message, app, msgid) == _matched(old, message, app, msgid), (
            message, app, msgid)  # fmt: skip


def test_combined_entry_is_used_for_the_builtin_table() -> None:
    bucket = fast.build_vendor_table()._buckets["%"]
    assert [p[0] for p in bucket] == [fast._PERCENT_ROW]
    assert fast.BUILTIN_ROWS[:4] == fast._PERCENT_ROWS
    assert [r.vendor for r in fast._PERCENT_ROWS] == ["cisco-iosxr", "huawei", "arista", "cisco"]


@pytest.mark.parametrize("line", LINES, ids=[str(i + 1) for i in range(len(LINES))])
def test_corpus_lines_match_like_the_reference(line: bytes) -> None:
    msg = parse_syslog(line, received_at=1_796_317_587.0, default_tz=datetime.UTC)
    for app in (msg.app_name, None, "Ebra", "ebra", "TMNX", "sr_chassis_mgr", ""):
        for message in (msg.message, msg.message + " seq=0-17", msg.message[:12]):
            _check(message, app, msg.msgid)
            _check(message, app, "UI_DBASE_LOGOUT_EVENT")


# "%" shapes at the edges of the combined entry: IOS-XR with and without " :", too few or
# too many words, several digit words (the last one counts), "--", trailing "-", Huawei.
PERCENT_EDGES = [
    "%PKT_INFRA-LINK-3-UPDOWN : x", "%PKT_INFRA-LINK-3-UPDOWN: x", "%PKT_INFRA-LINK-3-UPDOWN :",
    "%PKT-3-UPDOWN : x", "%A-B-C-3-D : x", "%A-B-3-C--X : x", "%A-B-3-C- : x", "%A-B-3-C-- :",
    "%A-B-3-C  : x", "%A-B-3-C :x", "%A-B-9-C : x", "%A-1-B-2-C", "%A-3-5-B", "%A-3-5", "%A-3-",
    "%A-3-b", "%A-3-B-", "%A--3-B", "%-A-3-B", "%A-3-B-4", "%A-3-B-4-", "%A-3-B-4-C-5-D-E",
    "%3-3-3", "%A-8-B", "%a-3-B", "%A-\u0663-B", "%", "%%", "%%01", "%%01IFNET/4/LINK_STATE(l)",
    "%%1IFNET/4/X", "%%01IFNET/8/X", "%%01IFNET/4/", "%%\u0660\u0661IFNET/4/X:y", "%%%A-3-B",
]  # fmt: skip


@pytest.mark.parametrize("message", PERCENT_EDGES)
def test_percent_edges_match_like_the_reference(message: str) -> None:
    for app in (None, "", "Ebra", "ebra", "Rib", "TMNX"):
        for msgid in (None, "ID47"):
            _check(message, app, msgid)


# --- generated "%" codes and near-misses --------------------------------------------

WORDS = st.sampled_from(["LINK", "PKT_INFRA", "SYS", "A", "_", "9", "ETH1", "link", "IF-MIB",
                         "", "ÄB", "X Y", "\u0663"])  # fmt: skip
SEVS = st.sampled_from(["0", "3", "7", "8", "9", "x", "", "\u0663", "33"])
SEPS = st.sampled_from([" :", ":", " : ", "  :", "", " ", "-", "/", "(l)", "(L)"])
HW_DIGITS = st.sampled_from(["01", "10", "1", "\u0660\u0661", "001", "", "0a"])
APPS = st.sampled_from([None, "", "Ebra", "Bgp", "ebra", "E", "Ebra:", "B9z", "TMNX", "sr_x",
                        "%", "Rib"])  # fmt: skip
MSGIDS = st.sampled_from([None, "", "-", "UI_DBASE_LOGOUT_EVENT", "ID47", "id47", "A_B", "ab7"])


@st.composite
def percent_messages(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["dash", "tokens", "huawei", "raw"]))
    if shape == "tokens":  # runs with several digit words, empty words ("--"), then " :" etc.
        tokens = draw(st.lists(st.sampled_from(["A", "B_1", "5", "0", "7", "8", ""]), max_size=7))
        return "%" + "-".join(tokens) + draw(SEPS) + draw(st.sampled_from(["", " x"]))
    if shape == "dash":
        words = draw(st.lists(WORDS, min_size=0, max_size=4))
        sev = draw(SEVS)
        tail = draw(WORDS)
        parts = [*words, sev, tail]
        return "%" + "-".join(parts) + draw(SEPS) + draw(st.sampled_from(["", " x", "msg"]))
    if shape == "huawei":
        return (f"%%{draw(HW_DIGITS)}{draw(WORDS)}/{draw(SEVS)}/{draw(WORDS)}"
                f"{draw(SEPS)}{draw(st.sampled_from(['', '[0]:x', ' x']))}")  # fmt: skip
    return "%" + draw(st.text(alphabet="%-/_: ()AZaz09\u0663\t", max_size=24))


@settings(max_examples=2000, deadline=None)
@given(percent_messages(), APPS, MSGIDS)
def test_generated_percent_codes_match_like_the_reference(
    message: str, app: str | None, msgid: str | None
) -> None:
    _check(message, app, msgid)


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet="%-/_:| ()ABZabz0179[]<>!~#\u00e4", max_size=40), APPS, MSGIDS)
def test_generated_other_messages_match_like_the_reference(
    message: str, app: str | None, msgid: str | None
) -> None:
    _check(message, app, msgid)

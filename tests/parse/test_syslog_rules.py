"""Parser and normaliser rules: junk, defaults, year inference, skew, dedup, vendor rows.

Time is never read from the clock: every call passes a fixed received_at.
"""

from __future__ import annotations

import contextlib
import datetime
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultd.event import dedup_key
from faultd.normalize_syslog import SyslogNormalizer
from faultd.parse.syslog import SyslogParseError, parse_syslog
from faultd.parse.syslog_vendors import build_vendor_table

UTC = datetime.UTC


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def _parse(data: bytes, received_at: float = 0.0, tz: datetime.tzinfo = UTC) -> object:
    return parse_syslog(data, received_at=received_at, default_tz=tz)


@pytest.mark.parametrize(
    "junk", [b"", b"\r\n", b"\x00\x00\x00", b"<13>abc\x00def", bytes(range(1, 9)) * 8, b"\xff" * 40]
)
def test_junk_is_rejected(junk: bytes) -> None:
    with pytest.raises(SyslogParseError):
        parse_syslog(junk, received_at=0.0, default_tz=UTC)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    msg = parse_syslog(b"<13>Feb  1 00:00:00 h app: caf\xe9 ok", received_at=0.0, default_tz=UTC)
    assert msg.message == "caf\ufffd ok"


def test_missing_pri_defaults_to_user_notice() -> None:
    msg = parse_syslog(b"just some text", received_at=0.0, default_tz=UTC)
    assert (msg.facility, msg.severity, msg.pri_present) == (1, 5, False)
    assert msg.message == "just some text"
    assert msg.hostname is None


def test_nil_values_in_rfc5424() -> None:
    msg = parse_syslog(b"<14>1 - - - - - -", received_at=0.0, default_tz=UTC)
    assert msg.format == "rfc5424"
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid, msg.timestamp) == (None,) * 5
    assert msg.message == ""
    assert msg.structured_data == {}


def test_repeated_sd_param_keeps_all_values() -> None:
    msg = parse_syslog(
        b'<14>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2"] m',
        received_at=0.0,
        default_tz=UTC,
    )
    assert msg.structured_data == {"origin": {"ip": "192.0.2.1, 192.0.2.2"}}


# --- year inference and zones ------------------------------------------------


def test_december_stamp_received_in_january_is_last_year() -> None:
    msg = parse_syslog(
        b"<13>Dec 31 23:59:58 h a: x", received_at=_at(2027, 1, 1, 0, 0, 5), default_tz=UTC
    )
    assert msg.timestamp == _at(2026, 12, 31, 23, 59, 58)


def test_january_stamp_received_in_december_is_next_year() -> None:
    msg = parse_syslog(
        b"<13>Jan  1 00:00:03 h a: x", received_at=_at(2026, 12, 31, 23, 59, 58), default_tz=UTC
    )
    assert msg.timestamp == _at(2027, 1, 1, 0, 0, 3)


def test_stamp_more_than_a_day_ahead_is_last_year() -> None:
    received = _at(2026, 6, 10, 12, 0, 0)
    ahead = parse_syslog(b"<13>Jun 12 12:00:00 h a: x", received_at=received, default_tz=UTC)
    assert ahead.timestamp == _at(2025, 6, 12, 12, 0, 0)
    near = parse_syslog(b"<13>Jun 11 06:00:00 h a: x", received_at=received, default_tz=UTC)
    assert near.timestamp == _at(2026, 6, 11, 6, 0, 0)


def test_default_timezone_applies_only_without_zone() -> None:
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    received = _at(2026, 6, 10, 12, 0, 0)
    local = parse_syslog(b"<13>Jun 10 13:00:00 h a: x", received_at=received, default_tz=plus2)
    assert local.timestamp == _at(2026, 6, 10, 11, 0, 0)
    zoned = parse_syslog(
        b"<13>1 2026-06-10T13:00:00Z h a - - - x", received_at=received, default_tz=plus2
    )
    assert zoned.timestamp == _at(2026, 6, 10, 13, 0, 0)
    named = parse_syslog(
        b"<13>1: Jun 10 13:00:00.000 PST: %X-1-Y: z", received_at=received, default_tz=plus2
    )
    assert named.timestamp == _at(2026, 6, 10, 21, 0, 0)


# --- normaliser ---------------------------------------------------------------


def test_skewed_device_clock_falls_back_to_received_at() -> None:
    received = _at(2026, 6, 10, 12, 0, 0)
    n = SyslogNormalizer(UTC, max_clock_skew_seconds=3600)
    event = n.normalize(b"<13>1 2026-06-10T09:00:00Z h a - - - x", "192.0.2.1", received)
    assert event.timestamp == received
    assert event.attributes["device_timestamp"] == _at(2026, 6, 10, 9, 0, 0)
    assert event.attributes["device_timestamp_text"] == "2026-06-10T09:00:00Z"
    assert event.attributes["clock_skew_fallback"] is True
    ok = n.normalize(b"<13>1 2026-06-10T11:30:00Z h a - - - x", "192.0.2.1", received)
    assert ok.timestamp == _at(2026, 6, 10, 11, 30, 0)


def test_severity_map_and_vendor_severity() -> None:
    n = SyslogNormalizer(UTC)
    assert [n.normalize(b"<%d>x" % s, "h", 0.0).severity for s in range(8)] == [
        1, 1, 1, 2, 3, 4, 4, 4,
    ]  # fmt: skip
    # The Cisco SEV digit wins over the PRI severity.
    assert n.normalize(b"<190>%LINK-2-X: y", "h", 0.0).severity == 1
    custom = SyslogNormalizer(UTC, severity_map={6: 3})
    assert custom.normalize(b"<190>plain", "h", 0.0).severity == 3
    with pytest.raises(ValueError):
        SyslogNormalizer(UTC, severity_map={6: 9})


def test_dedup_folds_stamps_and_sequence_but_not_interfaces() -> None:
    n = SyslogNormalizer(UTC)
    a = n.normalize(
        b"<187>100: r1: Jun  1 10:00:00.001: %LINK-3-UPDOWN: "
        b"Interface Gi0/1, changed state to down",
        "192.0.2.1",
        _at(2026, 6, 1, 10, 0, 1),
    )
    b = n.normalize(
        b"<187>101: r1: *Jun  1 10:05:00.999: %LINK-3-UPDOWN: "
        b"Interface Gi0/1, changed state to down",
        "192.0.2.1",
        _at(2026, 6, 1, 10, 5, 1),
    )
    c = n.normalize(
        b"<187>102: r1: Jun  1 10:05:00.999: %LINK-3-UPDOWN: "
        b"Interface Gi0/2, changed state to down",
        "192.0.2.1",
        _at(2026, 6, 1, 10, 5, 1),
    )
    assert a.dedup_key == b.dedup_key != c.dedup_key
    assert a.event_id != b.event_id
    assert a.dedup_key == dedup_key("r1", "LINK-3-UPDOWN", a.message)
    # Nokia's event sequence number is volatile too.
    x = n.normalize(
        b"<188>Apr 17 17:00:49 pe TMNX: 169 Base SNMP-WARNING-linkDown-2004 [1/1]: d", "h", 0
    )
    y = n.normalize(
        b"<188>Apr 17 17:09:49 pe TMNX: 301 Base SNMP-WARNING-linkDown-2004 [1/1]: d", "h", 0
    )
    assert x.dedup_key == y.dedup_key


def test_user_vendor_rows_come_first() -> None:
    table = build_vendor_table(
        [{"name": "acme", "pattern": r"ACME\[(?P<code>[A-Z]+)/(?P<severity>[0-7])\]"}]
    )
    n = SyslogNormalizer(UTC, vendor_table=table)
    event = n.normalize(b"<14>Jun  1 10:00:00 box app: ACME[FANFAIL/2] fan 3", "h", 0.0)
    assert (event.fault_code, event.severity, event.attributes["vendor"]) == ("FANFAIL", 1, "acme")
    match = table.match("%LINK-3-UPDOWN: x", None)
    assert match is not None and match.vendor == "cisco"
    with pytest.raises(ValueError):
        build_vendor_table([{"name": "bad", "pattern": "("}])
    with pytest.raises(ValueError):
        build_vendor_table([{"name": "bad", "pattern": "x", "code": "{nope}"}])


# --- properties -----------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.floats(min_value=0, max_value=4e9))
def test_arbitrary_bytes_only_ever_raise_syslog_parse_error(data: bytes, received: float) -> None:
    n = SyslogNormalizer(UTC)
    with contextlib.suppress(SyslogParseError):
        n.normalize(data, "192.0.2.1", received)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=string.printable.strip() + "<>*.:", max_size=120),
    st.sampled_from([b"", b"<13>", b"<191>", b"<0>1 ", b"<13>123: ", b"<13>Jan  1 "]),
)
def test_arbitrary_text_with_syslog_prefixes_never_crashes(text: str, prefix: bytes) -> None:
    with contextlib.suppress(SyslogParseError):
        _parse(prefix + text.encode(), received_at=_at(2026, 1, 1))


_NAME = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=30)
_SD_NAME = st.text(alphabet=string.ascii_letters + string.digits + "@.-", min_size=1, max_size=20)
_SD_VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('"\\]'),
    max_size=20,
)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@settings(max_examples=300, deadline=None)
@given(
    pri=st.integers(0, 191),
    host=_NAME,
    app=_NAME,
    procid=_NAME,
    msgid=_NAME,
    sd=st.dictionaries(_SD_NAME, st.dictionaries(_SD_NAME, _SD_VALUE, max_size=3), max_size=3),
    msg=st.text(alphabet=string.ascii_letters + string.digits + " :[]%\"'\\", max_size=60),
    stamp=st.datetimes(
        min_value=datetime.datetime(1980, 1, 1), max_value=datetime.datetime(2100, 1, 1)
    ),
    micros=st.booleans(),
)
def test_generated_rfc5424_round_trips(
    pri: int,
    host: str,
    app: str,
    procid: str,
    msgid: str,
    sd: dict[str, dict[str, str]],
    msg: str,
    stamp: datetime.datetime,
    micros: bool,
) -> None:
    stamp = stamp.replace(microsecond=stamp.microsecond if micros else 0)
    text_stamp = stamp.isoformat() + "Z"
    sd_text = (
        "".join(
            f"[{sd_id}" + "".join(f' {k}="{_escape(v)}"' for k, v in params.items()) + "]"
            for sd_id, params in sd.items()
        )
        or "-"
    )
    wire = f"<{pri}>1 {text_stamp} {host} {app} {procid} {msgid} {sd_text} {msg}".encode()
    parsed = parse_syslog(wire, received_at=0.0, default_tz=UTC)
    assert parsed.format == "rfc5424"
    assert (parsed.facility, parsed.severity) == divmod(pri, 8)
    assert (parsed.hostname, parsed.app_name, parsed.procid, parsed.msgid) == (
        _nil(host), _nil(app), _nil(procid), _nil(msgid),
    )  # fmt: skip
    assert parsed.structured_data == sd
    assert parsed.message == msg.strip()
    assert parsed.timestamp == pytest.approx(stamp.replace(tzinfo=UTC).timestamp(), abs=1e-6)
    assert parsed.timestamp_text == text_stamp

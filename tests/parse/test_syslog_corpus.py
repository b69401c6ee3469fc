"""Table-driven test: real vendor syslog lines through SyslogNormalizer.

The first 60 lines are tests/data/syslog/vendor-lines.txt (provenance in
SOURCES.txt / PROVENANCE.md next to it); ADDED_LINES are shaped from the public
vendor documentation cited beside each.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from faultd.normalize_syslog import SyslogNormalizer

CORPUS = Path(__file__).resolve().parent.parent / "data" / "syslog" / "vendor-lines.txt"
RECEIVED_AT = datetime.datetime(2026, 12, 3, 17, 6, 27, tzinfo=datetime.UTC).timestamp()
SENDER = "192.0.2.9"

ADDED_LINES: dict[int, bytes] = {
    # Huawei VRP "TIMESTAMP HOSTNAME %%ddMODULE/SEVERITY/BRIEF(l)[seq]:DESCRIPTION" with a
    # "+08:00" zone (Huawei S-series "Log Reference: Log Format"; the shape the issue quotes).
    61: b"<187>Nov 29 2017 19:17:47+08:00 HUAWEI %%01IFNET/4/LINK_STATE(l)[0]:"
    b"The line protocol IP on the interface GigabitEthernet0/0/1 has entered the DOWN state.",
    # Nokia SR OS TiMOS event "<seq> <router> <APP>-<SEVERITY>-<name>-<id> [subject]: text"
    # (Nokia 7750 SR "Log Events Guide", PORT application; the example the issue names).
    62: b"<186>Mar 12 08:15:02 pe1 TMNX: 2202 Base PORT-MAJOR-portDown-2002 [Port 1/1/1]:  "
    b"Port 1/1/1 is down",
    # Cisco ASA "logging timestamp" with year and "host : %ASA-..." (Cisco Secure Firewall
    # ASA Series Syslog Messages, 106023).
    63: b"<164>Dec  3 2026 10:00:01 asa1 : %ASA-4-106023: Deny tcp src outside:192.0.2.1/1234 "
    b'dst inside:10.0.0.1/22 by access-group "OUTSIDE" [0x0, 0x0]',
    # Cisco IOS "service timestamps log datetime msec year show-timezone" with
    # "service sequence-numbers" and the hostname prefix (Cisco IOS Configuration
    # Fundamentals, "Troubleshooting and Fault Management: timestamps").
    64: b"<187>1234: core-1: Dec  3 2026 17:05:59.123 UTC: %LINK-3-UPDOWN: "
    b"Interface GigabitEthernet0/1, changed state to down",
    # RFC 5424 §6.3.3 escapes in PARAM-VALUE, two SD-ELEMENTs, BOM'd MSG.
    65: b'<14>1 2026-12-03T17:00:00.5+01:00 host.example app 42 ID7 [x@32473 q="a\\"b" '
    b'bs="c\\\\d" br="e\\]f"][y@1 k="v"] \xef\xbb\xbfhello',
}

# (line, node_id, severity, fault_code, device time as UTC ISO, None = no stamp)
EXPECTED: list[tuple[int, str, int, str, str | None]] = [
    (1, "mymachine", 1, "su", "2026-10-11T22:14:15"),
    (2, "10.0.0.99", 4, "syslog", "2026-02-05T17:32:18"),
    (3, "mymachine", 4, "myproc", "1987-08-24T11:34:00"),  # CST = UTC-6
    (4, "scapegoat.dmz.example.org", 1, "syslog", "1990-10-22T16:52:01"),  # TZ-6
    (5, "mymachine.example.com", 1, "su", "2003-10-11T22:14:15.003"),
    (6, "192.0.2.1", 4, "myproc", "2003-08-24T12:14:15.000003"),
    (7, "mymachine.example.com", 4, "evntslog", "2003-10-11T22:14:15.003"),
    (8, "mymachine.example.com", 4, "evntslog", "2003-10-11T22:14:15.003"),
    (9, "router1", 4, "LINK-5-CHANGED", "2026-11-14T08:30:56.699"),
    (10, "netauto_csrv-03", 4, "LINK-5-CHANGED", "2026-05-31T13:25:53.743"),  # MEST = +2
    (11, "test-switch1", 4, "LINEPROTO-5-UPDOWN", "2026-06-01T12:50:26.172"),
    (12, "router1", 4, "OSPF-5-ADJCHG", "2026-03-15T10:05:53.044"),
    (13, "test-ztp", 4, "SYS-5-CONFIG_I", "2026-05-23T13:56:15.055"),
    (14, SENDER, 4, "SEC-6-IPACCESSLOGP", "2026-02-08T18:55:31.306"),
    (15, "fakhost", 3, "SW_MATM-4-MACFLAP_NOTIF", "2026-11-23T22:23:27.833"),  # unknown zone
    (16, SENDER, 4, "SEC_LOGIN-5-LOGIN_SUCCESS", "2026-11-23T22:23:27.921"),
    (17, SENDER, 2, "ADJ-3-RESOLVE_REQ", "2026-05-19T16:58:44.814"),
    (18, "172.20.245.8", 4, "PIX-7-710005", "2026-03-06T16:57:54"),
    (19, SENDER, 4, "SYS-5-CONFIG_I", "2026-03-01T18:48:50.483"),  # no PRI
    (20, "gw2.acy1", 2, "PKT_INFRA-LINK-3-UPDOWN", "2026-07-07T20:16:14.834"),
    (21, "gw1.acy1", 4, "ROUTING-ISIS-5-ADJCHANGE", "2026-11-01T11:11:24.927"),
    (22, "xrv", 4, "MGBL-CONFIG-6-DB_COMMIT", "2026-10-04T22:52:47.441"),
    (23, "nexus-switch", 4, "ETHPORT-5-IF_DOWN_LINK_FAILURE", "2018-04-20T13:15:07"),
    (24, "sw01.test", 4, "ETHPORT-5-IF_DOWN_ERROR_DISABLED", "2018-10-31T08:12:52"),
    (25, "nexus-switch", 4, "ETHPORT-5-IF_UP", "2018-04-20T13:15:38"),
    (26, "switch01", 1, "STP-2-BLOCK_BPDUGUARD", "2019-01-16T04:40:19"),
    (27, "sw01.pdx01", 4, "AUTHPRIV-6-SYSTEM_MSG", "2017-07-28T14:42:46"),
    (28, "vmx01", 3, "RPD_BGP_NEIGHBOR_STATE_CHANGED", "2026-06-21T14:03:12"),
    (29, "vmx01", 4, "UI_COMMIT_COMPLETED", "2026-07-20T21:44:00"),
    (30, "vmx01", 3, "/kernel", "2026-07-20T21:23:00"),
    (31, "some-router", 3, "BGP_CEASE_PREFIX_LIMIT_EXCEEDED", "2020-03-31T08:41:59"),
    (32, "vmx01", 1, "ESWD_BPDU_BLOCK_ERROR_DISABLED", "2026-06-21T14:03:12"),
    (33, "some-switch", 4, "syslog", "2025-12-10T00:00:01"),  # Dec, later than "now": last year
    (34, "router1", 4, "UI_DBASE_LOGOUT_EVENT", "2007-02-15T09:17:15.719"),
    (35, "idp1", 4, "IDP_ATTACK_LOG_EVENT", "2007-02-15T09:17:15.719"),
    (36, "my-awesome-huawei-switch", 3, "IFNET/4/IF_STATE", "2018-07-23T01:00:34.270"),
    (37, "my-awesome-huawei-switch", 3, "IFNET/4/IF_STATE", "2018-07-23T01:00:33.270"),
    (38, "hostname-sw01", 3, "WEB/4/WEBOPT_LOGIN_FAIL", "2017-01-28T06:43:28"),
    (39, "veos01", 4, "LINEPROTO-5-UPDOWN", "2026-02-06T09:42:36"),
    (40, "veos01", 4, "LINEPROTO-5-UPDOWN", "2026-02-06T08:27:14"),
    (41, "some-switch", 4, "BGP-5-ADJCHANGE", "2020-03-31T08:41:59"),
    (42, "hostname", 4, "BFD-5-STATE_CHANGE", "2026-02-07T22:22:26"),
    (43, "hostname", 3, "ISIS-4-ISIS_ADJCHG", "2025-12-14T12:07:43"),
    (44, "edge01", 2, "BGP-3-NOTIFICATION", "2026-04-16T11:04:17"),
    (45, "edge01.bru01", 4, "AGENT-6-INITIALIZED", "2026-10-18T14:39:03"),
    (46, "g51-pe3", 4, "SNMP-linkDown-2004", "2026-04-17T17:00:49"),
    (47, "g51-pe3", 4, "SNMP-linkUp-2005", "2026-04-17T16:54:28"),
    (48, "g51-pe3", 3, "MPLS-vRtrMplsIfIPv6StateChange-2032", "2026-04-17T17:00:49"),
    (49, "g51-pe3", 4, "ISIS-tmnxIsisAdjacencyChange-2045", "2026-04-17T17:00:49"),
    (50, "g3-pe3", 3, "SECURITY-ssh_user_login-2009", "2026-05-08T11:55:04"),
    (51, "g3-pe1", 4, "BGP-bgpPeerNotFound-2012", "2026-05-08T15:13:50"),
    (52, "g51-leaf21", 3, "sr_chassis_mgr", "2026-04-10T23:52:13.477689"),
    (53, "g51-leaf21", 3, "sr_chassis_mgr", "2026-04-10T23:52:13.477709"),
    (54, "74794bfb6795", 4, "root", "2026-02-13T20:07:26"),
    (55, "74794bfb6795", 4, "root", "2019-02-13T19:48:34"),
    (56, SENDER, 4, "/usr/sbin/cron", "2026-10-25T09:10:00"),
    (57, "localhost", 4, "bmd", "2026-02-06T18:30:21"),
    (58, "sftsw1", 4, "syslog", "2023-05-30T12:49:51"),
    (59, SENDER, 4, "syslog", None),
    (60, "ise-1", 4, "syslog", "2026-09-08T18:11:57"),
    (61, "huawei", 3, "IFNET/4/LINK_STATE", "2017-11-29T11:17:47"),
    (62, "pe1", 2, "PORT-portDown-2002", "2026-03-12T08:15:02"),
    (63, "asa1", 3, "ASA-4-106023", "2026-12-03T10:00:01"),
    (64, "core-1", 2, "LINK-3-UPDOWN", "2026-12-03T17:05:59.123"),
    (65, "host.example", 4, "app", "2026-12-03T16:00:00.5"),
]


def _lines() -> dict[int, bytes]:
    lines = {n: line for n, line in enumerate(CORPUS.read_bytes().splitlines(), 1)}
    assert len(lines) == 60
    return {**lines, **ADDED_LINES}


LINES = _lines()


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).replace(tzinfo=datetime.UTC).timestamp()


def test_table_covers_every_line() -> None:
    assert sorted(n for n, *_ in EXPECTED) == sorted(LINES)
    assert len(EXPECTED) >= 60


@pytest.mark.parametrize(("line_no", "node_id", "severity", "fault_code", "device_time"), EXPECTED)
def test_corpus_line(
    line_no: int, node_id: str, severity: int, fault_code: str, device_time: str | None
) -> None:
    trusting = SyslogNormalizer(datetime.UTC, max_clock_skew_seconds=1e12)
    event = trusting.normalize(LINES[line_no], SENDER, RECEIVED_AT)
    assert (event.node_id, event.severity, event.fault_code) == (node_id, severity, fault_code)
    assert event.source == "syslog"
    assert event.tier == ""
    assert event.attributes["sender"] == SENDER
    if device_time is None:
        assert event.timestamp == RECEIVED_AT
        assert "device_timestamp" not in event.attributes
    else:
        assert event.timestamp == pytest.approx(_epoch(device_time), abs=1e-6)
        assert event.attributes["device_timestamp"] == event.timestamp

    # With the default one-day skew allowance only stamps near "now" are trusted.
    default = SyslogNormalizer(datetime.UTC).normalize(LINES[line_no], SENDER, RECEIVED_AT)
    if device_time is not None and abs(_epoch(device_time) - RECEIVED_AT) <= 86400:
        assert default.timestamp == pytest.approx(_epoch(device_time))
    else:
        assert default.timestamp == RECEIVED_AT
    assert default.dedup_key == event.dedup_key


def test_messages_are_cleaned() -> None:
    n = SyslogNormalizer(datetime.UTC)
    assert n.normalize(LINES[5], SENDER, RECEIVED_AT).message.startswith("'su root'")  # BOM
    cisco = n.normalize(LINES[9], SENDER, RECEIVED_AT).message
    assert cisco.startswith("%LINK-5-CHANGED: Interface GigabitEthernet2")  # seq, "*", stamp
    sd = n.normalize(LINES[65], SENDER, RECEIVED_AT).attributes
    assert sd["sd.x@32473.q"] == 'a"b'
    assert sd["sd.x@32473.bs"] == "c\\d"
    assert sd["sd.x@32473.br"] == "e]f"
    assert sd["sd.y@1.k"] == "v"
    assert sd["msgid"] == "ID7"
    assert sd["procid"] == "42"
    assert sd["format"] == "rfc5424"

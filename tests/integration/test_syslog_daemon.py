"""util-linux `logger` drives the whole daemon over UDP and TCP (issue 3): RFC 3164 and
RFC 5424, with and without octet counting; every line arrives once with the right fields."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from support.daemon import base_config, free_port, running_daemon
from support.endpoint import RecordingEndpoint

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger")]

MODES = [
    ("udp", "--rfc3164", []),
    ("udp", "--rfc5424", []),
    ("tcp", "--rfc3164", []),
    ("tcp", "--rfc5424", []),
    ("tcp", "--rfc3164", ["--octet-count"]),
    ("tcp", "--rfc5424", ["--octet-count"]),
]


async def test_logger_in_every_mode_arrives_once_with_the_right_fields(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    tcp_port = free_port(__import__("socket").SOCK_STREAM)
    raw = base_config(tmp_path, endpoint.url, syslog={
        "listen": "127.0.0.1:0", "tcp_listen": f"127.0.0.1:{tcp_port}"})
    expected: dict[str, tuple[str, str]] = {}
    async with running_daemon(tmp_path, raw) as daemon:
        udp_port = daemon.bound_address("syslog")[1]
        for transport, fmt, extra in MODES:
            tag = uuid.uuid4().hex[:8]
            text = f"%LINK-3-UPDOWN: Interface Gi0/{tag}, changed state to down"
            port = udp_port if transport == "udp" else tcp_port
            subprocess.run(
                ["logger", f"--{transport}", "-n", "127.0.0.1", "-P", str(port), fmt, *extra,
                 "-p", "local7.err", "-t", "ifmgr", text],
                check=True, timeout=20)
            expected[tag] = (transport, fmt)
        await endpoint.wait_for(lambda: len(endpoint.events()) >= len(MODES), timeout=20)
    events = endpoint.events()
    assert len(events) == len(MODES)  # once each: nothing doubled, nothing lost
    for event in events:
        tag = event["message"].split("Gi0/")[1].split(",")[0]
        transport, fmt = expected.pop(tag)
        assert event["fault_code"] == "LINK-3-UPDOWN", (transport, fmt)
        assert event["severity"] == 2  # vendor severity 3 (err) -> major
        assert event["attributes"]["facility"] == 23
        assert event["attributes"]["format"] == fmt.lstrip("-")
        assert event["node_id"]  # logger sends the local host name
        assert event["duplicates"] == 0
    assert not expected

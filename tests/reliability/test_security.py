"""Security properties (issue 9, docs/SECURITY.md): secrets stay out of logs, /metrics and
/debug; world-readable config warns; loopback defaults; oversize input refused without
being buffered; spill files private."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faultd.config import config_from_mapping
from faultd.config_secrets import secret_file_warnings
from support.daemon import DaemonProcess, base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

from .kit import Ports, ametrics, line, metric, process_config, scrape, stop, wait_until

pytestmark = [pytest.mark.integration]

COMMUNITY = "c0mmunity-SECRET-7f3a"
WRONG_COMMUNITY = "wr0ng-SECRET-b1d9"
AUTH_KEY = "authkey-SECRET-4c2e"
PRIV_KEY = "privkey-SECRET-9a8b"
WRONG_KEY = "wrongkey-SECRET-5d6f"
SECRETS = (COMMUNITY, WRONG_COMMUNITY, AUTH_KEY, PRIV_KEY, WRONG_KEY)
ENGINE = "0x8000000001020304"
needs_snmptrap = pytest.mark.skipif(shutil.which("snmptrap") is None,
                                    reason="net-snmp snmptrap missing")


def snmptrap(port: int, *args: str) -> None:
    head = (["1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", ""] if "-v1" in args
            else ["", "1.3.6.1.6.3.1.1.5.3"])
    subprocess.run(["snmptrap", *args, f"127.0.0.1:{port}", *head,
                    "1.3.6.1.2.1.2.2.1.1.2", "i", "2"], check=True, timeout=10,
                   capture_output=True)


@needs_snmptrap
async def test_secrets_never_reach_logs_metrics_or_debug(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    ports = Ports()
    raw = process_config(tmp_path, endpoint.url, ports, snmp={
        "listen": f"127.0.0.1:{ports.snmp}", "communities": [COMMUNITY],
        "users": [{"name": "noc", "auth_protocol": "sha", "auth_key": AUTH_KEY,
                   "priv_protocol": "aes", "priv_key": PRIV_KEY}]},
        logging={"level": "debug"})
    raw["metrics"]["ring_size"] = 0  # /debug/ring holds raw datagrams: see SECURITY.md
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    try:
        await proc.wait_log("ready")
        v3 = ["-v3", "-u", "noc", "-l", "authPriv", "-a", "SHA", "-x", "AES", "-e", ENGINE]
        await asyncio.to_thread(snmptrap, ports.snmp, "-v2c", "-c", COMMUNITY)
        await asyncio.to_thread(snmptrap, ports.snmp, "-v2c", "-c", WRONG_COMMUNITY)
        await asyncio.to_thread(snmptrap, ports.snmp, "-v1", "-c", WRONG_COMMUNITY)
        await asyncio.to_thread(snmptrap, ports.snmp, *v3, "-A", AUTH_KEY, "-X", PRIV_KEY)
        await asyncio.to_thread(snmptrap, ports.snmp, *v3, "-A", WRONG_KEY, "-X", WRONG_KEY)
        await asyncio.to_thread(snmptrap, ports.snmp, *v3[:-2], "-A", AUTH_KEY, "-X", PRIV_KEY)
        await endpoint.wait_for(lambda: endpoint.represented() >= 2, timeout=10)
        text = await ametrics(ports.metrics)
        assert metric(text, "faultd_snmp_rejected_total") >= 3
        tasks = await asyncio.to_thread(scrape, ports.metrics, "/debug/tasks")
        assert await stop(proc) == 0
        log = proc.log()
        assert "rejected" in log  # the refusals were logged, just not their secrets
        for where, body in (("log", log), ("/metrics", text), ("/debug/tasks", tasks)):
            for secret in SECRETS:
                assert secret not in body, f"{secret!r} leaked into {where}"
    finally:
        proc.kill()


def test_world_readable_config_warns(tmp_path: Path) -> None:
    path = tmp_path / "faultd.yaml"
    path.write_text("snmp: {communities: [x]}\n")
    os.chmod(path, 0o600)
    assert secret_file_warnings(path) == []
    os.chmod(path, 0o644)
    assert any("world-readable" in w for w in secret_file_warnings(path))
    assert secret_file_warnings(tmp_path / "missing.yaml") == []


async def test_daemon_logs_the_world_readable_warning(tmp_path: Path) -> None:
    ports = Ports()
    proc = DaemonProcess(tmp_path, process_config(tmp_path, None, ports))
    os.chmod(proc.config_path, 0o644)
    proc.start()
    try:
        await proc.wait_log("ready")
        assert "world-readable; it may contain secrets" in proc.log()
        assert await stop(proc) == 0
    finally:
        proc.kill()


def test_listener_defaults_are_loopback_and_closed() -> None:
    config = config_from_mapping({})
    assert config.metrics.listen is not None and config.metrics.listen.startswith("127.0.0.1:")
    assert config.syslog.tcp_listen is None  # TCP syslog is opt-in
    assert config.syslog.source_rate_limit is None and config.snmp.source_rate_limit is None


async def test_debug_endpoints_can_be_disabled(tmp_path: Path) -> None:
    raw = base_config(tmp_path, None, metrics={"listen": "127.0.0.1:0",
                                               "debug_endpoints": False})
    async with running_daemon(tmp_path, raw) as daemon:
        host, port = daemon.observer.bound[0]

        def get(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as r:
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await asyncio.to_thread(get, "/debug/tasks") == 404
        assert await asyncio.to_thread(get, "/debug/ring") == 404
        assert await asyncio.to_thread(get, "/metrics") == 200


async def test_oversize_udp_syslog_is_refused_and_counted(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, syslog={"listen": "127.0.0.1:0",
                                                      "max_message_size": 1024})
    raw["accumulator"]["tiers"][0]["window_seconds"] = 0.2
    async with running_daemon(tmp_path, raw) as daemon:
        sock = udp_sender(daemon.bound_address("syslog"))
        sock.send(line(0, pad=2000))  # 2 KiB: over the limit
        sock.send(line(1))
        await endpoint.wait_for(lambda: endpoint.represented() >= 1, timeout=5)
        await asyncio.sleep(0.3)
        assert [e["message"] for e in endpoint.events()] == ["ev 1"]
        errors = daemon.metrics.registry.get_sample_value("faultd_parse_errors_total",
                                                          {"source": "syslog"})
        assert errors == 1


async def test_oversize_tcp_frame_is_refused_before_it_is_buffered(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = base_config(tmp_path, endpoint.url, syslog={
        "listen": None, "tcp_listen": "127.0.0.1:0", "max_message_size": 1024})
    async with running_daemon(tmp_path, raw) as daemon:
        tcp = daemon._tcp
        assert tcp is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        writer.write(b"104857600 <187>1 - h app - - - ")  # announces 100 MiB
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at the header
        assert tcp.frames_too_large == 1
        writer.close()
        # LF framing: an over-long line is discarded as it streams, never held whole
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        for _ in range(64):
            writer.write(b"<187>" + b"y" * 16384)
            await writer.drain()
        writer.write(b"\n" + line(7) + b"\n")
        await writer.drain()
        await endpoint.wait_for(lambda: endpoint.represented() >= 1, timeout=5)
        assert [e["message"] for e in endpoint.events()] == ["ev 7"]
        assert tcp.frames_too_large == 2
        writer.close()


async def test_spill_files_are_private(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    raw = base_config(tmp_path, endpoint.url, dispatch={
        "endpoint": endpoint.url, "breaker": {"failure_threshold": 1, "open_seconds": 60}})
    raw["accumulator"]["tiers"][0]["window_seconds"] = 0.1
    old_umask = os.umask(0o022)
    try:
        async with running_daemon(tmp_path, raw) as daemon:
            sock = udp_sender(daemon.bound_address("syslog"))
            for i in range(200):
                sock.send(line(i))
                if i % 50 == 49:
                    await asyncio.sleep(0.3)
            spill = Path(daemon.config.spill_directory)
            await wait_until(lambda: any(spill.rglob("*.seg")), timeout=10)
            paths = [spill, *spill.rglob("*")]
            for path in paths:
                mode = stat.S_IMODE(path.stat().st_mode)
                assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
            assert any(p.suffix == ".seg" for p in paths)
            assert stat.S_IMODE(Path(daemon.config.state_directory).stat().st_mode) & 0o077 == 0
    finally:
        os.umask(old_umask)

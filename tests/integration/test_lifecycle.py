"""The daemon as a real process: SIGHUP reload, SIGTERM drain, check-config (issue 2)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from support.daemon import DaemonProcess, base_config, free_port, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = pytest.mark.integration


def line(msg: str) -> bytes:
    return f"<187>1 2026-12-03T10:00:00Z acc-1 app - - - {msg}".encode()


def process_config(tmp_path: Path, endpoint: str, window: float) -> tuple[dict, int]:
    port = free_port()
    raw = base_config(tmp_path / "state", endpoint,
                      syslog={"listen": f"127.0.0.1:{port}"}, metrics={"listen": None},
                      accumulator={"tiers": [{"name": "all", "match": ["*"],
                                              "window_seconds": window,
                                              "max_batch_size": 1000}]})
    return raw, port


async def test_sighup_changes_window_live_keeps_startup_keys_survives_a_broken_file(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw, port = process_config(tmp_path, endpoint.url, window=30)
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    try:
        await proc.wait_log("ready")
        # 1. a broken file is refused and the old config stays
        proc.write_config("accumulator: {tiers: [{name: all, match: ['*'], window_seconds: -1, "
                          "max_batch_size: 10}]}\n")
        mark = len(proc.log())
        proc.signal(signal.SIGHUP)
        await proc.wait_log("reload refused", after=mark)
        assert "accumulator.tiers.all.window_seconds" in proc.log()[mark:]
        # 2. a good file shortens the window from 30 s to 0.5 s, live; the keys read
        #    only at startup are named in a warning and keep their running values
        raw["accumulator"]["tiers"][0]["window_seconds"] = 0.5
        raw["accumulator"]["adaptive"] = {"min_window_seconds": 0.25}
        raw["collector_name"] = "renamed"
        raw["spill"] = {"fsync": "never"}
        proc.write_config(raw)
        mark = len(proc.log())
        proc.signal(signal.SIGHUP)
        await proc.wait_log("config reloaded", after=mark)
        assert ("reload: collector_name, spill.fsync changed; applied at the next restart"
                in proc.log()[mark:])
        sock = udp_sender(("127.0.0.1", port))
        sent = time.monotonic()
        sock.send(line("after reload"))
        await endpoint.wait_for(lambda: endpoint.accepted, timeout=10)
        assert endpoint.requests[0].at - sent < 5  # not 30 s
        assert endpoint.accepted[0]["collector"] == "test-collector"
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit(15) == 0


async def test_sigterm_delivers_what_is_queued(tmp_path: Path,
                                               endpoint: RecordingEndpoint) -> None:
    raw, port = process_config(tmp_path, endpoint.url, window=60)
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    await proc.wait_log("ready")
    sock = udp_sender(("127.0.0.1", port))
    for i in range(500):
        sock.send(line(f"queued {i}"))
    await proc.wait_log("ready")  # still running
    time.sleep(0.5)  # let the daemon read the datagrams
    proc.signal(signal.SIGTERM)
    started = time.monotonic()
    assert await proc.wait_exit(15) == 0
    assert time.monotonic() - started < raw["dispatch"].get("shutdown_timeout_seconds", 10) + 2
    assert endpoint.represented() == 500
    assert all(b["trigger"] == "shutdown" for b in endpoint.accepted)


def test_check_config_reports_yaml_paths_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "accumulator": {"tiers": [{"name": "core", "match": ["*"], "window_seconds": 0,
                                   "max_batch_size": 10}]},
        "snmp": {"listen": "not-an-address", "bogus": 1},
    }))
    result = subprocess.run([sys.executable, "-m", "faultd", "check-config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "accumulator.tiers.core.window_seconds" in result.stderr
    assert "snmp: unknown key `bogus`" in result.stderr


def test_check_config_accepts_the_shipped_file() -> None:
    shipped = Path(__file__).parents[2] / "etc" / "faultd.yaml"
    result = subprocess.run([sys.executable, "-m", "faultd", "check-config", str(shipped)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

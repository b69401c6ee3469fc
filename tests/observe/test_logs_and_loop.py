"""Logs, the loop-lag probe and the raw ring as units (issue 6).

Only time is faked (QuietLogger's clock); the lag probe runs on the real loop,
which the test blocks on purpose, and the JSON log format is read from a real
`faultd run` process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import stat
import time
from collections import deque
from pathlib import Path

import pytest

from faultd.observe import looplag
from faultd.observe.logsetup import JsonFormatter
from faultd.observe.metrics import Metrics
from faultd.observe.quietlog import QuietLogger
from faultd.observe.ring import RawRing, read_dump
from support.daemon import DaemonProcess, base_config, free_port


def test_quiet_logger_says_how_many_it_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    quiet = QuietLogger(logging.getLogger("t.quiet"), interval=10.0, now=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="t.quiet"):
        for _ in range(5):
            quiet.warning("bad:10.0.0.1", "bad input from %s", "10.0.0.1")
        quiet.warning("bad:10.0.0.2", "bad input from %s", "10.0.0.2")  # another key logs
        now[0] = 10.5
        quiet.warning("bad:10.0.0.1", "bad input from %s", "10.0.0.1")
        quiet.warning("bad:10.0.0.1", "bad input from %s", "10.0.0.1")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "bad input from 10.0.0.1",
        "bad input from 10.0.0.2",
        "bad input from 10.0.0.1 (suppressed 4 similar in the last 10s)",
    ]


def test_json_formatter_keeps_extra_fields() -> None:
    record = logging.LogRecord("faultd.dispatch", logging.ERROR, __file__, 1,
                               "batch %s rejected", ("b1",), None)
    record.FAULTD_BATCH_ID = "b1"
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "error" and out["logger"] == "faultd.dispatch"
    assert out["msg"] == "batch b1 rejected" and out["faultd_batch_id"] == "b1"


async def test_loop_lag_probe_feeds_the_histogram_and_warns(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(looplag, "quiet", QuietLogger(looplag.log, interval=30.0))
    metrics = Metrics()
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="faultd.loop"):
        task = asyncio.create_task(
            looplag.probe_loop_lag(metrics, stop, interval=0.01, warn_seconds=0.05))
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # block the loop on purpose: the probe wakes >= 0.15 s late
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert metrics.last_loop_lag >= 0 and metrics.loop_lag.collect()[0].samples
    count = next(s.value for s in metrics.loop_lag.collect()[0].samples
                 if s.name.endswith("_count"))
    over = next(s.value for s in metrics.loop_lag.collect()[0].samples
                if s.name.endswith("_bucket") and s.labels["le"] == "0.1")
    assert count >= 2 and over < count  # at least one observation above 0.1 s
    assert any("event loop lagging" in r.getMessage() for r in caplog.records)


def test_ring_keeps_the_last_n_and_dumps_private(tmp_path: Path) -> None:
    ring = RawRing(3)
    for i in range(5):
        ring.append(1000.0 + i, "snmp" if i % 2 else "syslog", ("10.0.0.1", 5000 + i),
                    bytes([i, 0, 255]))
    assert len(ring) == 3 and ring.capacity == 3
    path = tmp_path / "ring.jsonl"
    assert ring.dump(path) == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(read_dump(path))
    assert [r.data for r in rows] == [bytes([i, 0, 255]) for i in (2, 3, 4)]
    assert [(r.source, r.port) for r in rows] == [("syslog", 5002), ("snmp", 5003),
                                                  ("syslog", 5004)]


@pytest.mark.parametrize("capacity", [1, 3, 4])
def test_ring_holds_what_a_bounded_deque_would_oldest_first(capacity: int) -> None:
    ring = RawRing(capacity)
    model: deque[int] = deque(maxlen=capacity)
    for i in range(3 * capacity + 2):
        assert [int(r.received_at) for r in ring.snapshot()] == list(model)
        assert len(ring) == len(model)
        ring.append(float(i), "syslog", ("10.0.0.1", i), b"x")
        model.append(i)
    assert [r.port for r in ring.snapshot()] == list(model)


@pytest.mark.integration
async def test_json_log_format_from_a_real_process(tmp_path: Path) -> None:
    raw = base_config(tmp_path / "state", None, syslog={"listen": f"127.0.0.1:{free_port()}"},
                      metrics={"listen": None}, logging={"format": "json"})
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    try:
        await proc.wait_log("ready")
    finally:
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit(20) == 0
    lines = [line for line in proc.log().splitlines() if line.startswith("{")]
    rows = [json.loads(line) for line in lines]
    assert any(r["logger"] == "faultd" and "ready" in r["msg"] for r in rows)
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in rows)


def test_quiet_logger_tables_stay_bounded_under_many_keys() -> None:
    import logging

    from faultd.observe.quietlog import QuietLogger

    quiet = QuietLogger(logging.getLogger("test.quiet.bound"), interval=60, now=lambda: 0.0)
    for i in range(25_000):  # a spoofing flood: every sender its own key, twice
        quiet.warning(f"k{i}", "x")
        quiet.warning(f"k{i}", "x")
    assert len(quiet._last) <= 10_001 and len(quiet._suppressed) <= 10_001

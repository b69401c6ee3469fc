"""Helpers for the fault-injection suite: daemon configs, paced senders, /metrics scrapes,
RSS, and the results table every scenario records (docs/RELIABILITY.md is filled from it).

Results go to $FAULTD_RELIABILITY_RESULTS (JSON lines; default
/tmp/faultd-reliability-results.jsonl) and are printed in pytest's terminal summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from support.daemon import DaemonProcess, base_config, free_port
from support.endpoint import RecordingEndpoint

SOAK = os.environ.get("FAULTD_SOAK") == "1"
RESULTS = Path(os.environ.get("FAULTD_RELIABILITY_RESULTS",
                              "/tmp/faultd-reliability-results.jsonl"))
COLLECTED: list[dict[str, Any]] = []


def record(scenario: str, **numbers: Any) -> None:
    """Add one row to the results table (printed at the end of the run, appended to RESULTS)."""
    row = {"scenario": scenario, "soak": SOAK, "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
           **numbers}
    COLLECTED.append(row)
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(f"\nRELIABILITY {json.dumps(row)}")


def line(i: int, prefix: str = "ev", pri: int = 187, host: str = "acc-1",
         pad: int = 0) -> bytes:
    """A unique RFC 5424 message (unique text, so dedup never folds two of them)."""
    body = f"{prefix} {i}" + (" " + "x" * pad if pad else "")
    return f"<{pri}>1 2026-12-03T10:00:00Z {host} app - - - {body}".encode()


def message_index(event: dict[str, Any], prefix: str = "ev") -> int | None:
    m = re.match(rf"{re.escape(prefix)} (\d+)", event["message"])
    return int(m.group(1)) if m else None


class Ports:
    def __init__(self) -> None:
        self.syslog = free_port()
        self.snmp = free_port()
        self.metrics = free_port(socket.SOCK_STREAM)


def process_config(tmp_path: Path, url: str | None, ports: Ports, **extra: Any) -> dict[str, Any]:
    raw = base_config(tmp_path / "state", url, **{
        "syslog": {"listen": f"127.0.0.1:{ports.syslog}"},
        "metrics": {"listen": f"127.0.0.1:{ports.metrics}"},
        "dispatch": {"endpoint": url, "timeout_seconds": 1,
                     "breaker": {"failure_threshold": 2, "open_seconds": 0.5},
                     "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.5}},
        "accumulator": {"tiers": [{"name": "all", "match": ["*"], "window_seconds": 0.5,
                                   "max_batch_size": 500}]},
    })
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        body: bytes = resp.read()
    return body.decode()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for m in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


async def ametrics(port: int) -> str:
    return await asyncio.to_thread(scrape, port)


def rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    raise AssertionError("no VmRSS")


async def paced_send(sock: socket.socket, payloads: Iterable[bytes], rate: float,
                     max_seconds: float, on_sent: Callable[[int], None] | None = None) -> int:
    """Send at about `rate`/s in 10 ms ticks; stops at `max_seconds`. Returns the count sent."""
    sent = 0
    start = time.monotonic()
    it = iter(payloads)
    while time.monotonic() - start < max_seconds:
        due = int((time.monotonic() - start) * rate) + 1
        try:
            while sent < due:
                sock.send(next(it))
                sent += 1
                if on_sent is not None:
                    on_sent(sent)
        except StopIteration:
            return sent
        await asyncio.sleep(0.01)
    return sent


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> float:
    """Wait for `predicate`; returns the seconds it took, raises TimeoutError after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def stop(proc: DaemonProcess, timeout: float = 20.0) -> int:
    import signal

    if proc.proc is None or proc.proc.poll() is not None:
        return proc.proc.returncode if proc.proc else 0
    proc.signal(signal.SIGTERM)
    return await proc.wait_exit(timeout)


def delivered_indices(endpoint: RecordingEndpoint, prefix: str = "ev") -> set[int]:
    return {i for e in endpoint.events() if (i := message_index(e, prefix)) is not None}

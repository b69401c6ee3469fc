"""Configs, traffic and checks shared by the bus tests (real daemons, real UDP, real HTTP)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.daemon import base_config, deep_merge
from support.endpoint import RecordingEndpoint


def bus_config(tmp: Path, name: str, role: str, servers: list[str], endpoint: str | None,
               **bus: Any) -> dict[str, Any]:
    """A daemon config for one bus member, state under tmp/name."""
    state = tmp / name
    state.mkdir(parents=True, exist_ok=True)
    raw = base_config(state, endpoint, collector_name=name, accumulator={"tiers": [
        {"name": "all", "match": ["*"], "window_seconds": 0.5, "max_batch_size": 500}]})
    settings = {"role": role, "servers": servers, "partitions": 4, "member_name": name,
                "lease_ttl_seconds": 1.5, "ack_wait_seconds": 30, "publish_timeout_seconds": 1}
    return deep_merge(raw, {"bus": {**settings, **bus}})


def rfc5424(host: str, msg: str, pri: int = 187) -> bytes:
    return f"<{pri}>1 2026-12-03T10:00:00.000Z {host} ifmgr - - - {msg}".encode()


def alarm(i: int, nodes: int = 20) -> bytes:
    """A distinct alarm per i (never folded), spread over `nodes` nodes."""
    return rfc5424(f"node-{i % nodes:02d}", f"%LINK-3-UPDOWN: Interface Gi0/{i}, changed state "
                   "to down")


async def send_paced(sock: socket.socket, lines: list[bytes], per_tick: int = 50) -> None:
    """Send datagrams in small bursts so a loopback socket buffer never overflows."""
    for start in range(0, len(lines), per_tick):
        for line in lines[start:start + per_tick]:
            sock.send(line)
        await asyncio.sleep(0.005)


def messages(endpoint: RecordingEndpoint) -> list[str]:
    """The message text of every accepted event (batches deduplicated by batch_id)."""
    return [e["message"] for e in endpoint.events()]


def assert_no_event_twice_in_a_batch(endpoint: RecordingEndpoint) -> None:
    for batch in endpoint.accepted:
        ids = Counter(e["event_id"] for e in batch["events"])
        assert max(ids.values(), default=1) == 1, batch["batch_id"]


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)

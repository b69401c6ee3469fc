"""Helpers for the observability tests: scrape /metrics over HTTP, wait for conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(address: tuple[str, int]) -> Samples:
    """GET /metrics and return {(sample name, labels): value}."""
    host, port = address
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://{host}:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0.0 when the series is absent (an untouched labelled child)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def eventually(probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Await `probe()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def syslog_line(host: str, msg: str, pri: int = 187) -> bytes:
    """An RFC 5424 line; PRI 187 = local7.err (severity major)."""
    return f"<{pri}>1 2026-12-03T10:00:00Z {host} app - - - {msg}".encode()

"""Fault injection on the downstream, against a real daemon process (issue 9).

- endpoint flapping: the HTTP server goes away (connection refused) and comes back
  every 2 s while traffic flows;
- endpoint that accepts TCP connections and never answers (raw listener);
- endpoint that answers 200 with a garbage body.

Every scenario: zero loss of accepted events (each sent message delivered at
least once, counted by its unique text), and the numbers go to the results table.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from support.daemon import DaemonProcess, udp_sender
from support.endpoint import RecordingEndpoint

from .kit import (
    SOAK,
    Ports,
    ametrics,
    delivered_indices,
    line,
    metric,
    paced_send,
    process_config,
    record,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900 if SOAK else 120)]

RATE = 400.0 if SOAK else 300.0
SEND_SECONDS = 60.0 if SOAK else 8.0


async def start_daemon(tmp_path: Path, url: str, ports: Ports) -> DaemonProcess:
    proc = DaemonProcess(tmp_path, process_config(tmp_path, url, ports))
    proc.start()
    await proc.wait_log("ready")
    return proc


async def finish(scenario: str, proc: DaemonProcess, ports: Ports, endpoint: RecordingEndpoint,
                 sent: int, recovered_from: float, **extra: object) -> None:
    delivered_all = True
    try:
        await wait_until(lambda: len(delivered_indices(endpoint)) >= sent,
                         timeout=60 if SOAK else 30)
    except TimeoutError:
        delivered_all = False
    recovery = time.monotonic() - recovered_from
    text = await ametrics(ports.metrics)
    received = int(metric(text, "faultd_events_received_total"))
    got = delivered_indices(endpoint)
    ok_requests = sum(1 for r in endpoint.requests if 200 <= r.status < 300)
    record(scenario, sent=sent, received=received, delivered=len(got),
           lost=sent - len(got), redelivered_batches=ok_requests - len(
               {b["batch_id"] for b in endpoint.accepted}),
           recovery_s=round(recovery, 2),
           spilled_batches=int(metric(text, "faultd_spill_batches_written_total")), **extra)
    assert received == sent
    assert got == set(range(sent)), f"lost {sorted(set(range(sent)) - got)[:20]}..."
    assert delivered_all
    assert await stop(proc) == 0


async def test_endpoint_flapping_every_two_seconds(tmp_path: Path) -> None:
    endpoint = RecordingEndpoint()
    await endpoint.start()
    port = int(endpoint.url.rsplit(":", 1)[1].split("/")[0])
    ports = Ports()
    proc = await start_daemon(tmp_path, endpoint.url, ports)
    flips = 0
    running = True

    async def flap() -> None:
        nonlocal flips, running
        while running:
            await asyncio.sleep(2.0)
            if not running:
                break
            if flips % 2 == 0:
                await endpoint.stop()
            else:
                await endpoint.start(port)
            flips += 1

    flapper = asyncio.create_task(flap())
    try:
        sock = udp_sender(("127.0.0.1", ports.syslog))
        sent = await paced_send(sock, (line(i) for i in range(10**9)), RATE, SEND_SECONDS)
    finally:
        running = False
        await flapper
    if flips % 2 == 1:  # left down: bring it back for good
        await endpoint.start(port)
    up_at = time.monotonic()
    try:
        await finish("endpoint flapping (2 s down / 2 s up)", proc, ports, endpoint, sent, up_at,
                     flips=flips)
    finally:
        proc.kill()
        await endpoint.stop()


async def test_endpoint_that_accepts_and_never_answers(tmp_path: Path) -> None:
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing back, answer nothing, keep it open
        await asyncio.sleep(3600)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/batches"
    ports = Ports()
    proc = await start_daemon(tmp_path, url, ports)
    endpoint = RecordingEndpoint()
    try:
        sock = udp_sender(("127.0.0.1", ports.syslog))
        sent = await paced_send(sock, (line(i) for i in range(10**9)), RATE, SEND_SECONDS / 2)
        server.close()
        for w in held:
            w.transport.abort()
        await server.wait_closed()
        await endpoint.start(port)
        up_at = time.monotonic()
        text = await ametrics(ports.metrics)
        timeouts = int(metric(text, "faultd_dispatch_requests_total", outcome="unreachable"))
        await finish("endpoint accepts, never answers", proc, ports, endpoint, sent, up_at,
                     connections_held=len(held), failed_attempts=timeouts)
        assert held, "the daemon never connected to the silent listener"
    finally:
        proc.kill()
        await endpoint.stop()


async def test_endpoint_answering_200_with_garbage_body(tmp_path: Path) -> None:
    endpoint = RecordingEndpoint()
    endpoint.script = [{"status": 200, "body": "\x00\x1b[31m}{not json" + "\ufffd" * 64,
                        "headers": {"Content-Type": "application/json"}}] * 100_000
    await endpoint.start()
    ports = Ports()
    proc = await start_daemon(tmp_path, endpoint.url, ports)
    try:
        sock = udp_sender(("127.0.0.1", ports.syslog))
        sent = await paced_send(sock, (line(i) for i in range(10**9)), RATE, SEND_SECONDS / 2)
        await finish("endpoint 200 + garbage body", proc, ports, endpoint, sent,
                     time.monotonic())
    finally:
        proc.kill()
        await endpoint.stop()

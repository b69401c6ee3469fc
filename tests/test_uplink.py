"""Worker uplinks (faultd.workers.uplink) over real Unix socket pairs: critical
events travel on their own stream and are never queued behind standard ones."""

from __future__ import annotations

import asyncio
import socket

from faultd.event import FaultEvent
from faultd.workers.uplink import UplinkReader, UplinkWriter


def event(n: int, severity: int) -> FaultEvent:
    return FaultEvent(event_id=f"e{n}", node_id="n1", source="syslog", severity=severity,
                      fault_code="x", message=f"m{n}", timestamp=1.0, received_at=1.0)


async def _reader(sock: socket.socket, got: list[FaultEvent]) -> asyncio.BaseTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(
        lambda: UplinkReader(got.extend, lambda values: None), sock=sock)
    return transport


async def _writer_end(sock: socket.socket) -> asyncio.WriteTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, sock=sock)
    return transport  # type: ignore[return-value]


async def test_critical_event_overtakes_a_standard_backlog() -> None:
    std_main, std_worker = socket.socketpair()
    crit_main, crit_worker = socket.socketpair()
    dropped: list[int] = []
    writer = UplinkWriter(await _writer_end(std_worker), dropped.append,
                          critical=await _writer_end(crit_worker))
    critical_got: list[FaultEvent] = []
    reader = await _reader(crit_main, critical_got)  # the standard end is never read
    for n in range(600):  # more than a frame's worth: one goes out before the flush
        writer.send(event(n, severity=4))
    writer.send(event(600, severity=1))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if critical_got:
            break
    assert [e.event_id for e in critical_got] == ["e600"]
    std_main.setblocking(False)
    assert std_main.recv(1 << 20)  # the standard frames wait, unread, on their own socket
    assert not dropped
    reader.close()
    std_main.close()


async def test_without_a_critical_uplink_everything_shares_one_stream() -> None:
    std_main, std_worker = socket.socketpair()
    writer = UplinkWriter(await _writer_end(std_worker), lambda n: None)
    got: list[FaultEvent] = []
    reader = await _reader(std_main, got)
    writer.send(event(1, severity=4))
    writer.send(event(2, severity=1))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len(got) == 2:
            break
    assert [e.event_id for e in got] == ["e1", "e2"]
    reader.close()

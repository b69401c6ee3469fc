"""Worker uplinks (faultd.workers.uplink) over real Unix socket pairs: critical
events travel on their own stream and are never queued behind standard ones; each
events frame arrives with the msgpack payload the intake journal writes as is."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from faultd.event import Batch, FaultEvent, decode_relayed, encode_batch
from faultd.workers.uplink import (
    COUNTERS,
    EVENTS,
    PROTOCOL,
    UplinkReader,
    UplinkWriter,
    encode_events,
    encode_frame,
)


def event(n: int, severity: int) -> FaultEvent:
    return FaultEvent(event_id=f"e{n}", node_id="n1", source="syslog", severity=severity,
                      fault_code="x", message=f"m{n}", timestamp=1.0, received_at=1.0,
                      attributes={"n": f"m{n}", "k": 1.5})


def feed(reader: UplinkReader, data: bytes, step: int) -> None:
    """What a transport does: reads of at most `step` bytes."""
    for start in range(0, len(data), step):
        reader.data_received(data[start:start + step])


def batch(events: list[FaultEvent]) -> Batch:
    return Batch(batch_id="b", collector="c", tier="t", lane="standard", trigger="window",
                 opened_at=1.0, emitted_at=2.0, event_count=len(events), events=events)


async def _reader(sock: socket.socket, got: list[FaultEvent]) -> asyncio.BaseTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(
        lambda: UplinkReader(lambda events, payload: got.extend(events), lambda values: None),
        sock=sock)
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


def test_events_frame_hands_over_the_payload_it_was_decoded_from() -> None:
    got: list[tuple[list[FaultEvent], bytes]] = []
    counters: list[list[tuple[str, str, float]]] = []

    async def run() -> None:
        reader = UplinkReader(lambda events, payload: got.append((events, payload)),
                              counters.append)
        events = [event(n, severity=4) for n in range(3)]
        stream = (encode_events(events)
                  + encode_frame(COUNTERS, msgspec.msgpack.encode([("a", "b", 1.0)]))
                  + encode_frame(ord("?"), b"ignored")
                  + encode_events(events[:1]))
        feed(reader, stream, 7)  # frames split across reads

    asyncio.run(run())
    assert [[e.event_id for e in events] for events, _ in got] == [["e0", "e1", "e2"], ["e0"]]
    for events, payload in got:  # the journal's record format
        assert decode_relayed(payload) == events
        assert encode_batch(batch(events)) == encode_batch(
            batch([event(n, severity=4) for n in range(len(events))]))
    assert counters == [[("a", "b", 1.0)]]
    assert EVENTS != COUNTERS


def test_large_frames_and_reads_of_any_size() -> None:
    """A ~6 MB frame and small ones, in reads of 1 byte to 1 MiB, give the same frames."""
    big = [event(n, severity=4) for n in range(2000)]
    for e in big:
        e.message = "x" * 3000  # a ~6 MB frame, split over many reads
    last = encode_events([event(0, severity=4)])
    stream = encode_events(big) + encode_events([event(n, severity=4) for n in range(3)]) + last

    async def run(step: int) -> list[list[str]]:
        got: list[list[str]] = []
        reader = UplinkReader(lambda evs, payload: got.append([e.event_id for e in evs]),
                              lambda values: None)
        feed(reader, stream if step > 1 else last, step)
        return got

    for step in (1, 4096, 65536, 1 << 20):
        got = asyncio.run(run(step))
        if step == 1:  # the last frame alone, byte by byte
            assert got == [["e0"]]
        else:
            assert [len(g) for g in got] == [2000, 3, 1]


async def test_a_frame_with_an_impossible_length_closes_the_uplink() -> None:
    main, worker = socket.socketpair()
    got: list[FaultEvent] = []
    transport = await _reader(main, got)
    worker.sendall(b"\x00\x00\x00\x00" + encode_events([event(1, severity=4)]))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if transport.is_closing():
            break
    assert transport.is_closing() and not got
    worker.close()


@pytest.mark.parametrize("protocol", [None, PROTOCOL + 1])
def test_a_worker_refuses_a_main_process_of_another_uplink_protocol(
        tmp_path: Path, protocol: int | None) -> None:
    """After a package upgrade under a running daemon, a worker the old main process
    restarts runs the new code: it says so and exits instead of sending frames the
    main process cannot read."""
    config = tmp_path / "faultd.yaml"
    config.write_text(f"state_directory: {tmp_path}\nsyslog: {{listen: '127.0.0.1:0'}}\n")
    parent, child = socket.socketpair()
    args = [sys.executable, "-m", "faultd", "worker", "--config", str(config),
            "--index", "3", "--uplink-fd", str(child.fileno())]
    if protocol is not None:
        args += ["--uplink-protocol", str(protocol)]
    with parent, child:
        done = subprocess.run(args, pass_fds=[child.fileno()], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2
    assert "faultd was upgraded while it ran; restart it" in done.stderr
    assert f"uplink protocol {protocol or 1}, this code {PROTOCOL}" in done.stderr

"""Fault injection on the daemon process itself (issue 9): a spill directory on a full
filesystem, SIGHUP every 100 ms under load, and SIGKILL under load then restart."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs (needs root / CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_spill_on_a_full_filesystem_counts_every_drop(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    endpoint.down = True
    with small_tmpfs(tmp_path / "spillfs") as spill_dir:
        ports = Ports()
        raw = process_config(tmp_path, endpoint.url, ports,
                             spill={"directory": str(spill_dir), "fsync": "never"})
        proc = DaemonProcess(tmp_path, raw)
        proc.start()
        try:
            await proc.wait_log("ready")
            sock = udp_sender(("127.0.0.1", ports.syslog))
            count = 12_000 if SOAK else 6_000
            # ~700-byte messages: 6,000 of them are ~3x what the 2 MiB filesystem holds
            sent = await paced_send(sock, (line(i, pad=600) for i in range(count)), 1500, 30)
            await wait_until(lambda: "cannot spill batch" in proc.log(), timeout=20)
            await asyncio.sleep(1.5)  # last windows close and hit the full disk too
            text = await ametrics(ports.metrics)
            dropped = int(metric(text, "faultd_events_dropped_total", reason="disk_full"))
            assert dropped > 0
            endpoint.down = False
            up_at = time.monotonic()
            await wait_until(lambda: len(delivered_indices(endpoint)) + dropped >= sent,
                             timeout=60)
            recovery = time.monotonic() - up_at
            text = await ametrics(ports.metrics)
            dropped = int(metric(text, "faultd_events_dropped_total", reason="disk_full"))
            got = delivered_indices(endpoint)
            received = int(metric(text, "faultd_events_received_total"))
            record("spill on a full 2 MiB tmpfs, endpoint down", sent=sent, received=received,
                   delivered=len(got), dropped_disk_full=dropped,
                   lost_uncounted=sent - len(got) - dropped, recovery_s=round(recovery, 2))
            assert received == sent
            assert len(got) + dropped == sent  # every event delivered or counted as dropped
            assert not (spill_dir / "standard").exists() or not any(
                p.stat().st_mode & 0o077 for p in spill_dir.rglob("*.seg"))
            assert await stop(proc) == 0
        finally:
            proc.kill()


async def test_sighup_every_100ms_under_load_loses_nothing(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    ports = Ports()
    raw = process_config(tmp_path, endpoint.url, ports)
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    await proc.wait_log("ready")
    hups = 0
    sending = True

    async def hup() -> None:
        nonlocal hups
        while sending:
            # alternate the window so every other reload really changes something
            raw["accumulator"]["tiers"][0]["window_seconds"] = 0.5 if hups % 2 else 0.7
            proc.write_config(raw)
            proc.signal(signal.SIGHUP)
            hups += 1
            await asyncio.sleep(0.1)

    try:
        hupper = asyncio.create_task(hup())
        sock = udp_sender(("127.0.0.1", ports.syslog))
        sent = await paced_send(sock, (line(i) for i in range(10**9)), 500,
                                60.0 if SOAK else 6.0)
        sending = False
        await hupper
        done_at = time.monotonic()
        await wait_until(lambda: len(delivered_indices(endpoint)) >= sent, timeout=30)
        text = await ametrics(ports.metrics)
        got = delivered_indices(endpoint)
        generation = int(metric(text, "faultd_config_generation"))
        record("SIGHUP every 100 ms under 500 msg/s", sent=sent,
               received=int(metric(text, "faultd_events_received_total")), delivered=len(got),
               lost=sent - len(got), sighups=hups, reloads_applied=generation - 1,
               recovery_s=round(time.monotonic() - done_at, 2))
        assert got == set(range(sent))
        assert generation > 1 and proc.proc is not None and proc.proc.poll() is None
        assert await stop(proc) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigkill_under_load_then_restart(
        tmp_path: Path, endpoint: RecordingEndpoint, workers: int) -> None:
    """SIGKILL mid-stream loses nothing the daemon had accepted: the intake journal
    (spill.journal, on by default) brings back what was in open windows and unsent
    batches, and the spill store what was spilled.  Datagrams still in the kernel
    socket buffer (or a receive worker's uplink) were never accepted; the test waits
    until the main process has accepted everything it was sent before killing it,
    so every sent event must arrive.  With receive workers the journal holds their
    uplink frames as they came (faultd.spill.journal, begin_encoded)."""
    ports = Ports()
    raw = process_config(tmp_path, endpoint.url, ports, spill={"fsync": "always"},
                         workers=workers)
    raw["accumulator"]["tiers"][0]["window_seconds"] = 1.0
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    await proc.wait_log("ready")
    sock = udp_sender(("127.0.0.1", ports.syslog))
    before = await paced_send(sock, (line(i) for i in range(10**9)), 500, 4.0)
    endpoint.down = True  # the last second's batches go to spill, the rest sit in windows
    more = await paced_send(sock, (line(i) for i in range(before, 10**9)), 500, 2.0)
    accepted = before + more

    async def read_all() -> bool:
        text = await ametrics(ports.metrics)
        return metric(text, "faultd_events_accepted_total", source="syslog") >= accepted

    deadline = time.monotonic() + 10
    while not await read_all():
        assert time.monotonic() < deadline, "daemon did not read what it was sent"
        await asyncio.sleep(0.02)
    assert proc.proc is not None
    proc.proc.kill()  # SIGKILL mid-stream: windows open, batches queued and spilled
    proc.proc.wait()
    killed_at = time.monotonic()
    spilled_files = sorted((tmp_path / "state" / "spill").glob("*/*.seg"))
    journal_files = sorted((tmp_path / "state" / "spill" / "journal").glob("*.jnl"))
    assert journal_files, "nothing was journaled"
    endpoint.down = False
    again = DaemonProcess(tmp_path, raw, name="restarted")
    again.start()
    try:
        await again.wait_log("ready")
        ready_s = time.monotonic() - killed_at
        after = await paced_send(sock, (line(i) for i in range(accepted, 10**9)), 500, 2.0)
        sent = accepted + after
        await wait_until(lambda: set(range(sent)) <= delivered_indices(endpoint), timeout=30)
        got = delivered_indices(endpoint)
        record(f"SIGKILL under 500 msg/s, then restart ({workers} worker(s))", sent=sent,
               delivered=len(got),
               lost=len(set(range(sent)) - got), spill_segments_at_kill=len(spilled_files),
               journal_segments_at_kill=len(journal_files),
               restart_ready_s=round(ready_s, 2))
        assert set(range(sent)) <= got  # nothing accepted is lost
        assert "journal: recovered" in again.log()
        assert await stop(again) == 0
    finally:
        proc.kill()
        again.kill()

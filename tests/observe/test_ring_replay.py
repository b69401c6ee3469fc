"""Raw ring and replay (issue 6): `faultd ring dump` + `faultd replay` as real processes.

A ring dump of odd input replayed into a second daemon yields the same events;
a spill directory replayed to a staging endpoint delivers its batches with
trigger "replay" and their original batch_id, and stays untouched.
"""

from __future__ import annotations

import asyncio
import stat
import sys
from pathlib import Path

import yaml
from observe_kit import syslog_line

from faultd.event import Batch, FaultEvent, new_id
from faultd.observe.ring import read_dump
from faultd.replay import Pacer, parse_hostport_arg, ring_url_from_listen
from faultd.spill.store import SpillStore
from support.daemon import base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

ODD_INPUT = [
    # RFC 5424 with a structured-data block that never closes
    b'<187>1 2026-12-03T10:00:00Z core-7 sshd 42 ID1 [origin ip="10.0.0.7" broken sd '
    b"without close Interface down",
    # Cisco IOS: sequence number, host, '*' unsynchronised clock, no year
    b"<189>123: core-8: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, "
    b"changed state to down",
    syslog_line("acc-1", "%LINK-3-UPDOWN: Interface Gi1/0 down"),
]


async def faultd_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "faultd", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def identity(events: list[dict]) -> list[tuple]:
    return sorted((e["node_id"], e["fault_code"], e["message"], e["severity"]) for e in events)


async def test_ring_dump_replayed_into_a_second_faultd_gives_the_same_events(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    second = RecordingEndpoint()
    await second.start()
    raw_a = base_config(tmp_path / "a", endpoint.url)
    raw_a["accumulator"]["tiers"][0]["window_seconds"] = 0.2
    raw_b = base_config(tmp_path / "b", second.url)
    raw_b["accumulator"]["tiers"][0]["window_seconds"] = 0.2
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dump = tmp_path / "ring.jsonl"
    try:
        async with running_daemon(tmp_path / "a", raw_a) as a, \
                running_daemon(tmp_path / "b", raw_b) as b:
            sender = udp_sender(a.bound_address("syslog"))
            for datagram in ODD_INPUT:
                sender.send(datagram)
            sender.close()
            await endpoint.wait_for(lambda: len(endpoint.events()) >= len(ODD_INPUT))

            host, port = a.observer.bound[0]
            rc, out, err = await faultd_cli("ring", "dump", str(dump),
                                            "--url", f"http://{host}:{port}")
            assert rc == 0, err
            assert f"wrote {len(ODD_INPUT)} raw datagrams" in out
            assert stat.S_IMODE(dump.stat().st_mode) == 0o600
            assert [r.data for r in read_dump(dump)] == ODD_INPUT  # byte for byte

            bhost, bport = b.bound_address("syslog")
            rc, out, err = await faultd_cli("replay", "--from", str(dump),
                                            "--syslog", f"{bhost}:{bport}", "--rate", "1000")
            assert rc == 0, err
            assert "sent syslog 3" in out
            await second.wait_for(lambda: len(second.events()) >= len(ODD_INPUT))
            assert identity(second.events()) == identity(endpoint.events())
    finally:
        await second.stop()


async def test_ring_dump_from_config_and_refusals(tmp_path: Path) -> None:
    raw = base_config(tmp_path / "state", None, metrics={"listen": None})
    config = tmp_path / "faultd.yaml"
    config.write_text(yaml.safe_dump(raw))
    rc, _, err = await faultd_cli("ring", "dump", str(tmp_path / "x"), "--config", str(config))
    assert rc == 1 and "metrics.listen is null" in err
    rc, _, err = await faultd_cli("ring", "dump", str(tmp_path / "x"),
                                  "--url", "http://127.0.0.1:9/")  # discard port: refused
    assert rc == 1 and "error:" in err
    assert not (tmp_path / "x").exists()
    rc, _, err = await faultd_cli("replay", "--from", str(tmp_path / "missing.jsonl"),
                                  "--to", "udp://127.0.0.1:9")
    assert rc == 1 and "error:" in err


def spilled_batch(lane: str, n: int) -> Batch:
    events = [FaultEvent(event_id=new_id(), node_id=f"core-{i}", source="syslog",
                         severity=1 if lane == "critical" else 3, fault_code="LINK-3-UPDOWN",
                         message=f"Interface Gi0/{i} down", timestamp=1.7e9, received_at=1.7e9,
                         tier="core") for i in range(n)]
    return Batch(batch_id=new_id(), collector="c1", tier="core", lane=lane, trigger="window",
                 opened_at=1.7e9, emitted_at=1.7e9 + 2, event_count=n, events=events)


async def test_spill_directory_replays_to_staging_with_trigger_replay(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    spill = tmp_path / "spill"
    batches = [spilled_batch("standard", 2), spilled_batch("critical", 1),
               spilled_batch("standard", 3)]
    with SpillStore(spill) as store:
        for batch in batches:
            store.append(batch)

    # a daemon (here: this process) holding the directory lock -> refused clearly
    with SpillStore(spill):
        rc, _, err = await faultd_cli("replay", "--from", str(spill), "--to", endpoint.url)
    assert rc == 1 and "in use by another process" in err and "stop the daemon" in err
    assert endpoint.requests == []

    rc, out, err = await faultd_cli("replay", "--from", str(spill), "--to", endpoint.url,
                                    "--rate", "500")
    assert rc == 0, err
    assert "replayed 3 batches (6 events)" in out
    assert [b["trigger"] for b in endpoint.accepted] == ["replay"] * 3
    # critical lane first, then standard oldest first; batch_id and Idempotency-Key kept
    expected = [batches[1], batches[0], batches[2]]
    assert [b["batch_id"] for b in endpoint.accepted] == [b.batch_id for b in expected]
    assert [r.headers["Idempotency-Key"] for r in endpoint.requests] == [
        b.batch_id for b in expected]
    assert [len(b["events"]) for b in endpoint.accepted] == [1, 2, 3]

    # non-destructive: everything is still pending in the spill directory
    with SpillStore(spill) as store:
        assert store.stats().records_pending == 3

    # a refusing staging endpoint stops the replay with exit 1
    endpoint.script = [400]
    rc, out, _ = await faultd_cli("replay", "--from", str(spill), "--to", endpoint.url)
    assert rc == 1 and "stopped: batch" in out and "reject 400" in out


def test_pacer_spaces_items_by_rate() -> None:
    now = [100.0]
    pacer = Pacer(4.0, now=lambda: now[0])
    assert pacer.delay() == 0.0
    assert pacer.delay() == 0.25
    now[0] = 100.1
    assert abs(pacer.delay() - 0.4) < 1e-9  # third slot at 100.5
    now[0] = 200.0  # idle for a while: no burst credit, next goes now
    assert pacer.delay() == 0.0
    assert Pacer(None).delay() == 0.0


def test_targets() -> None:
    assert parse_hostport_arg("udp://127.0.0.1:514") == ("127.0.0.1", 514)
    assert parse_hostport_arg("[::1]:162") == ("::1", 162)
    assert parse_hostport_arg("localhost:5514") == ("localhost", 5514)
    assert ring_url_from_listen("0.0.0.0:9163") == "http://127.0.0.1:9163/debug/ring"
    assert ring_url_from_listen("[::]:9163") == "http://[::1]:9163/debug/ring"
    assert ring_url_from_listen("10.1.2.3:9163") == "http://10.1.2.3:9163/debug/ring"

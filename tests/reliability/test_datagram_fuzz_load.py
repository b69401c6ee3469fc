"""Fuzzed datagrams at both ports of a real daemon process (issue 9): no crash, no leak,
every bad datagram counted, every accepted event delivered.

50,000 datagrams in `make test`; 1,000,000 under FAULTD_SOAK=1 (`make soak`).  The
inputs are deterministic mutations (seeded) of the fuzz seed corpora plus random
bytes.  The sender paces itself on the daemon's own counters (at most CHUNK
datagrams unread), so the kernel never drops one and every datagram can be
accounted for:

  syslog: received == sent == accepted + parse errors
  snmp:   received == sent; accepted + rejected <= received, and what is neither was
          answered (a v3 discovery Report goes back to the sender and is counted there)

RSS is measured after a warm-up (the first 20 % of the datagrams) and at the end,
after everything was delivered: it must stay within 10 %.  The sender keeps a
fixed pace (RATE) so the daemon's working set - open windows, batches being
encoded and sent - is the same size at both samples: RSS is a high-water mark
(pymalloc keeps arenas), and a warm-up sample taken before the first window had
closed, from a sender running as fast as the machine allowed, measured that
mark's growth with send speed, not a leak (3-11 % growth for the same commit).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import DaemonProcess
from support.endpoint import RecordingEndpoint

from .kit import SOAK, Ports, ametrics, metric, process_config, record, rss_kib, stop, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 1_000_000 if SOAK else 50_000
SNMP_SHARE = 0.3
CHUNK = 1000
RATE = 4000  # datagrams per second, at most (the daemon's counters pace it too)
WARM = 0.2  # share of the datagrams sent before the warm RSS sample
CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 3 and data:
            data[min(pos, len(data) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, 0x81, 0x30))
        else:
            data = data[: max(1, pos)]
    return bytes(data) or b"\x00"


def datagrams(seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    syslog = [p.read_bytes() for p in sorted((CORPUS / "syslog").iterdir())]
    snmp = [p.read_bytes() for p in sorted((CORPUS / "snmp").iterdir())]
    while True:
        port = "snmp" if rng.random() < SNMP_SHARE else "syslog"
        pool = snmp if port == "snmp" else syslog
        roll = rng.random()
        if roll < 0.1:
            yield port, rng.choice(pool)  # intact: must be accepted and delivered
        elif roll < 0.9:
            yield port, mutate(rng, rng.choice(pool))
        else:
            yield port, rng.randbytes(rng.randint(1, 400)) or b"\x01"


@pytest.mark.timeout(3600 if SOAK else 300)
async def test_fuzzed_datagrams_at_both_ports(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    ports = Ports()
    raw = process_config(tmp_path, endpoint.url, ports, snmp={
        "listen": f"127.0.0.1:{ports.snmp}", "communities": ["public"],
        "users": [{"name": "noc", "auth_protocol": "sha", "auth_key": "authpass-123",
                   "priv_protocol": "aes", "priv_key": "privpass-456"}]},
        logging={"level": "info"})
    raw["accumulator"]["tiers"][0].update(window_seconds=1.0, max_batch_size=2000)
    raw["metrics"]["ring_size"] = 1000
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    socks = {name: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for name in ("syslog",
                                                                                 "snmp")}
    try:
        await proc.wait_log("ready")
        assert proc.proc is not None
        for name, sock in socks.items():
            sock.connect(("127.0.0.1", getattr(ports, name)))
            sock.setblocking(False)
        sent = {"syslog": 0, "snmp": 0}
        answers = 0
        rss_start = rss_kib(proc.proc.pid)
        rss_warm = 0
        started = time.monotonic()
        gen = datagrams(20261203)
        total = 0
        while total < TOTAL:
            for _ in range(min(CHUNK, TOTAL - total)):
                name, data = next(gen)
                socks[name].send(data)
                sent[name] += 1
                total += 1
            text = await ametrics(ports.metrics)
            for _ in range(600):  # bounded wait for the daemon to read what was sent
                if metric(text, "faultd_events_received_total") >= total:
                    break
                await asyncio.sleep(0.02)
                text = await ametrics(ports.metrics)
            while True:  # drain responses (INFORM acks, discovery Reports)
                try:
                    socks["snmp"].recv(65535)
                except BlockingIOError:
                    break
                answers += 1
            if not rss_warm and total >= TOTAL * WARM:
                rss_warm = rss_kib(proc.proc.pid)
            await asyncio.sleep(max(0.0, started + total / RATE - time.monotonic()))
            assert proc.proc.poll() is None, proc.log()[-3000:]
        send_seconds = time.monotonic() - started
        text = await ametrics(ports.metrics)
        accepted = int(metric(text, "faultd_events_accepted_total"))
        await wait_until(lambda: endpoint.represented() >= accepted, timeout=60)
        await asyncio.sleep(1.5)
        rss_end = rss_kib(proc.proc.pid)
        text = await ametrics(ports.metrics)
        got = {s: int(metric(text, "faultd_events_received_total", source=s)) for s in sent}
        acc = {s: int(metric(text, "faultd_events_accepted_total", source=s)) for s in sent}
        parse_errors = int(metric(text, "faultd_parse_errors_total", source="syslog"))
        rejected = int(metric(text, "faultd_snmp_rejected_total"))
        internal = int(metric(text, "faultd_snmp_rejected_total", reason="internal_error"))
        record("fuzzed datagrams at both ports", sent=TOTAL, syslog_sent=sent["syslog"],
               snmp_sent=sent["snmp"], received=sum(got.values()),
               syslog_accepted=acc["syslog"], syslog_parse_errors=parse_errors,
               snmp_accepted=acc["snmp"], snmp_rejected=rejected, snmp_answered=answers,
               internal_errors=internal, delivered=endpoint.represented(),
               lost=sum(acc.values()) - endpoint.represented(), rss_start_kib=rss_start,
               rss_warm_kib=rss_warm, rss_end_kib=rss_end,
               rss_growth_pct=round(100 * (rss_end - rss_warm) / rss_warm, 1),
               send_seconds=round(send_seconds, 1))
        assert got == sent  # nothing lost before the daemon saw it
        assert acc["syslog"] + parse_errors == sent["syslog"]
        assert acc["snmp"] + rejected <= sent["snmp"] <= acc["snmp"] + rejected + answers
        assert internal == 0  # no decoder hit the receiver's catch-all
        assert endpoint.represented() == sum(acc.values())  # every accepted event delivered
        assert rss_end <= rss_warm * 1.10
        assert "Traceback" not in proc.log()
        assert await stop(proc) == 0
    finally:
        proc.kill()
        for sock in socks.values():
            sock.close()

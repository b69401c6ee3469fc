"""A receive worker process: UDP listeners on SO_REUSEPORT, parse, normalise, uplink.

Started by the main process as `faultd worker --config PATH --index N --uplink-fd FD
--critical-fd FD` (never by hand).  It binds the configured syslog and SNMP UDP
listeners with SO_REUSEPORT, normalises every datagram with the same code as a
single-process daemon, and streams the events to the main process (critical ones
on their own uplink, faultd.workers.uplink).  It reports its counters
twice a second (the first report also says "listeners bound").  SIGTERM, or the
main process closing the uplink, makes it stop reading, flush and exit.
SIGINT is ignored: a Ctrl-C reaches the main process, which stops the workers
in order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from pathlib import Path

from faultd.config import Config, load_config
from faultd.gcpolicy import settle_heap
from faultd.intake import Intake
from faultd.mallocpolicy import tune_malloc
from faultd.observe.logsetup import setup_logging
from faultd.observe.metrics import Metrics
from faultd.sources.syslog import SyslogIngest
from faultd.sources.udp import DatagramSource, bind_udp, open_datagram_source
from faultd.workers.counters import snapshot
from faultd.workers.uplink import PROTOCOL, UplinkWriter

log = logging.getLogger("faultd.worker")

COUNTER_INTERVAL = 0.5


class _UplinkProtocol(asyncio.Protocol):
    def __init__(self, closed: asyncio.Event) -> None:
        self._closed = closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()


async def _serve(config: Config, index: int, uplink_fd: int, critical_fd: int | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    uplink_sock = socket.socket(fileno=uplink_fd)
    transport, _ = await loop.connect_accepted_socket(lambda: _UplinkProtocol(stop),
                                                      sock=uplink_sock)
    critical = None
    if critical_fd is not None:
        critical, _ = await loop.connect_accepted_socket(
            lambda: _UplinkProtocol(stop), sock=socket.socket(fileno=critical_fd))
    metrics = Metrics()
    uplink = UplinkWriter(transport, on_drop=metrics.dropped["queue_full"].inc,
                          critical=critical)
    intake = Intake(uplink.send, uplink.has_capacity, metrics, config.node_aliases)
    sources: list[DatagramSource] = []
    if config.syslog.listen:
        syslog = SyslogIngest(config.syslog, intake, metrics)
        sources.append(await open_datagram_source(
            "syslog", bind_udp(config.syslog.listen, reuse_port=True), syslog.on_message))
    if config.snmp.listen:
        from faultd.sources.snmp import SnmpIngest, build_receiver

        state = Path(config.state_directory) / "workers" / str(index)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        snmp = SnmpIngest(config.snmp, build_receiver(config.snmp, state), intake, metrics)
        protocol = await open_datagram_source(
            "snmp", bind_udp(config.snmp.listen, reuse_port=True), snmp.on_datagram)
        snmp.protocol = protocol
        sources.append(protocol)
    settle_heap()  # startup objects out of every later full GC pass
    tune_malloc()  # frames and their payloads: keep freed heap (faultd.mallocpolicy)
    uplink.send_counters(snapshot(metrics))  # first report = listeners bound
    while not stop.is_set():
        try:
            async with asyncio.timeout(COUNTER_INTERVAL):
                await stop.wait()
        except TimeoutError:
            uplink.flush()
            uplink.send_counters(snapshot(metrics))
    for source in sources:
        if source.transport is not None:
            source.transport.close()
    await asyncio.sleep(0)
    uplink.flush()
    uplink.send_counters(snapshot(metrics))
    if critical is not None:
        critical.close()
    transport.close()
    return 0


def run_worker(config_path: Path, index: int, uplink_fd: int,
               critical_fd: int | None = None, protocol: int | None = PROTOCOL) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = load_config(config_path)
    setup_logging(config.logging.level, config.logging.format)
    if protocol != PROTOCOL:
        log.error("receive worker %d: the main process speaks uplink protocol %s, this "
                  "code %d: faultd was upgraded while it ran; restart it (systemctl "
                  "restart faultd)", index, protocol or 1, PROTOCOL)
        return 2
    import uvloop

    return uvloop.run(_serve(config, index, uplink_fd, critical_fd))

"""The daemon: wires the stages together and owns startup, reload and shutdown.

startup  - state directory, spill store, sink, dispatcher, accumulator, intake,
           sources (inherited systemd sockets or freshly bound), metrics
           listener, then READY=1.
reload   - SIGHUP: load and validate the file; a bad file is refused with logged
           errors and the running config stays.  Windows, tiers, endpoint, rate
           limits, aliases and parsers apply live; listeners rebind only if their
           address changed.
shutdown - SIGTERM/SIGINT: stop receiving, flush every window (trigger
           `shutdown`), deliver within dispatch.shutdown_timeout_seconds, spill
           the rest, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web
from prometheus_client import Counter

from faultd import __version__, native, systemd
from faultd.accumulator import Accumulator
from faultd.cancel import cancel_and_wait
from faultd.clock import LoopClock
from faultd.config import (
    Config,
    ConfigError,
    changed_sections,
    keep_restart_only,
    load_config,
    parse_hostport,
)
from faultd.config_secrets import secret_file_warnings
from faultd.dispatch.dispatcher import Dispatcher
from faultd.dispatch.sinks import FileSink, HttpSink, Sink
from faultd.gcpolicy import settle_heap
from faultd.intake import Intake
from faultd.mallocpolicy import tune_malloc
from faultd.observe.fastmetrics import FastChild
from faultd.observe.http import ObservabilityServer
from faultd.observe.logsetup import setup_logging
from faultd.observe.looplag import probe_loop_lag
from faultd.observe.metrics import Metrics
from faultd.observe.ring import RawRing, render
from faultd.observe.tasks import dump_tasks
from faultd.overflow import OverflowSpiller
from faultd.sources.syslog import SyslogIngest
from faultd.sources.udp import DatagramSource, bind_udp, open_datagram_source
from faultd.spill.journal import IntakeJournal
from faultd.spill.memory import MemoryMonitor
from faultd.spill.store import SpillStore

if TYPE_CHECKING:
    from faultd.bus.roles import BusRole
    from faultd.event import FaultEvent
    from faultd.sources.syslog_tcp import SyslogTcpServer
    from faultd.workers.supervisor import WorkerSupervisor

log = logging.getLogger("faultd")

MEMORY_CHECK_SECONDS = 0.1
GAUGE_REFRESH_SECONDS = 1.0


def catch_up(counter: Counter | FastChild, total: float) -> None:
    """Raise a counter to a cumulative total kept elsewhere (the spill store's)."""
    current = counter.value if isinstance(counter, FastChild) else counter._value.get()
    behind = total - current
    if behind > 0:
        counter.inc(behind)


def policy_path(config: Config, config_path: Path) -> Path:
    """The correlation policy file; relative paths are relative to the config file."""
    path = Path(config.correlation.policy)
    return path if path.is_absolute() else config_path.parent / path


async def build_sink(config: Config, config_path: Path) -> Sink:
    """The downstream: the HTTP endpoint, else the built-in correlator, else the batch log."""
    if config.dispatch.endpoint:
        return HttpSink(config.dispatch)
    state = Path(config.state_directory)
    policy = policy_path(config, config_path)
    if not policy.exists():
        log.warning("no correlation policy at %s: batches go to %s only", policy,
                    state / "sink" / "batches.jsonl")
        return FileSink(state / "sink" / "batches.jsonl")
    from faultd.dispatch.correlator_sink import CorrelatorSink

    sink = CorrelatorSink(config.correlation, policy, state)
    await sink.start()
    log.info("built-in downstream: correlator with policy %s; tickets in %s", policy,
             state / "tickets" / "tickets.jsonl")
    return sink


class Daemon:
    def __init__(self, config_path: Path, config: Config, *, install_signals: bool = True) -> None:
        self.config_path = config_path
        self._install_signal_handlers = install_signals
        self.config = config
        self.metrics = Metrics()
        self.notifier = systemd.Notifier()
        self.stop_event = asyncio.Event()
        self.ready = False
        self.generation = 1
        self._inherited = systemd.listen_fds()
        self._udp: dict[str, tuple[str, DatagramSource]] = {}  # name -> (listen, protocol)
        self._tcp: SyslogTcpServer | None = None  # imported when tcp_listen is set
        self._tcp_listen: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._memory_high = False
        self._reloading = False
        self.supervisor: WorkerSupervisor | None = None
        self._bus: BusRole | None = None  # bus.role collector|accumulator (faultd/bus)

    # -- startup -------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self.loop = asyncio.get_running_loop()
        self.clock = LoopClock(self.loop)
        state = Path(config.state_directory)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)  # noqa: ASYNC240 - once at startup
        for warning in secret_file_warnings(self.config_path):
            log.warning("%s", warning)
        self.metrics.build_info.info({"version": __version__})
        self.metrics.config_generation.set(self.generation)

        self.spill = SpillStore(
            config.spill_directory, fsync=config.spill.fsync,
            segment_max_bytes=config.spill.segment_max_bytes, max_bytes=config.spill.max_bytes)
        self.memory = MemoryMonitor(
            watermark=config.spill.memory_high_watermark,
            limit_bytes=config.spill.memory_limit_bytes)
        self.dispatcher = Dispatcher(
            config.dispatch, sink=await build_sink(config, self.config_path), spill=self.spill,
            metrics=self.metrics,
            now=self.clock.monotonic, wall=self.clock.wall,
            memory_pressure=lambda: self._memory_high)
        self.overflow = OverflowSpiller(
            self.spill.append, clock=self.clock, metrics=self.metrics,
            collector=config.collector_name)
        # The journal makes queued events crash-safe.  A bus accumulator does not
        # need it (JetStream redelivers what was not acked).
        self.journal: IntakeJournal | None = None
        if config.spill.journal and config.bus.role == "standalone":
            self.journal = IntakeJournal(
                config.spill_directory / "journal", clock=self.clock, fsync=config.spill.fsync,
                on_error=lambda exc: log.error("journal write failed (%s): events flow on, "
                                               "but a crash now would lose them", exc),
                background_sync=self._sync_in_thread)
            self.dispatcher.on_settled = self.journal.settle
        self.accumulator = Accumulator(
            config.accumulator, clock=self.clock, emit=self.dispatcher.submit,
            metrics=self.metrics, collector=config.collector_name,
            overflow=self.overflow.offer if config.accumulator.overflow == "spill" else None,
            journal=self.journal)
        self.intake = Intake(self.accumulator.offer, self.accumulator.has_capacity, self.metrics,
                             config.node_aliases)
        self.dispatcher.start()
        self._recover_journal()
        if config.bus.role != "standalone":
            from faultd.bus.roles import start_role

            self._bus = await start_role(self)

        self.ring = RawRing(config.metrics.ring_size) if config.metrics.ring_size else None
        self.syslog = SyslogIngest(config.syslog, self.intake, self.metrics, self.ring)
        self.snmp = self._build_snmp(config)
        await self._open_sources(config)

        self.observer = ObservabilityServer(
            self.metrics, is_ready=lambda: self.ready,
            debug_enabled=config.metrics.debug_endpoints)
        self.observer.add_debug_route("ring", self._debug_ring)
        if config.metrics.listen:
            await self.observer.start(config.metrics.listen)

        if self._install_signal_handlers:
            self._install_signals()
        for coro, name in (
            (probe_loop_lag(self.metrics, self.stop_event), "loop-lag"),
            (self._watch_memory(), "memory-watch"),
            (self._refresh_gauges(), "gauges"),
            (self.notifier.run(self.stop_event), "systemd-notify"),
        ):
            self._tasks.append(asyncio.create_task(coro, name=name))
        self.notifier.set_status_provider(self._status_line)
        frozen = settle_heap()  # startup objects out of every later full GC pass
        tuned = tune_malloc()  # batch bodies: keep freed heap (faultd.mallocpolicy)
        log.debug("gc: %d startup objects frozen; malloc thresholds %s", frozen,
                  "set" if tuned else "left as they are")
        self.ready = True
        self.notifier.ready(self._status_line())
        log.info("faultd %s ready: %s; native modules %s", __version__, ", ".join(
            f"{name} on {listen}" for name, (listen, _) in self._udp.items()) or "no listeners",
            native.state)

    def _sync_in_thread(self, fd: int) -> None:
        """fdatasync on a worker thread: a busy disk must not stall receiving."""

        def sync() -> None:
            with contextlib.suppress(OSError):  # the segment may be closed meanwhile
                os.fdatasync(fd)

        self.loop.run_in_executor(None, sync)

    def _recover_journal(self) -> None:
        """Offer again what a previous run had queued but not settled (it crashed)."""
        if self.journal is None:
            return
        events = self.journal.recover()
        for event in events:
            self.accumulator.offer(event)
        self.journal.forget_leftovers()
        if events:
            log.warning("journal: recovered %d events queued by a previous run that did not "
                        "shut down cleanly", len(events))

    def _build_snmp(self, config: Config) -> object | None:
        if not config.snmp.listen:
            return None
        from faultd.sources.snmp import SnmpIngest, build_receiver

        receiver = build_receiver(config.snmp, Path(config.state_directory))
        return SnmpIngest(config.snmp, receiver, self.intake, self.metrics, self.ring)

    def _socket_for(self, listen: str, kind: int) -> socket.socket | None:
        host, port = parse_hostport(listen)
        return systemd.match_socket(self._inherited, host, port, kind)

    async def _open_udp(self, name: str, listen: str, handler: object) -> None:
        sock = self._socket_for(listen, socket.SOCK_DGRAM) or bind_udp(listen)
        protocol = await open_datagram_source(name, sock, handler)  # type: ignore[arg-type]
        self._udp[name] = (listen, protocol)

    def _use_workers(self, config: Config) -> bool:
        if config.workers < 2:
            return False
        if self._inherited:
            log.warning("workers: %d ignored: socket activation hands over one socket per "
                        "listener; receiving in this process", config.workers)
            return False
        return True

    def _worker_events(self, events: list[FaultEvent], payload: bytes) -> None:
        """A receive worker's frame: the journal keeps its bytes rather than encode the
        queued events again.  The worker applied the node aliases already."""
        submit = self.intake.submit_aliased
        journal = self.journal
        if journal is None:
            for event in events:
                submit(event)
            return
        journal.begin_encoded(payload, len(events))
        try:
            for event in events:
                submit(event)
        finally:
            journal.end_encoded()

    async def _open_sources(self, config: Config) -> None:
        if self._use_workers(config):
            from faultd.workers.supervisor import WorkerSupervisor

            self.supervisor = WorkerSupervisor(self.config_path, config.workers,
                                               self._worker_events, self.metrics)
            await self.supervisor.start()
            if config.syslog.tcp_listen:
                await self._open_tcp(config)
            return
        if config.syslog.listen:
            await self._open_udp("syslog", config.syslog.listen, self.syslog.on_message)
        if config.syslog.tcp_listen:
            await self._open_tcp(config)
        if self.snmp is not None and config.snmp.listen:
            from faultd.sources.snmp import SnmpIngest

            assert isinstance(self.snmp, SnmpIngest)
            await self._open_udp("snmp", config.snmp.listen, self.snmp.on_datagram)
            self.snmp.protocol = self._udp["snmp"][1]

    async def _open_tcp(self, config: Config) -> None:
        from faultd.sources.syslog_tcp import SyslogTcpServer, make_server_ssl_context

        assert config.syslog.tcp_listen is not None
        tls = config.syslog.tcp_tls
        context = make_server_ssl_context(tls.cert_file, tls.key_file, tls.ca_file) if tls else None
        server = SyslogTcpServer(
            lambda data, addr: self.syslog.on_message(data, addr, "syslog-tcp"),
            self.intake.has_capacity,
            max_message_size=config.syslog.max_message_size,
            idle_timeout=config.syslog.tcp_idle_timeout_seconds,
            max_connections=config.syslog.tcp_max_connections,
            ssl_context=context)
        host, port = parse_hostport(config.syslog.tcp_listen)
        inherited = self._socket_for(config.syslog.tcp_listen, socket.SOCK_STREAM)
        await server.start(host, port, sock=inherited)
        self._tcp, self._tcp_listen = server, config.syslog.tcp_listen

    def bound_address(self, name: str) -> tuple[str, int]:
        """The address a UDP source is bound to (tests listen on port 0)."""
        protocol = self._udp[name][1]
        assert protocol.transport is not None
        address: tuple[str, int] = protocol.transport.get_extra_info("sockname")[:2]
        return address

    # -- periodic work -------------------------------------------------------------------

    async def _watch_memory(self) -> None:
        while not self.stop_event.is_set():
            try:
                fraction = self.memory.fraction()
            except OSError:
                fraction = 0.0
            self.metrics.memory_fraction.set(fraction)
            high = fraction >= self.config.spill.memory_high_watermark
            if high and not self._memory_high:
                log.warning("memory at %.0f%% of limit: spilling batches to disk", fraction * 100)
                # Move what windows hold out of memory now; dispatcher spills it.
                self._memory_high = True
                self.accumulator.flush_all("size")
            elif not high and self._memory_high:
                log.info("memory back under the watermark (%.0f%%)", fraction * 100)
                self._memory_high = False
            await asyncio.sleep(MEMORY_CHECK_SECONDS)

    async def _refresh_gauges(self) -> None:
        """Once a second: spill gauges, and the fsync that `fsync: interval` owes an idle store."""
        while not self.stop_event.is_set():
            if self.config.spill.fsync == "interval":
                await asyncio.to_thread(self.spill.flush)  # never an fsync on the loop
            stats = self.spill.stats()
            self.metrics.spill_bytes.set(stats.bytes)
            for lane, count in stats.segments.items():
                self.metrics.spill_segments.labels(lane).set(count)
            self.metrics.spill_oldest_age.set(stats.oldest_age or 0.0)
            catch_up(self.metrics.spill_corrupt, stats.corrupt_records)
            catch_up(self.metrics.dropped["spill_evicted"], stats.evicted_events)  # size cap
            await asyncio.sleep(GAUGE_REFRESH_SECONDS)

    def _status_line(self) -> str:
        pending = self.accumulator.pending_total()
        spilled = self.spill.stats().records_pending
        return (f"queued {pending} events, {self.dispatcher.pending_batches()} batches in "
                f"flight, {spilled} spilled batches, loop lag {self.metrics.last_loop_lag:.3f}s")

    # -- signals, reload -------------------------------------------------------------------

    def _install_signals(self) -> None:
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        loop.add_signal_handler(signal.SIGUSR1, self._on_sigusr1)
        loop.add_signal_handler(signal.SIGUSR2, self._on_sigusr2)

    def request_stop(self) -> None:
        if not self.stop_event.is_set():
            log.info("stop requested")
            self.stop_event.set()

    def _on_sighup(self) -> None:
        if self._reloading:
            log.warning("reload already in progress; SIGHUP ignored")
            return
        self._reloading = True
        task = asyncio.create_task(self.reload(), name="reload")
        task.add_done_callback(lambda _: setattr(self, "_reloading", False))

    def _on_sigusr1(self) -> None:
        log.warning("task dump requested (SIGUSR1):\n%s", dump_tasks(self.loop))

    def _on_sigusr2(self) -> None:
        if self.ring is None:
            log.warning("SIGUSR2: the raw ring is disabled (metrics.ring_size: 0)")
            return
        path = Path(self.config.state_directory) / f"ring-{time.strftime('%Y%m%dT%H%M%S')}.jsonl"
        count = self.ring.dump(path)
        log.warning("SIGUSR2: wrote the last %d raw datagrams to %s", count, path)

    async def _debug_ring(self, request: web.Request) -> web.StreamResponse:
        items = self.ring.snapshot() if self.ring is not None else []
        return web.Response(text=render(items), content_type="application/x-ndjson")

    async def reload(self) -> bool:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            for error in exc.errors:
                log.error("reload refused, keeping the running config: %s", error)
            self.metrics.config_reload_success.set(0)
            return False
        new, restart_only = keep_restart_only(self.config, new)
        if restart_only:
            log.warning("reload: %s changed; applied at the next restart (the running "
                        "values stay until then)", ", ".join(restart_only))
        self.notifier.reloading()
        try:
            complete = await self._apply(new)
        except Exception:
            log.exception("reload failed part-way; the running config stays for what was not "
                          "applied")
            self.metrics.config_reload_success.set(0)
            self.notifier.ready(self._status_line())
            return False
        self.generation += 1
        settle_heap()  # what the old config held is collected, the new one frozen
        self.metrics.config_generation.set(self.generation)
        self.metrics.config_reload_success.set(1 if complete else 0)
        self.notifier.ready(self._status_line())
        log.info("config reloaded (generation %d)%s", self.generation,
                 "" if complete else "; the correlation policy was refused")
        return complete

    async def _apply(self, new: Config) -> bool:
        """Apply a validated config; False if a part was refused (the correlation policy)."""
        old = self.config
        changed = changed_sections(old, new)
        if "logging" in changed:
            setup_logging(new.logging.level, new.logging.format)
        self.accumulator.reconfigure(new.accumulator)
        self.intake.aliases = {k.lower(): v.lower() for k, v in new.node_aliases.items()}
        if {"dispatch", "state_directory", "correlation"} & changed:
            sink_changed = (
                # a new policy file alone is reloaded in place (below), not a new sink
                msgspec.structs.replace(old.correlation, policy="")
                != msgspec.structs.replace(new.correlation, policy="")
                or old.dispatch.endpoint != new.dispatch.endpoint
                or old.dispatch.headers != new.dispatch.headers
                or old.dispatch.tls != new.dispatch.tls
                or old.dispatch.gzip != new.dispatch.gzip
                or old.dispatch.timeout_seconds != new.dispatch.timeout_seconds
                or old.state_directory != new.state_directory)
            previous = self.dispatcher.reconfigure(
                new.dispatch, await build_sink(new, self.config_path) if sink_changed else None)
            if previous is not None:
                self._tasks.append(asyncio.create_task(previous.close(), name="close-old-sink"))
        policy_ok = await self._reload_policy(new)
        if self.supervisor is not None:
            if {"syslog", "snmp", "node_aliases", "workers", "state_directory"} & changed:
                await self.supervisor.restart(new.workers)  # workers read the new file
            changed -= {"snmp"}
        if "syslog" in changed:
            self.syslog = SyslogIngest(new.syslog, self.intake, self.metrics, self.ring)
            await self._rebind("syslog", old.syslog.listen, new.syslog.listen,
                               self.syslog.on_message)
            tcp_changed = (old.syslog.tcp_listen, old.syslog.tcp_tls) != (
                new.syslog.tcp_listen, new.syslog.tcp_tls)
            if tcp_changed:
                if self._tcp is not None:
                    await self._tcp.close()
                    self._tcp = None
                self.config = new
                if new.syslog.tcp_listen:
                    await self._open_tcp(new)
        if "snmp" in changed or "state_directory" in changed:
            snmp = self._build_snmp(new)
            self.snmp = snmp
            handler = getattr(snmp, "on_datagram", None)
            await self._rebind("snmp", old.snmp.listen, new.snmp.listen, handler)
            if snmp is not None and "snmp" in self._udp:
                snmp.protocol = self._udp["snmp"][1]  # type: ignore[attr-defined]
        if "metrics" in changed:
            self.observer.debug_enabled = new.metrics.debug_endpoints
            if old.metrics.listen != new.metrics.listen:
                await self.observer.stop()
                if new.metrics.listen:
                    await self.observer.start(new.metrics.listen)
        self.config = new
        return policy_ok

    async def _reload_policy(self, new: Config) -> bool:
        """SIGHUP also re-reads the correlation policy (its file may have changed alone)."""
        from faultd.dispatch.correlator_sink import CorrelatorSink

        sink = self.dispatcher.sink
        if not isinstance(sink, CorrelatorSink):
            return True
        path = policy_path(new, self.config_path)
        errors = await sink.reload_policy(path)
        for error in errors:
            log.error("correlation policy %s refused, the running policy stays: %s", path, error)
        return not errors

    async def _rebind(self, name: str, old_listen: str | None, new_listen: str | None,
                      handler: object) -> None:
        if self.supervisor is not None:
            return  # the workers own the UDP listeners
        current = self._udp.get(name)
        if current is not None and old_listen == new_listen and handler is not None:
            current[1].handler = handler  # type: ignore[assignment]
            return
        if current is not None:
            assert current[1].transport is not None
            current[1].transport.close()
            del self._udp[name]
        if new_listen and handler is not None:
            await self._open_udp(name, new_listen, handler)

    # -- shutdown ----------------------------------------------------------------------------

    async def shutdown(self) -> None:
        self.ready = False
        self.notifier.stopping("flushing and delivering")
        if self._bus is not None:  # collector: publish what is queued; accumulator: stop consuming
            await self._bus.close()
        if self.supervisor is not None:
            await self.supervisor.stop()  # workers flush what they read, then exit
        for _, protocol in self._udp.values():
            if protocol.transport is not None:
                protocol.transport.close()
        if self._tcp is not None:
            await self._tcp.close()
        await asyncio.sleep(0)  # let transports finish closing
        emitted = self.accumulator.close()
        self.overflow.flush()
        log.info("stopped receiving; flushed %d batches, delivering (up to %.1fs)", emitted,
                 self.config.dispatch.shutdown_timeout_seconds)
        await self.dispatcher.stop(self.config.dispatch.shutdown_timeout_seconds)
        self.overflow.flush()
        if self._bus is not None:  # acks for settled batches, outbox to disk, disconnect
            await self._bus.finish()
        stats = self.spill.stats()
        if stats.records_pending:
            log.warning("%d batches (%d events) left in spill for the next start",
                        stats.records_pending, stats.events_pending)
        if self.journal is not None:
            self.journal.close()
        self.spill.close()
        await cancel_and_wait(self._tasks)
        await self.observer.stop()
        log.info("faultd stopped")

    async def run(self) -> int:
        await self.start()
        await self.stop_event.wait()
        await self.shutdown()
        return 0


def run_daemon(config_path: Path) -> int:
    """Entry point of `faultd run`: load the config, run under uvloop, return the exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        setup_logging()
        for error in exc.errors:
            log.error("config: %s", error)
        return 1
    setup_logging(config.logging.level, config.logging.format)
    import uvloop

    async def main() -> int:
        daemon = Daemon(config_path, config)
        try:
            return await daemon.run()
        except OSError as exc:
            log.error("cannot start: %s", exc)
            with contextlib.suppress(Exception):
                await daemon.shutdown()
            return 1

    log.info("starting faultd %s (pid %d, config %s)", __version__, os.getpid(), config_path)
    return uvloop.run(main())

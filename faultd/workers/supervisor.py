"""Main-process side of multi-core receive: start, watch, restart and stop workers.

Each worker gets one end of two Unix socket pairs, the standard and the critical
uplink (faultd.workers.uplink); its events are handed to the daemon's intake as
frames arrive.  A worker that dies is restarted (its counters
start again from zero).  `restart()` starts a complete new set before stopping
the old one: SO_REUSEPORT lets both sets listen at once, so a reload loses no
datagram.  `stop()` asks each worker to flush and exit (SIGTERM) and waits for
its uplink to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from faultd.cancel import cancel_and_wait
from faultd.observe.metrics import Metrics
from faultd.workers.counters import CounterMerger
from faultd.workers.uplink import PROTOCOL, OnEvents, UplinkReader

log = logging.getLogger("faultd.workers")

READY_TIMEOUT = 60.0
RESTART_DELAY = 1.0


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    reader: UplinkReader
    transports: tuple[asyncio.BaseTransport, asyncio.BaseTransport]  # standard, critical
    ready: asyncio.Future[None]
    retired: bool = False


class WorkerSupervisor:
    def __init__(self, config_path: Path, count: int,
                 on_events: OnEvents, metrics: Metrics) -> None:
        self.config_path = config_path
        self.count = count
        self._on_events = on_events
        self._merger = CounterMerger(metrics)
        self._workers: list[_Worker] = []
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._generation = 0

    async def start(self) -> None:
        self._workers = await self._spawn_set()

    async def _spawn_set(self) -> list[_Worker]:
        self._generation += 1
        workers = [await self._spawn(self._generation * 1000 + i) for i in range(self.count)]
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await asyncio.gather(*(w.ready for w in workers))
        except TimeoutError:
            for worker in workers:
                worker.process.kill()
            raise OSError("receive workers did not bind their listeners in time") from None
        log.info("%d receive workers listening (pids %s)", len(workers),
                 ", ".join(str(w.process.pid) for w in workers))
        return workers

    async def _spawn(self, index: int) -> _Worker:
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        critical_parent, critical_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only, returns at once
            [sys.executable, "-m", "faultd", "worker", "--config", str(self.config_path),
             "--index", str(index), "--uplink-fd", str(child.fileno()),
             "--critical-fd", str(critical_child.fileno()),
             "--uplink-protocol", str(PROTOCOL)],
            pass_fds=[child.fileno(), critical_child.fileno()])
        child.close()
        critical_child.close()
        ready: asyncio.Future[None] = loop.create_future()

        def on_counters(values: list[tuple[str, str, float]]) -> None:
            if not ready.done():
                ready.set_result(None)
            self._merger.apply(index, values)

        transport, reader = await loop.connect_accepted_socket(
            lambda: UplinkReader(self._on_events, on_counters), sock=parent)
        critical, _ = await loop.connect_accepted_socket(
            lambda: UplinkReader(self._on_events, on_counters), sock=critical_parent)
        worker = _Worker(index, process, reader, (transport, critical), ready)
        task = asyncio.create_task(self._watch(worker), name=f"worker-{index}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return worker

    async def _watch(self, worker: _Worker) -> None:
        await worker.reader.closed
        code = await asyncio.to_thread(worker.process.wait)
        if self._stopping or worker.retired:
            return
        log.error("receive worker %d (pid %d) exited with %s; restarting it", worker.index,
                  worker.process.pid, code)
        self._merger.forget(worker.index)
        await asyncio.sleep(RESTART_DELAY)
        if self._stopping or worker not in self._workers:
            return
        try:
            replacement = await self._spawn(worker.index)
            async with asyncio.timeout(READY_TIMEOUT):
                await replacement.ready
        except (OSError, TimeoutError):
            log.exception("could not restart receive worker %d", worker.index)
            return
        self._workers[self._workers.index(worker)] = replacement

    async def restart(self, count: int) -> None:
        """New set first, then retire the old one: no gap in listening."""
        self.count = count
        old = self._workers
        self._workers = await self._spawn_set()
        await self._retire(old, grace_seconds=10.0)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        self._stopping = True
        await self._retire(self._workers, grace_seconds)
        await cancel_and_wait(list(self._watchers))

    async def _retire(self, workers: list[_Worker], grace_seconds: float) -> None:
        for worker in workers:
            worker.retired = True
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace_seconds):
                await asyncio.gather(*(w.reader.closed for w in workers))
        except TimeoutError:
            log.error("receive workers did not stop in %.0fs; killing them", grace_seconds)
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
            await asyncio.to_thread(worker.process.wait)
            for transport in worker.transports:
                transport.close()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

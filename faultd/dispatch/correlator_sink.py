"""The built-in downstream: batches evaluated by the in-process correlator.

Used when `dispatch.endpoint` is null.  Each batch is (optionally) appended to
the batch log `<state_directory>/sink/batches.jsonl`, then evaluated by the
correlation engine in its worker (faultd/correlate, single writer, SQLite state,
idempotent on batch_id).  Every resulting ticket change goes to the ticket log
`<state_directory>/tickets/tickets.jsonl` and, where its route has a webhook, to
the `TicketNotifier`.  A failed evaluation is a retryable outcome, so the
dispatcher's retry/breaker/spill machinery protects batches exactly as it does
for an HTTP endpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

from faultd.config import CorrelationConfig
from faultd.correlate import AsyncCorrelator, PolicyError, TicketLog
from faultd.dispatch.sinks import FileSink, Outcome
from faultd.dispatch.ticket_notifier import TicketNotifier
from faultd.event import Batch

log = logging.getLogger("faultd.correlate")


class CorrelatorSink:
    name = "correlator"

    def __init__(self, config: CorrelationConfig, policy_path: Path,
                 state_directory: Path) -> None:
        self.correlator = AsyncCorrelator(policy_path, state_directory, mode=config.mode)
        self.ticket_log = TicketLog.under(state_directory)
        self.notifier = TicketNotifier(config, state_directory / "tickets" / "outbox.jsonl")
        self.batch_log = (FileSink(state_directory / "sink" / "batches.jsonl")
                          if config.batch_log else None)
        self._started = False

    async def start(self) -> None:
        await self.correlator.start()
        await self.notifier.start()
        self._started = True

    async def deliver(self, batch: Batch, body: bytes) -> Outcome:
        if self.batch_log is not None:
            await self.batch_log.deliver(batch, body)
        try:
            result = await self.correlator.evaluate(batch, body)
        except Exception as exc:  # the worker died or the store failed: retry the batch
            log.exception("correlator failed on batch %s; restarting its worker", batch.batch_id)
            await self._restart()
            return Outcome("retry", None, None, f"correlator: {exc}")
        if result.changes:
            self.ticket_log.append(result.changes)
            self.notifier.submit(result.changes)
        return Outcome("ok")

    async def reload_policy(self, policy_path: Path) -> list[str]:
        """Swap in a new policy between batches; returns its errors (then nothing changed)."""
        try:
            await self.correlator.reload(policy_path)
        except PolicyError as exc:
            return list(exc.errors)
        except OSError as exc:
            return [f"{policy_path}: cannot read ({exc.strerror})"]
        log.info("correlation policy %s loaded", policy_path)
        return []

    async def _restart(self) -> None:
        """Replace a broken worker (state is in SQLite; batches are idempotent by id)."""
        try:
            await self.correlator.close()
        except Exception:  # a broken pool cannot close cleanly; it is gone either way
            log.debug("closing the broken correlator worker failed", exc_info=True)
        try:
            await self.correlator.start()
        except Exception:
            log.exception("correlator worker did not restart; will retry with the next batch")

    async def close(self) -> None:
        await self.notifier.close()
        if self._started:
            try:
                await self.correlator.close()
            except Exception:
                log.exception("correlator worker did not close cleanly")
        self.ticket_log.close()
        if self.batch_log is not None:
            await self.batch_log.close()

"""Which bus messages a settled batch acknowledges.

The accumulator knows nothing of the bus; `AckTracker.offer(event, msg)` wraps
`Accumulator.offer` and remembers, per event_id the accumulator keeps, every
message it stands for:

- a redelivered message whose event_id is still held joins that event's list
  (never offered again, so never twice in a batch);
- a message whose event the accumulator folds into an earlier one (same
  dedup_key in the same window) joins the *first* event's list -- detected by
  the first event's `duplicates` rising during the offer;
- an event the accumulator refused at a full queue under `overflow: spill`
  went to the OverflowSpiller: its message is acked when that batch settles;
- a message whose event_id settled recently (LRU of `RECENT` ids) is acked at
  once: the stream redelivered something already delivered downstream.

`settled(batch, outcome)` is the Dispatcher/OverflowSpiller `on_settled` hook:
every message of every event in the batch is handed to the acker.  Acks are
sent by one task (`Msg.ack` is a coroutine; the hook is synchronous).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Callable

from nats.aio.msg import Msg

from faultd.bus.busmetrics import AccumulatorMetrics
from faultd.cancel import cancel_and_wait
from faultd.event import Batch, FaultEvent

RECENT = 100_000


class AckTracker:
    def __init__(self, offer: Callable[[FaultEvent], bool], metrics: AccumulatorMetrics, *,
                 refused_is_spilled: bool = False) -> None:
        self._offer = offer
        # `accumulator.overflow: spill` returns False for an event it handed to the
        # OverflowSpiller; that batch settles through `settled()` like any other.
        self._refused_is_spilled = refused_is_spilled
        self._metrics = metrics
        self._pending: dict[str, list[Msg]] = {}
        self._first: dict[str, FaultEvent] = {}  # dedup_key -> event holding its window slot
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._acks: deque[Msg] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._ack_loop(), name="bus-acker")

    # -- intake --------------------------------------------------------------------

    def offer(self, event: FaultEvent, msg: Msg) -> bool:
        """Offer one consumed event; False = the accumulator refused it (msg not tracked)."""
        held = self._pending.get(event.event_id)
        if held is not None:
            held.append(msg)
            return True
        if event.event_id in self._recent:
            self._ack([msg])
            return True
        key = event.dedup_key
        first = self._first.get(key) if key else None
        before = first.duplicates if first is not None else 0
        if not self._offer(event):
            if self._refused_is_spilled:
                self._pending[event.event_id] = [msg]
                return True
            return False
        if first is not None and first.duplicates != before:
            self._pending[first.event_id].append(msg)
            return True
        self._pending[event.event_id] = [msg]
        if key:
            self._first[key] = event
        return True

    def held_messages(self) -> int:
        return sum(len(msgs) for msgs in self._pending.values())

    # -- settling ------------------------------------------------------------------

    def settled(self, batch: Batch, outcome: str) -> None:
        msgs: list[Msg] = []
        recent = self._recent
        for event in batch.events:
            held = self._pending.pop(event.event_id, None)
            if held is None:
                continue  # not from the bus (e.g. replayed local spill)
            msgs.extend(held)
            key = event.dedup_key
            if key and self._first.get(key) is event:
                del self._first[key]
            recent[event.event_id] = None
        while len(recent) > RECENT:
            recent.popitem(last=False)
        if msgs:
            self._ack(msgs)

    def _ack(self, msgs: list[Msg]) -> None:
        self._acks.extend(msgs)
        self._idle.clear()
        self._wakeup.set()

    async def _ack_loop(self) -> None:
        while True:
            if not self._acks:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            count = 0
            while self._acks:
                msg = self._acks.popleft()
                with contextlib.suppress(Exception):  # already acked / connection gone
                    await msg.ack()
                    count += 1
            self._metrics.acked.inc(count)

    async def drain(self, deadline_seconds: float) -> None:
        """Send every queued ack (up to `deadline_seconds`), then stop the ack task."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_seconds):
                await self._idle.wait()
        if self._task is not None:
            await cancel_and_wait([self._task])

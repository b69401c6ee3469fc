"""Intake: the one door from sources into the accumulator.

Applies the node alias map, counts the accepted event, and offers it to the
accumulator.  Sources call `submit()` for every normalised event; it is cheap
and never blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from faultd.accumulator import Accumulator
from faultd.event import FaultEvent
from faultd.observe.metrics import Metrics


class Intake:
    __slots__ = ("_accepted", "accumulator", "aliases", "forward")

    def __init__(self, accumulator: Accumulator, metrics: Metrics, aliases: dict[str, str]) -> None:
        self.accumulator = accumulator
        # Where events go instead of the local accumulator (the bus publisher when
        # role is `collector`); returns False when the event was dropped.
        self.forward: Callable[[FaultEvent], bool] | None = None
        self.aliases = {k.lower(): v.lower() for k, v in aliases.items()}
        self._accepted = metrics.accepted

    def submit(self, event: FaultEvent) -> bool:
        if self.aliases:
            alias = self.aliases.get(event.node_id)
            if alias is not None:
                event.node_id = alias
        self._accepted[event.source].inc()
        if self.forward is not None:
            return self.forward(event)
        return self.accumulator.offer(event)

    def has_capacity(self) -> bool:
        return self.accumulator.has_capacity()

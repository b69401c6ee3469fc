"""Intake: the one door from sources into the accumulator.

Applies the node alias map, counts the accepted event, and offers it on: to the
local accumulator, to the main process (a receive worker's uplink), or to the
bus publisher (`forward`, role collector).  Sources call `submit()` for every
normalised event; it is cheap and never blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from faultd.event import FaultEvent
from faultd.observe.metrics import Metrics

Offer = Callable[[FaultEvent], bool]


class Intake:
    __slots__ = ("_accepted", "_capacity", "_offer", "aliases", "forward")

    def __init__(self, offer: Offer, has_capacity: Callable[[], bool], metrics: Metrics,
                 aliases: dict[str, str]) -> None:
        self._offer = offer
        self._capacity = has_capacity
        self.aliases = {k.lower(): v.lower() for k, v in aliases.items()}
        self._accepted = metrics.accepted
        # Where events go instead of `offer` (the bus publisher when role is
        # `collector`); returns False when the event was dropped.
        self.forward: Offer | None = None

    def submit(self, event: FaultEvent) -> bool:
        if self.aliases:
            alias = self.aliases.get(event.node_id)
            if alias is not None:
                event.node_id = alias
        return self.submit_aliased(event)

    def submit_aliased(self, event: FaultEvent) -> bool:
        """`submit` for an event whose alias is applied already (a receive worker's
        Intake did it): one alias step, as in a single process, never two."""
        self._accepted[event.source].inc()
        if self.forward is not None:
            return self.forward(event)
        return self._offer(event)

    def has_capacity(self) -> bool:
        return self._capacity()

"""Adaptive window policy: how long a tier's next accumulation window lasts.

The rule (documented in README "Accumulator"): after each flush, look at how full
the window got, counting *distinct* events (duplicates folded away do not count,
so a flapping storm of one alarm does not shorten anything):

- storm: the flush was size-triggered, or distinct events reached
  `storm_fraction` x max_batch_size -> window x `shrink_factor`, floored at
  `min_window_seconds`.  Batches are filling by size anyway; a shorter window
  bounds how long the tail of the storm waits.
- calm: distinct events at or below `calm_fraction` x max_batch_size -> window x
  `relax_factor`, capped at the configured window (maximum folding in steady state).
- in between: unchanged.
"""

from __future__ import annotations

from faultd.config import AdaptiveConfig


class AdaptiveWindow:
    __slots__ = ("configured", "current", "policy")

    def __init__(self, configured: float, policy: AdaptiveConfig) -> None:
        self.configured = configured
        self.current = configured
        self.policy = policy

    def after_flush(self, distinct_events: int, max_batch_size: int, trigger: str) -> float:
        policy = self.policy
        if not policy.enabled:
            self.current = self.configured
            return self.current
        fill = distinct_events / max_batch_size
        if trigger == "size" or fill >= policy.storm_fraction:
            floor = min(policy.min_window_seconds, self.configured)
            self.current = max(floor, self.current * policy.shrink_factor)
        elif fill <= policy.calm_fraction:
            self.current = min(self.configured, self.current * policy.relax_factor)
        return self.current

    def reconfigure(self, configured: float, policy: AdaptiveConfig) -> None:
        self.configured = configured
        self.policy = policy
        floor = min(policy.min_window_seconds, configured) if policy.enabled else configured
        self.current = min(configured, max(floor, self.current)) if policy.enabled else configured

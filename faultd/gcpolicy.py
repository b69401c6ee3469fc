"""Garbage-collector policy for long-running faultd processes.

Startup leaves ~90,000 GC-tracked objects that live until exit: pysnmp's MIB
tables, compiled patterns, the config.  CPython's full (generation 2) collection
walks every tracked object, and with these in the heap one pass took ~60 ms on
the 2-core benchmark machine: a pause that showed up in the critical lane's p99
during a storm (tests/reliability/test_fairness.py).

`settle_heap()` collects once and then freezes what survived (`gc.freeze()`):
frozen objects move to a permanent generation that later passes skip, so a
full pass only walks what the running daemon allocated.  A config reload
replaces part of that heap, so the daemon calls it again after each reload
(unfreeze, collect, freeze): objects the old config held are collected, the
new ones frozen.  Costs one full collection per start or reload.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect, then freeze the survivors; returns how many objects are frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

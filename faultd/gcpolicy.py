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

It also raises the young-generation threshold from CPython's 700 to
YOUNG_THRESHOLD.  Every GC-capable allocation counts towards it, tracked or
not (msgspec structs with gc=False, dicts of scalars), and a message makes
several that live a while: its event and attributes until the batch goes,
its raw-ring entry for 10,000 datagrams.  At 700 the daemon ran a young
collection every few hundred messages, each walking the ring entries made
since the last (~4 % of the CPU at 50k msg/s, perf); at 50,000 it is about
one a second under that load, most ring entries are gone before a pass sees
them, and a pass over what is left takes a millisecond or two.  Cycles are
still collected, just in larger, rarer passes; faultd makes few.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 50_000


def settle_heap() -> int:
    """Collect, then freeze the survivors; returns how many objects are frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    return gc.get_freeze_count()

"""Identifiers every event carries: the UUIDv7 event/batch id and the dedup key.

Both run once or more per message, so they live here, in a module faultd.native
compiles (faultd.event, with its msgspec types, cannot be); faultd.event
re-exports them.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from typing import Final


def dedup_key(node_id: str, fault_code: str, identity: str) -> str:
    """Stable identity hash of an event: node, fault code and the identifying text.

    `identity` is whatever the source says makes two events the same alarm (for
    syslog the message text without stamps; for traps the non-volatile varbind
    values).  The hash is exact: different text, different key.  It is the 10-byte
    BLAKE2b of the three fields' UTF-8 (surrogatepass) joined by NUL; hashing the
    joined string in one call gives the same digest as feeding the parts one by
    one (tests/test_event.py checks it against that form).
    """
    h = _BLAKE2B_10.copy()  # a copy of a fresh state skips the keyword parsing and init
    h.update(f"{node_id}\x00{fault_code}\x00{identity}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


_BLAKE2B_10: Final = hashlib.blake2b(digest_size=10)  # never updated itself
_ID_COUNTER = itertools.count()
_ID_BASE = int.from_bytes(os.urandom(8), "big")
_RAND_A: Final = tuple(f"{i:03x}-" for i in range(4096))  # rand_a text + "-" by counter
_id_head: tuple[int, str] = (-1, "")  # (ms, "tttttttt-tttt-7") for the current millisecond
_time_ns = time.time_ns


def new_id() -> str:
    """A fresh UUIDv7 string (RFC 9562) for event_id and batch_id.

    Python 3.11 has no uuid.uuid7.  Layout: 48-bit Unix ms, version 7, 12 bits of
    a process counter (rand_a), variant 10, 62 bits of (random per-process base +
    counter).  Unique within a process by construction (the counter is atomic
    under the GIL) and across processes with overwhelming probability; ordered
    by millisecond, which is what "time-ordered" needs.  It runs per event, so the
    timestamp part is formatted once per millisecond, rand_a comes from a table
    and the 64-bit tail is hexed in one C call: ~0.7 us.  A thread racing on the
    cached head still gets a valid id of its own millisecond or the neighbouring
    one.
    """
    global _id_head
    n = next(_ID_COUNTER)
    ms = _time_ns() // 1_000_000
    head = _id_head
    if head[0] != ms:
        h = "%012x" % (ms & 0xFFFF_FFFF_FFFF)
        head = _id_head = (ms, f"{h[:8]}-{h[8:]}-7")
    # variant + rand_b as 16 hex digits in one C call: "vvvv" + "-" + the other 12.
    tail = (((_ID_BASE + n) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000).to_bytes(8).hex()
    return f"{head[1]}{_RAND_A[n & 0xFFF]}{tail[:4]}-{tail[4:]}"

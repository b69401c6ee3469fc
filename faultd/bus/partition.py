"""Node -> partition mapping and the subject/durable names derived from it.

partition = stable_hash(node_id) % partitions, with a keyed-nothing blake2b so
every collector, on every host and Python version, maps a node to the same
partition (Python's hash() is salted per process).  All events of one node
therefore reach the one accumulator owning that partition, which is what keeps
windows and dedup exact.  Changing `bus.partitions` remaps nodes: do it with
the stream drained (docs/SCALING.md).
"""

from __future__ import annotations

import hashlib


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def partition_of(node_id: str, partitions: int) -> int:
    return stable_hash(node_id) % partitions


def subject_for(prefix: str, partition: int) -> str:
    return f"{prefix}.{partition}"


def durable_for(stream: str, partition: int) -> str:
    """Durable consumer name of one partition (no dots allowed in consumer names)."""
    return f"{stream}_p{partition}"


def rendezvous_owner(partition: int, members: list[str]) -> str | None:
    """The member that should own `partition`: highest-random-weight (HRW) hashing.

    Every member computes the same answer from the same member list, and when a
    member joins or leaves only the partitions it gains or owned move.
    """
    if not members:
        return None
    return max(members, key=lambda m: (stable_hash(f"{m}\x00{partition}"), m))

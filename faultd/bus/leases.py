"""Partition ownership for the accumulator group: leases in a JetStream KV bucket.

The bucket (`<stream>_LEASES`, history 1, TTL = `lease_ttl_seconds`) holds

    members.<member>    heartbeat of each live member (re-put every tick)
    leases.<partition>  the member holding the partition, or "-" once released

Every tick (TTL/3) each member: re-puts its heartbeat; reads the bucket;
computes the wanted owner of every partition by rendezvous hashing over the
live members (`partition.rendezvous_owner`); gives up the leases it holds but
no longer should (stop consuming, then write "-"); renews the ones it keeps
with a compare-and-set on the revision (a failed CAS means the lease was lost:
consuming stops); and claims the partitions it should own that are free:

- released ("-"): CAS update, consume from where the consumer stands (the
  previous owner still acks what it holds as its batches settle);
- absent (expired: its holder died or was cut off, or never owned): create,
  and *rewind* the consumer so messages the dead holder had taken and not
  acked are redelivered now rather than after `ack_wait_seconds`.

A partition held by another live member is left alone until that member
releases it or its lease expires, so two members never consume one partition
while both can reach the bus.  A member that cannot renew for 80% of the TTL
stops consuming on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from faultd.bus.busmetrics import AccumulatorMetrics
from faultd.bus.partition import rendezvous_owner
from faultd.cancel import cancel_and_wait

log = logging.getLogger("faultd.bus.leases")

RELEASED = b"-"
MEMBER_PREFIX = "members."
LEASE_PREFIX = "leases."

AcquireFn = Callable[[int, bool], Awaitable[None]]  # (partition, rewind)
ReleaseFn = Callable[[int], Awaitable[None]]


def member_key(name: str) -> str:
    return MEMBER_PREFIX + re.sub(r"[^-_=a-zA-Z0-9]", "_", name)


async def snapshot(kv: KeyValue, wait: float) -> dict[str, KeyValue.Entry]:
    """Every live key of the bucket with its latest entry (deleted/expired left out)."""
    watcher = await kv.watchall(ignore_deletes=True)
    entries: dict[str, KeyValue.Entry] = {}
    try:
        while True:
            entry = await watcher.updates(wait)  # type: ignore[no-untyped-call]
            if entry is None:
                break
            entries[entry.key] = entry
            if not entry.delta:
                break
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return entries


class LeaseManager:
    def __init__(self, kv: KeyValue, member: str, partitions: int, ttl: float, *,
                 acquire: AcquireFn, release: ReleaseFn, metrics: AccumulatorMetrics) -> None:
        self._kv = kv
        self.member = member
        self._me = member.encode()
        self._member_key = member_key(member)
        self._partitions = partitions
        self._ttl = ttl
        self._acquire = acquire
        self._release = release
        self._metrics = metrics
        self.owned: dict[int, int] = {}  # partition -> lease revision
        self._last_ok = asyncio.get_running_loop().time()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-leases")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.tick()
                self._last_ok = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease tick failed: %r", exc)
                if self.owned and loop.time() - self._last_ok > 0.8 * self._ttl:
                    log.warning("leases not renewed for %.1fs: stop consuming %d partitions",
                                loop.time() - self._last_ok, len(self.owned))
                    for partition in list(self.owned):
                        await self._drop(partition, "lost")
            await asyncio.sleep(self._ttl / 3)

    async def tick(self) -> None:
        kv = self._kv
        await kv.put(self._member_key, b"1")
        entries = await snapshot(kv, wait=max(1.0, self._ttl / 3))
        members = sorted(k[len(MEMBER_PREFIX):] for k in entries if k.startswith(MEMBER_PREFIX))
        me = self._member_key[len(MEMBER_PREFIX):]
        if me not in members:
            members.append(me)
        wanted = {p for p in range(self._partitions) if rendezvous_owner(p, members) == me}
        for partition in sorted(set(self.owned) - wanted):
            await self.give_up(partition)
        for partition in sorted(self.owned):
            try:
                self.owned[partition] = await kv.update(
                    f"{LEASE_PREFIX}{partition}", self._me, last=self.owned[partition])
            except (KeyWrongLastSequenceError, NotFoundError):
                log.warning("lease on partition %d was lost", partition)
                await self._drop(partition, "lost")
        for partition in sorted(wanted - set(self.owned)):
            await self._claim(partition, entries.get(f"{LEASE_PREFIX}{partition}"))
        self._metrics.partitions_owned.set(len(self.owned))

    async def _claim(self, partition: int, entry: KeyValue.Entry | None) -> None:
        key = f"{LEASE_PREFIX}{partition}"
        try:
            if entry is None:
                revision, rewind = await self._kv.create(key, self._me), True
            elif entry.value == RELEASED or entry.value == self._me:
                # our own name: a previous run of this member died holding it
                revision = await self._kv.update(key, self._me, last=entry.revision)
                rewind = entry.value == self._me
            else:
                return  # held by someone else; wait for release or expiry
        except (KeyWrongLastSequenceError, NotFoundError) as exc:
            log.debug("claim of partition %d lost a race: %r", partition, exc)
            return
        self.owned[partition] = revision
        try:
            await self._acquire(partition, rewind)
        except Exception:
            log.exception("could not start consuming partition %d; releasing it", partition)
            await self.give_up(partition)
            return
        self._metrics.partition_moves.labels("acquired").inc()
        log.info("member %s took partition %d%s", self.member, partition,
                 " (rewound: previous holder expired)" if rewind else "")

    async def _drop(self, partition: int, change: str) -> None:
        self.owned.pop(partition, None)
        await self._release(partition)
        self._metrics.partition_moves.labels(change).inc()

    async def give_up(self, partition: int) -> None:
        """Stop consuming `partition`, then mark its lease released for the next owner."""
        revision = self.owned.get(partition)
        await self._drop(partition, "released")
        if revision is not None:
            with contextlib.suppress(Exception):
                await self._kv.update(f"{LEASE_PREFIX}{partition}", RELEASED, last=revision)
        log.info("member %s released partition %d", self.member, partition)

    async def close(self) -> None:
        """Leave the group: stop ticking, release every lease, drop the heartbeat."""
        if self._task is not None:
            await cancel_and_wait([self._task])
        for partition in sorted(self.owned):
            await self.give_up(partition)
        with contextlib.suppress(Exception):
            await self._kv.delete(self._member_key)
        self._metrics.partitions_owned.set(0)

"""Connecting to NATS and making sure the stream, consumers and lease bucket exist.

`connect()` builds the client options from `BusConfig` (servers, user/password,
token, nkey seed, JWT creds, TLS), reconnects forever once connected, and
refuses servers older than 2.10 with a clear error.  `ensure_stream()`,
`ensure_consumer()` and `ensure_lease_bucket()` create what is missing and
bring what exists in line with the config (retention cannot change in place:
that is an error naming the stream).  `rewind_consumer()` makes a partition's
consumer redeliver everything not acked yet -- used when a lease is taken over
from a member that died holding messages.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from faultd.bus.partition import durable_for, subject_for
from faultd.config import BusConfig
from faultd.observe.quietlog import QuietLogger

log = logging.getLogger("faultd.bus")
quiet = QuietLogger(log)

MIN_SERVER_VERSION = (2, 10)


class BusError(OSError):
    """The bus cannot be used as configured (unreachable, too old, incompatible stream).

    An OSError so `faultd run` reports it as "cannot start: ..." and exits 1.
    """


def check_server_version(version: str) -> None:
    """Refuse servers older than MIN_SERVER_VERSION (from the INFO the server sent)."""
    parts = version.lstrip("v").split("-")[0].split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise BusError(f"bus: cannot read the nats-server version {version!r}") from None
    if (major, minor) < MIN_SERVER_VERSION:
        raise BusError(
            f"bus: nats-server {version} is too old; faultd needs >= "
            f"{MIN_SERVER_VERSION[0]}.{MIN_SERVER_VERSION[1]} with JetStream enabled")


def _tls_context(config: BusConfig) -> ssl.SSLContext | None:
    tls = config.tls
    if tls is None:
        if any(s.startswith("tls://") for s in config.servers):
            return ssl.create_default_context()
        return None
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def connect_options(config: BusConfig, name: str) -> dict[str, Any]:
    """Keyword arguments for `nats.connect` (split out so tests can read them)."""
    options: dict[str, Any] = {
        "servers": list(config.servers),
        "name": name,
        "connect_timeout": config.connect_timeout_seconds,
        "reconnect_time_wait": 0.5,
        # Two tries per server to start; `connect()` then sets -1 (never give up
        # once running: the outbox and stream redelivery cover the gap).
        "max_reconnect_attempts": 1,
        "allow_reconnect": True,
    }
    if config.user is not None:
        options["user"], options["password"] = config.user, config.password
    if config.token is not None:
        options["token"] = config.token
    if config.nkey_seed_file is not None:
        options["nkeys_seed"] = config.nkey_seed_file
    if config.creds_file is not None:
        options["user_credentials"] = config.creds_file
    context = _tls_context(config)
    if context is not None:
        options["tls"] = context
    return options


async def connect(config: BusConfig, name: str) -> Client:
    """Connect, check the server version, return the client; raises BusError."""

    async def on_error(exc: Exception) -> None:
        quiet.warning("nats-error", "nats: %s", exc)

    async def on_disconnect() -> None:
        if not nc.is_closed:
            log.warning("nats: disconnected; reconnecting")

    async def on_reconnect() -> None:
        log.info("nats: reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?")

    try:
        nc = await nats.connect(
            **connect_options(config, name), error_cb=on_error,
            disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
    except ModuleNotFoundError as exc:  # nkeys is needed for nkey seeds and creds
        raise BusError(f"bus: {exc.name} is not installed (needed for nkey/creds auth)") from None
    except Exception as exc:  # NoServersError, OSError, auth errors, TLS errors
        raise BusError(f"bus: cannot connect to {', '.join(config.servers)}: {exc!r}") from None
    nc.options["max_reconnect_attempts"] = -1
    try:
        found = nc.connected_server_version
        check_server_version(f"{found.major}.{found.minor}.{found.patch}")
    except BusError:
        await nc.close()
        raise
    try:
        await nc.jetstream().account_info()
    except Exception as exc:
        await nc.close()
        raise BusError(f"bus: JetStream is not available on the NATS server ({exc!r}); "
                       "start it with -js") from None
    return nc


def stream_config(config: BusConfig) -> StreamConfig:
    retention = (RetentionPolicy.WORK_QUEUE if config.retention == "workqueue"
                 else RetentionPolicy.LIMITS)
    return StreamConfig(
        name=config.stream, subjects=[f"{config.subject_prefix}.*"], retention=retention,
        max_age=config.max_age_seconds, max_bytes=config.max_bytes or -1,
        storage=StorageType.FILE, num_replicas=config.replicas,
        duplicate_window=min(config.duplicate_window_seconds, config.max_age_seconds))


async def ensure_stream(js: JetStreamContext, config: BusConfig) -> None:
    """Create the event stream, or check and update an existing one."""
    wanted = stream_config(config)
    try:
        info = await js.stream_info(config.stream)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("bus: created stream %s (%s, R%d)", config.stream, config.retention,
                 config.replicas)
        return
    have = info.config
    if have.retention != wanted.retention:
        raise BusError(
            f"bus: stream {config.stream} has retention {have.retention}, config says "
            f"{config.retention}; retention cannot change in place (drain and delete it)")
    if set(have.subjects or []) != set(wanted.subjects or []):
        raise BusError(f"bus: stream {config.stream} listens on {have.subjects}, "
                       f"expected {wanted.subjects}")
    drift = (have.num_replicas, have.max_age, have.max_bytes, have.duplicate_window) != (
        wanted.num_replicas, wanted.max_age, wanted.max_bytes, wanted.duplicate_window)
    if drift:
        await js.update_stream(wanted)
        log.info("bus: updated stream %s to the configured limits", config.stream)


def consumer_config(config: BusConfig, partition: int, *, start_seq: int | None = None
                    ) -> ConsumerConfig:
    by_seq = start_seq is not None and config.retention == "limits"
    return ConsumerConfig(
        durable_name=durable_for(config.stream, partition),
        filter_subject=subject_for(config.subject_prefix, partition),
        ack_policy=AckPolicy.EXPLICIT, ack_wait=config.ack_wait_seconds,
        max_ack_pending=config.max_ack_pending, max_deliver=-1,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if by_seq else DeliverPolicy.ALL,
        opt_start_seq=start_seq if by_seq else None,
        num_replicas=config.replicas)


async def ensure_consumer(js: JetStreamContext, config: BusConfig, partition: int) -> None:
    """Create a partition's durable consumer, or update its ack settings."""
    durable = durable_for(config.stream, partition)
    try:
        info = await js.consumer_info(config.stream, durable)
    except NotFoundError:
        await js.add_consumer(config.stream, consumer_config(config, partition))
        return
    have = info.config
    if (have.ack_wait, have.max_ack_pending) != (config.ack_wait_seconds, config.max_ack_pending):
        have.ack_wait, have.max_ack_pending = config.ack_wait_seconds, config.max_ack_pending
        await js.add_consumer(config.stream, have)


async def rewind_consumer(js: JetStreamContext, config: BusConfig, partition: int) -> int:
    """Redeliver every unacked message of a partition now; returns how many were pending.

    The durable is recreated from one past its ack floor (workqueue streams
    hold only unacked messages, so from the start).  Messages acked above the
    floor come again too: at-least-once, folded or idempotent downstream.
    """
    durable = durable_for(config.stream, partition)
    info = await js.consumer_info(config.stream, durable)
    pending = info.num_ack_pending or 0
    if pending == 0:
        return 0
    floor = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
    await js.delete_consumer(config.stream, durable)
    await js.add_consumer(config.stream, consumer_config(config, partition, start_seq=floor + 1))
    return pending


def lease_bucket_name(config: BusConfig) -> str:
    return f"{config.stream}_LEASES"


async def ensure_lease_bucket(js: JetStreamContext, config: BusConfig) -> KeyValue:
    """The KV bucket holding member heartbeats and partition leases (TTL = lease TTL)."""
    name = lease_bucket_name(config)
    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        kv = None
    if kv is None:
        return await js.create_key_value(KeyValueConfig(
            bucket=name, history=1, ttl=config.lease_ttl_seconds, replicas=config.replicas,
            storage=StorageType.FILE))
    status = await kv.status()
    if status.ttl is None or abs(status.ttl - config.lease_ttl_seconds) > 1e-3:
        info = await js.stream_info(f"KV_{name}")
        info.config.max_age = config.lease_ttl_seconds
        await js.update_stream(info.config)
        log.info("bus: lease TTL of %s changed to %.1fs", name, config.lease_ttl_seconds)
    return kv

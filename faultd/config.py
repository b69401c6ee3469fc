"""The configuration model: YAML file -> typed, validated `Config` (DESIGN.md contract).

Every key has a default; unknown keys, wrong types and out-of-range values are
errors that name their YAML path (`accumulator.tiers.core.window_seconds: must be
> 0`).  Secret references (`${ENV}`, `file:/path`, `credential:NAME`) are resolved
by `faultd.config_secrets` before validation.  Nothing here touches sockets.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml
from msgspec import Meta, Struct, field

from faultd.config_secrets import SecretError, resolve_secrets

PositiveFloat = Annotated[float, Meta(gt=0)]
NonNegativeFloat = Annotated[float, Meta(ge=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
Fraction = Annotated[float, Meta(gt=0, le=1)]


class _Section(Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for config sections: unknown keys are errors, never silently ignored."""


class SnmpUserConfig(_Section):
    name: str
    auth_protocol: Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "none"
    auth_key: str | None = None
    priv_protocol: Literal[
        "none", "des", "3des", "aes", "aes192", "aes256", "aes192c", "aes256c"] = "none"
    priv_key: str | None = None
    engine_id: str | None = None  # sender's authoritative engine (hex); None = any, learned

    def __post_init__(self) -> None:
        if self.auth_protocol != "none" and not self.auth_key:
            raise ValueError("auth_key: required when auth_protocol is not none")
        if self.auth_key is not None and len(self.auth_key) < 8:
            raise ValueError("auth_key: must be at least 8 characters (RFC 3414)")
        if self.priv_protocol != "none":
            if self.auth_protocol == "none":
                raise ValueError("priv_protocol: privacy needs an auth_protocol")
            if not self.priv_key or len(self.priv_key) < 8:
                raise ValueError("priv_key: required (8+ characters) when priv_protocol is set")
        if self.engine_id is not None:
            hexpart = self.engine_id.removeprefix("0x").removeprefix("0X")
            if not re.fullmatch(r"[0-9a-fA-F]{10,64}", hexpart) or len(hexpart) % 2:
                raise ValueError("engine_id: must be 5-32 bytes of hex (0x optional)")


class SnmpSeverityRule(_Section):
    match: str  # trap OID or MIB name glob ("IF-MIB::linkDown", "1.3.6.1.4.1.9.*")
    severity: Annotated[int, Meta(ge=1, le=4)]
    varbinds: dict[str, str] = field(default_factory=dict)  # name/OID -> value glob


class SourceRateLimitConfig(_Section):
    """Per-sender token bucket at ingest (faultd.sources.fairness); null section = off."""

    per_source_per_second: PositiveFloat = 500.0
    burst: PositiveInt = 1000
    max_sources: PositiveInt = 65536  # bucket table bound (LRU eviction beyond it)


class SnmpConfig(_Section):
    listen: str | None = "0.0.0.0:162"
    communities: list[str] = field(default_factory=lambda: ["public"])
    users: list[SnmpUserConfig] = field(default_factory=list)
    allowed_sources: list[str] = field(default_factory=list)
    mib_dirs: list[str] = field(default_factory=list)
    severity_rules: list[SnmpSeverityRule] = field(default_factory=list)
    volatile_oids: list[str] = field(default_factory=list)
    source_rate_limit: SourceRateLimitConfig | None = None

    def __post_init__(self) -> None:
        _check_listen(self.listen, "listen")
        _check_cidrs(self.allowed_sources, "allowed_sources")
        names = [u.name for u in self.users]
        for name in names:
            if names.count(name) > 1 and not all(u.engine_id for u in self.users if u.name == name):
                raise ValueError(f"users: {name!r} listed twice without distinct engine_id")


class VendorPattern(_Section):
    name: str
    pattern: str  # regex with named group `code` and optional `severity`
    code: str | None = None  # template over the named groups, default "{code}"
    app: str | None = None  # regex the TAG/APP-NAME must match
    field: Literal["message", "msgid"] | None = None

    def __post_init__(self) -> None:
        try:
            rx = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern: not a valid regex ({exc})") from None
        if "code" not in rx.groupindex:
            raise ValueError("pattern: needs a named group (?P<code>...)")


class TlsServerConfig(_Section):
    cert_file: str
    key_file: str
    ca_file: str | None = None  # set to require client certificates


class SyslogConfig(_Section):
    listen: str | None = "0.0.0.0:514"
    tcp_listen: str | None = None
    tcp_tls: TlsServerConfig | None = None
    tcp_max_connections: PositiveInt = 256
    tcp_idle_timeout_seconds: PositiveFloat = 300.0
    max_message_size: Annotated[int, Meta(ge=480, le=1 << 20)] = 65536
    allowed_sources: list[str] = field(default_factory=list)
    default_timezone: str = "UTC"
    max_clock_skew_seconds: PositiveFloat = 86400.0
    severity_map: dict[int, Annotated[int, Meta(ge=1, le=4)]] | None = None
    vendor_patterns: list[VendorPattern] = field(default_factory=list)
    source_rate_limit: SourceRateLimitConfig | None = None

    def __post_init__(self) -> None:
        _check_listen(self.listen, "listen")
        _check_listen(self.tcp_listen, "tcp_listen")
        _check_cidrs(self.allowed_sources, "allowed_sources")
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"default_timezone: unknown time zone {self.default_timezone!r}") from None
        for key in self.severity_map or {}:
            if not 0 <= key <= 7:
                raise ValueError(f"severity_map: syslog severity {key} is not 0-7")


class TierConfig(_Section):
    name: str
    match: list[str]
    window_seconds: PositiveFloat
    max_batch_size: PositiveInt

    def __post_init__(self) -> None:
        if not self.match:
            raise ValueError("match: needs at least one glob or CIDR")
        for pattern in self.match:
            if "/" in pattern:
                try:
                    ipaddress.ip_network(pattern, strict=False)
                except ValueError:
                    raise ValueError(f"match: {pattern!r} is not a valid CIDR") from None


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="core", match=["core-*", "10.0.0.0/16"], window_seconds=2.0,
                   max_batch_size=1000),
        TierConfig(name="access", match=["*"], window_seconds=12.0, max_batch_size=2000),
    ]


class AdaptiveConfig(_Section):
    enabled: bool = True
    min_window_seconds: PositiveFloat = 0.5
    storm_fraction: Fraction = 0.5  # a window this full (of max_batch_size) counts as storm
    calm_fraction: Fraction = 0.1  # a window this empty counts as calm
    shrink_factor: Annotated[float, Meta(gt=0, lt=1)] = 0.5
    relax_factor: Annotated[float, Meta(gt=1)] = 1.5


class AccumulatorConfig(_Section):
    queue_maxsize: PositiveInt = 50000
    overflow: Literal["spill", "drop_newest", "drop_oldest"] = "spill"
    critical_window_seconds: PositiveFloat = 0.25
    tiers: list[TierConfig] = field(default_factory=_default_tiers)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError("tiers: at least one tier is needed")
        seen: set[str] = set()
        for tier in self.tiers:
            if tier.name in seen:
                raise ValueError(f"tiers: duplicate tier name {tier.name!r}")
            seen.add(tier.name)


class RateLimitConfig(_Section):
    requests_per_second: PositiveFloat = 20.0
    burst: PositiveInt = 40


class RetryConfig(_Section):
    initial_backoff_seconds: PositiveFloat = 0.5
    max_backoff_seconds: PositiveFloat = 30.0

    def __post_init__(self) -> None:
        if self.max_backoff_seconds < self.initial_backoff_seconds:
            raise ValueError("max_backoff_seconds: must be >= initial_backoff_seconds")


class BreakerConfig(_Section):
    failure_threshold: PositiveInt = 5  # consecutive failed attempts that open the breaker
    open_seconds: PositiveFloat = 5.0  # wait before a half-open probe


class TlsClientConfig(_Section):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


class DispatchConfig(_Section):
    endpoint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: PositiveFloat = 10.0
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    critical_rate_limit: RateLimitConfig = field(
        default_factory=lambda: RateLimitConfig(requests_per_second=200.0, burst=400)
    )
    max_in_flight: PositiveInt = 4
    retry: RetryConfig = field(default_factory=RetryConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    shutdown_timeout_seconds: PositiveFloat = 10.0
    gzip: bool = False
    tls: TlsClientConfig = field(default_factory=TlsClientConfig)
    max_pending_batches: PositiveInt = 64  # per lane, in memory, before batches go to spill

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            parts = urlsplit(self.endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"endpoint: {self.endpoint!r} is not an http(s) URL")
            try:
                parts.port  # noqa: B018 - raises ValueError when out of range
            except ValueError:
                raise ValueError(f"endpoint: {self.endpoint!r} has an invalid port") from None


class SpillConfig(_Section):
    directory: str | None = None
    memory_high_watermark: Fraction = 0.85
    memory_limit_bytes: PositiveInt | None = None
    fsync: Literal["always", "interval", "never"] = "interval"
    max_bytes: PositiveInt | None = None
    segment_max_bytes: Annotated[int, Meta(ge=1 << 16)] = 64 << 20
    # Journal every queued event (<directory>/journal) so a crash (SIGKILL, OOM
    # kill) loses nothing: at-least-once.  Off only to trade that for ~1 us/event.
    journal: bool = True


class MetricsConfig(_Section):
    listen: str | None = "127.0.0.1:9163"
    debug_endpoints: bool = True  # /debug/* (tasks, ring); answered on loopback peers only
    ring_size: Annotated[int, Meta(ge=0, le=1_000_000)] = 10000  # raw datagrams kept; 0 = off

    def __post_init__(self) -> None:
        _check_listen(self.listen, "listen")


class BusTlsConfig(_Section):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class BusConfig(_Section):
    """NATS JetStream scale-out (README "Scaling out"); role standalone ignores the rest."""

    role: Literal["standalone", "collector", "accumulator"] = "standalone"
    servers: list[str] = field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    stream: str = "FAULTD_EVENTS"
    subject_prefix: str = "faultd.events"  # events go to <prefix>.<partition>
    partitions: Annotated[int, Meta(ge=1, le=1024)] = 16
    replicas: Annotated[int, Meta(ge=1, le=5)] = 1
    max_age_seconds: PositiveFloat = 7 * 86400.0
    member_name: str | None = None  # accumulator group member id; default collector_name
    lease_ttl_seconds: PositiveFloat = 6.0
    ack_wait_seconds: PositiveFloat = 120.0
    retention: Literal["limits", "workqueue"] = "limits"  # workqueue: deleted once acked
    max_bytes: PositiveInt | None = None  # stream size cap (oldest discarded); None = unlimited
    duplicate_window_seconds: PositiveFloat = 120.0  # Nats-Msg-Id dedup horizon of the stream
    max_ack_pending: PositiveInt = 100_000  # per partition consumer; bounds events in windows
    fetch_batch: PositiveInt = 500  # messages per pull request
    publish_timeout_seconds: PositiveFloat = 2.0  # a publish not acked by then goes to the outbox
    max_in_flight_publishes: PositiveInt = 1024
    connect_timeout_seconds: PositiveFloat = 5.0
    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = None
    tls: BusTlsConfig | None = None


class CorrelationConfig(_Section):
    """The built-in downstream used when dispatch.endpoint is null (faultd/correlate)."""

    # Policy file; relative paths are relative to the config file's directory.
    # If it does not exist, batches only go to the batch log.
    policy: str = "correlation.yaml"
    # Where `faultd correlate` (standalone) serves POST /batches, /tickets and /.
    listen: str = "127.0.0.1:9164"
    mode: Literal["process", "thread"] = "process"
    batch_log: bool = True  # also append each batch to <state_directory>/sink/batches.jsonl
    webhook_rate_limit: RateLimitConfig = field(
        default_factory=lambda: RateLimitConfig(requests_per_second=10.0, burst=20))
    webhook_timeout_seconds: PositiveFloat = 10.0

    def __post_init__(self) -> None:
        _check_listen(self.listen, "listen")


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class Config(_Section):
    state_directory: str = "/var/lib/faultd"
    # Receive processes for the UDP listeners (SO_REUSEPORT); events from all of
    # them meet in the one accumulator of the main process.  1 = all in one process.
    workers: Annotated[int, Meta(ge=1, le=64)] = 1
    collector_name: str = field(default_factory=socket.gethostname)
    node_aliases: dict[str, str] = field(default_factory=dict)
    snmp: SnmpConfig = field(default_factory=SnmpConfig)
    syslog: SyslogConfig = field(default_factory=SyslogConfig)
    accumulator: AccumulatorConfig = field(default_factory=AccumulatorConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    spill: SpillConfig = field(default_factory=SpillConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    correlation: CorrelationConfig = field(default_factory=CorrelationConfig)

    @property
    def spill_directory(self) -> Path:
        return Path(self.spill.directory or Path(self.state_directory) / "spill")


class ConfigError(Exception):
    """The file cannot be used; `errors` lists each problem as 'yaml.path: message'."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_hostport(text: str) -> tuple[str, int]:
    """Split "host:port" / "[v6]:port" into (host, port); ValueError if malformed."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.%\w]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not host:port (IPv6 as [addr]:port)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port out of range")
    if match.group(1):
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    return host, port


def _check_listen(value: str | None, key: str) -> None:
    if value is None:
        return
    try:
        parse_hostport(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _check_cidrs(values: list[str], key: str) -> None:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{key}: {value!r} is not a valid address or CIDR") from None


def _yaml_path(msgspec_path: str, raw: Any) -> str:
    """Turn msgspec's `$.accumulator.tiers[0]` into `accumulator.tiers.core` (tier by name)."""
    out: list[str] = []
    node: Any = raw
    for token in re.findall(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]", msgspec_path.lstrip("$")):
        key, index = token
        if key:
            out.append(key)
            node = node.get(key) if isinstance(node, dict) else None
        elif index:
            item = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            out.append(str(name) if isinstance(name, str) else index)
            node = item
    return ".".join(out)


def _format_validation_error(exc: msgspec.ValidationError, raw: Any) -> str:
    text = str(exc)
    message, _, where = text.rpartition(" - at `")
    if not where:
        return text
    path = _yaml_path(where.rstrip("`"), raw)
    # __post_init__ ValueErrors carry "subkey: message"; fold the subkey into the path.
    sub = re.match(r"([a-z_][\w.]*): (.*)", message, re.S)
    if sub:
        path, message = f"{path}.{sub.group(1)}" if path else sub.group(1), sub.group(2)
    message = message.replace("Object contains unknown field", "unknown key")
    return f"{path or '(top level)'}: {message}"


def config_from_mapping(raw: Any) -> Config:
    """Validate an already-parsed YAML document; raises ConfigError."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping of sections"])
    try:
        resolved = resolve_secrets(raw)
    except SecretError as exc:
        raise ConfigError([str(exc)]) from None
    # msgspec stops at the first error; validating each section on its own first
    # lets one run report every broken section, as an operator fixing a file wants.
    errors = [f"{name}: unknown key" for name in resolved if name not in Config.__struct_fields__]
    for name, value in resolved.items():
        if name not in Config.__struct_fields__ or not isinstance(value, dict):
            continue
        try:
            msgspec.convert({name: value}, Config)
        except msgspec.ValidationError as exc:
            errors.append(_format_validation_error(exc, raw))
    if errors:
        raise ConfigError(errors)
    try:
        return msgspec.convert(resolved, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError([_format_validation_error(exc, raw)]) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file; raises ConfigError with YAML-path messages."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise ConfigError([f"{path}: not valid YAML{where}: {problem}"]) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError([f"{path}: not valid YAML: nested too deeply"]) from None
    return config_from_mapping(raw)


def changed_sections(old: Config, new: Config) -> set[str]:
    """Names of top-level sections whose values differ (drives what a reload touches)."""
    return {
        name for name in Config.__struct_fields__ if getattr(old, name) != getattr(new, name)
    }


def keep_restart_only(old: Config, new: Config) -> tuple[Config, list[str]]:
    """`new` with the keys a reload cannot apply set back to their running values, and
    the names of those that differed (empty when there were none).

    These are read once, at startup, by objects a reload does not rebuild: the spill
    store, intake journal and memory monitor (where spill goes: `spill.directory`, or
    `state_directory` when that is unset; `spill.journal`, `fsync`, `max_bytes`,
    `segment_max_bytes`, `memory_limit_bytes`), the raw ring (`metrics.ring_size`),
    the batch envelopes' `collector_name`, `bus` (the role, its NATS connection and
    consumers), whether the overflow sink exists (`accumulator.overflow` to or from
    `spill`; between the two drop policies it applies live) and whether there are
    receive worker processes at all (`workers` between 1 and more; between two
    counts above 1 it applies live).  Keeping them in the running config means what
    the daemon reports and reads later is what it runs with.
    """
    names: list[str] = []
    changes: dict[str, Any] = {}
    if old.collector_name != new.collector_name:
        names.append("collector_name")
        changes["collector_name"] = old.collector_name
    if old.bus != new.bus:
        names.append("bus")
        changes["bus"] = old.bus
    if (old.workers > 1) != (new.workers > 1):
        names.append("workers (between 1 and more)")
        changes["workers"] = old.workers
    if (old.accumulator.overflow == "spill") != (new.accumulator.overflow == "spill"):
        names.append("accumulator.overflow (to or from spill)")
        changes["accumulator"] = msgspec.structs.replace(
            new.accumulator, overflow=old.accumulator.overflow)
    if old.metrics.ring_size != new.metrics.ring_size:
        names.append("metrics.ring_size")
        changes["metrics"] = msgspec.structs.replace(new.metrics,
                                                     ring_size=old.metrics.ring_size)
    spill = new.spill
    if old.spill_directory != new.spill_directory:
        names.append("the spill location (spill.directory, or state_directory)")
        spill = msgspec.structs.replace(spill, directory=str(old.spill_directory))
    for key in ("journal", "fsync", "max_bytes", "segment_max_bytes", "memory_limit_bytes"):
        if getattr(old.spill, key) != getattr(spill, key):
            names.append(f"spill.{key}")
            spill = msgspec.structs.replace(spill, **{key: getattr(old.spill, key)})
    if spill is not new.spill:
        changes["spill"] = spill
    if not names:
        return new, names
    return msgspec.structs.replace(new, **changes), names

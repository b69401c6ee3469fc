"""Correlation policy: the typed schema of etc/correlation.yaml and its loader.

`load_policy(path)` reads the YAML, converts it with msgspec into `Policy`, then
checks what types cannot (regexes compile, time zones exist, nodes named by
parents/routes/windows exist).  Every problem is reported as a `PolicyError`
whose lines name the YAML path, e.g. ``routing.routes[0].queue: unknown queue 'x'``.
Inventory files named under ``topology.inventory`` are read here too, so the
returned `Policy` is self-contained and picklable.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

Pattern = str | list[str]
"""A glob (``core-*``), a regex (``re:^agg-\\d+$``, searched), or a list of either (any)."""


class PolicyError(ValueError):
    """An invalid policy; `errors` holds one ``yaml.path: message`` line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _S(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base: unknown keys are errors (typos must not silently disable a rule)."""


class Match(_S):
    """Conditions on an event (or a ticket's root event); all given fields must match."""

    fault_code: Pattern | None = None
    node: Pattern | None = None
    tier: Pattern | None = None
    site: Pattern | None = None
    role: Pattern | None = None
    category: Pattern | None = None
    message: Pattern | None = None
    source: Pattern | None = None
    severity: int | str | list[int] | None = None  # 2, "<=2", ">=3", [1, 2], "critical"
    attributes: dict[str, Pattern] = {}


class NodeSpec(_S):
    site: str = ""
    role: str = ""
    tier: str = ""
    parents: list[str] = []
    services: list[str] = []


class ServiceSpec(_S):
    path: list[str] = []  # explicit node path
    endpoints: list[str] = []  # two nodes; path computed through the dependency tree


class TopologySpec(_S):
    nodes: dict[str, NodeSpec] = {}
    links: list[list[str]] = []  # undirected [a, b]; parents derived by BFS from roots
    roots: list[str] = []  # BFS origins for links; default: highest-degree node per component
    inventory: list[str] = []  # CSV (node_id,site,role,tier,parents,services) or YAML files
    services: dict[str, ServiceSpec] = {}


class FaultCode(_S):
    match: str  # fault_code glob
    category: str = ""
    severity: int | None = None
    description: str = ""
    rank: int = 0  # among simultaneous faults, lower rank is taken as the cause


class RuleSet(_S):
    severity: int | None = None
    category: str | None = None


class Rule(_S):
    name: str = ""
    match: Match = msgspec.field(default_factory=Match)
    action: Literal["ticket", "drop"] = "ticket"
    set: RuleSet = msgspec.field(default_factory=RuleSet)
    stop: bool = False


class ClearRule(_S):
    fault: Match
    clear: Match
    name: str = ""
    key_attributes: list[str] = []
    key_regex: str | None = None  # applied to the message; group "key" (or the whole match)


class AttributeClears(_S):
    attribute: str = "clears"  # attributes[attribute] = "<fault_code it clears>"
    key_attributes: list[str] = msgspec.field(default_factory=lambda: ["ifIndex"])


class RootCause(_S):
    correlation_window_seconds: float = 30.0
    same_node: bool = True  # faults on one node group into its open ticket
    max_hops: int = 0  # how many ancestor levels may explain a fault; 0 = unlimited
    resolve_when: Literal["root_cleared", "all_cleared"] = "root_cleared"
    auto_resolve_after_seconds: float | None = 86400.0  # of event time without activity
    max_symptoms_listed: int = 500


class Retention(_S):
    """How long the store keeps what is finished (wall-clock seconds), and how often it prunes."""

    resolved_tickets_seconds: float = 7 * 86400.0  # resolved/merged tickets and their faults
    batch_ids_seconds: float = 2 * 86400.0  # batch ids (a retry after this is applied again)
    prune_every_batches: int = 500  # also once when the engine opens its store


class Recurring(_S):
    days: list[str] = []  # mon..sun; empty = every day
    start: str = "00:00"
    end: str = "00:00"  # end <= start crosses midnight


class Once(_S):
    start: str  # ISO 8601; naive times are in the window's time zone
    end: str


class Scope(_S):
    node: Pattern | None = None
    site: Pattern | None = None
    subtree: str | None = None  # this node and every node depending on it


class MaintenanceWindow(_S):
    name: str
    scope: Scope
    action: Literal["suppress", "downgrade"] = "suppress"
    downgrade_by: int = 1
    timezone: str = "UTC"
    once: Once | None = None
    recurring: Recurring | None = None


class Queue(_S):
    priority: int = 3
    group: str = ""
    webhook: str | None = None


class Route(_S):
    match: Match = msgspec.field(default_factory=Match)
    queue: str | None = None  # None = inherit the parent's
    priority: int | None = None
    group: str | None = None
    routes: list[Route] = []
    # "continue" is a Python keyword: the YAML key is mapped in load_policy
    continue_: bool = msgspec.field(default=False, name="continue")


class Policy(_S):
    topology: TopologySpec = msgspec.field(default_factory=TopologySpec)
    fault_codes: list[FaultCode] = []
    rules: list[Rule] = []
    clears: list[ClearRule] = []
    attribute_clears: AttributeClears = msgspec.field(default_factory=AttributeClears)
    root_cause: RootCause = msgspec.field(default_factory=RootCause)
    retention: Retention = msgspec.field(default_factory=Retention)
    maintenance: list[MaintenanceWindow] = []
    queues: dict[str, Queue] = msgspec.field(default_factory=lambda: {"default": Queue()})
    routing: Route = msgspec.field(default_factory=lambda: Route(queue="default"))


_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _yaml_path(msg: str) -> str:
    m = _MSGSPEC_PATH.search(msg)
    if not m:
        return f"<policy>: {msg}"
    path = m.group("path").lstrip(".")
    text = msg[: m.start()]
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", text)
    if unknown:
        path, text = f"{path}.{unknown.group(1)}".lstrip("."), "unknown key"
    return f"{path or '<policy>'}: {text}"


def parse_policy(raw: Any, base_dir: Path | None = None) -> Policy:
    """Validate a decoded YAML document into a Policy (inventory paths relative to base_dir)."""
    if raw is None:
        raw = {}
    try:
        policy = msgspec.convert(raw, Policy, strict=True)
    except msgspec.ValidationError as exc:
        raise PolicyError([_yaml_path(str(exc))]) from None
    errors: list[str] = []
    _load_inventory(policy, base_dir or Path.cwd(), errors)
    from faultd.correlate.checks import check_policy  # semantic checks live apart

    errors.extend(check_policy(policy))
    if errors:
        raise PolicyError(errors)
    return policy


def load_policy(path: Path) -> Policy:
    """Read, parse and validate a policy file; raises PolicyError (or OSError)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError([f"<policy>: not valid YAML: {exc}"]) from None
    return parse_policy(raw, path.parent)


def _split(cell: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[;|]", cell or "") if p.strip()]


def _load_inventory(policy: Policy, base: Path, errors: list[str]) -> None:
    nodes = policy.topology.nodes
    for i, name in enumerate(policy.topology.inventory):
        where = f"topology.inventory[{i}]"
        path = Path(name) if Path(name).is_absolute() else base / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            errors.append(f"{where}: cannot read {path}: {exc.strerror}")
            continue
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(text.splitlines())
            if not reader.fieldnames or "node_id" not in reader.fieldnames:
                errors.append(f"{where}: CSV needs a node_id column")
                continue
            for row in reader:
                node_id = (row.get("node_id") or "").strip().lower()
                if not node_id:
                    continue
                nodes[node_id] = NodeSpec(
                    site=(row.get("site") or "").strip(),
                    role=(row.get("role") or "").strip(),
                    tier=(row.get("tier") or "").strip(),
                    parents=[p.lower() for p in _split(row.get("parents"))],
                    services=_split(row.get("services")),
                )
        else:
            try:
                data = yaml.safe_load(text) or {}
                extra = msgspec.convert(data, dict[str, NodeSpec], strict=True)
            except (yaml.YAMLError, msgspec.ValidationError) as exc:
                errors.append(f"{where}: {exc}")
                continue
            nodes.update(extra)

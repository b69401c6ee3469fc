"""DecodedTrap -> FaultEvent (DESIGN.md "Canonical event"), for traps and INFORMs of any version.

* v1 traps are first put in v2 form per RFC 3584 §3.1: generic 0-5 become
  snmpTraps.{1..6}, enterprise-specific becomes enterprise.0.specific;
  sysUpTime.0 / snmpTrapOID.0 are prepended and snmpTrapAddress.0 and
  snmpTrapEnterprise.0 appended (snmpTrapCommunity.0 is *not* appended: the
  community is kept in attributes["community"] only, never in the message).
* node_id: v1 agent-addr unless 0.0.0.0, else snmpTrapAddress.0 when a
  forwarder set it, else the sender IP; lower-cased.
* fault_code: the trap OID's MIB name (``IF-MIB::linkDown``), numeric when
  no loaded MIB defines exactly that node.
* attributes (flat scalars): each varbind twice, by name
  (``IF-MIB::ifAdminStatus.2``) and by numeric OID, with typed values: ints as
  ints, OCTET STRING as text when printable UTF-8 else ``0x``-prefixed hex,
  IpAddress dotted, OID values dotted, Opaque hex, NULL/exceptions None.  An
  INTEGER with a MIB enumeration also gets ``<name>:label`` = ``"up"``.
  Plus snmp_version ("1", "2c", "3"), pdu, trap_oid, sender ("ip:port"),
  uptime, community (v1/v2c) or user/engine_id/context (v3; never keys),
  v1 enterprise/agent_addr/generic_trap/specific_trap, and ``clears`` when
  the trap clears another (linkUp clears IF-MIB::linkDown, ...).
* message: ``IF-MIB::linkDown ifIndex.2=2 ifAdminStatus.2=up(1) ifDescr.2=eth0``.
* severity: first matching configured rule, else the standard defaults
  (linkDown, coldStart 2; linkUp, warmStart 4; authenticationFailure 3;
  anything else 3).  A rule is ``{match: glob on trap name or OID,
  varbinds: {name-or-OID glob: value glob}, severity: 1..4}``.
* dedup_key: faultd.event.dedup_key(node_id, numeric trap OID, varbind values
  sorted by OID, without sysUpTime.0, snmpTrapOID.0 and volatile_oids).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

from faultd.addresses import SocketAddress
from faultd.event import FaultEvent, dedup_key, new_id
from faultd.snmp.mib import MibNames, format_oid
from faultd.snmp.types import (
    INTEGER,
    IP_ADDRESS,
    OCTET_STRING,
    OID,
    OPAQUE,
    PDU_INFORM,
    TIMETICKS,
    DecodedTrap,
    VarBind,
)

SYS_UPTIME: Final = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Final = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE: Final = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
SNMP_TRAP_ADDRESS: Final = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
SNMP_TRAPS: Final = (1, 3, 6, 1, 6, 3, 1, 1, 5)

COLD_START: Final = (*SNMP_TRAPS, 1)
WARM_START: Final = (*SNMP_TRAPS, 2)
LINK_DOWN: Final = (*SNMP_TRAPS, 3)
LINK_UP: Final = (*SNMP_TRAPS, 4)
AUTH_FAILURE: Final = (*SNMP_TRAPS, 5)

DEFAULT_SEVERITY: Final = 3
STANDARD_SEVERITY: Final[dict[tuple[int, ...], int]] = {
    LINK_DOWN: 2,
    COLD_START: 2,
    LINK_UP: 4,
    WARM_START: 4,
    AUTH_FAILURE: 3,
}

CLEARS: Final[dict[tuple[int, ...], tuple[int, ...]]] = {
    LINK_UP: LINK_DOWN,
    # BGP4-MIB (RFC 4273): bgpEstablishedNotification clears bgpBackwardTransNotification
    (1, 3, 6, 1, 2, 1, 15, 0, 1): (1, 3, 6, 1, 2, 1, 15, 0, 2),
    # BGP4-MIB (RFC 1657 names): bgpEstablished clears bgpBackwardTransition
    (1, 3, 6, 1, 2, 1, 15, 7, 1): (1, 3, 6, 1, 2, 1, 15, 7, 2),
    # ALARM-MIB (RFC 3877): alarmClearState clears alarmActiveState
    (1, 3, 6, 1, 2, 1, 118, 0, 3): (1, 3, 6, 1, 2, 1, 118, 0, 2),
}
"""Clearing trap OID -> the trap OID it clears (attributes["clears"] names it)."""

_HIDDEN: Final = frozenset({SYS_UPTIME, SNMP_TRAP_OID, SNMP_TRAP_ENTERPRISE, SNMP_TRAP_ADDRESS})
_VERSIONS: Final = {0: "1", 1: "2c", 3: "3"}
_NAME_CACHE_MAX: Final = 65536
# OIDs longer than this are rendered but never cached: the caches are bounded in
# entries, and a flood of huge distinct OIDs must not make each entry huge.
_CACHED_ARCS_MAX: Final = 64


class NormalizeError(ValueError):
    """The notification lacks what every trap must carry (e.g. snmpTrapOID.0)."""


@dataclass(frozen=True, slots=True)
class SeverityRule:
    """One configured severity rule; see the module docstring."""

    match: str
    varbinds: tuple[tuple[str, str], ...]
    severity: int

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SeverityRule:
        """Validate one rule from config (ValueError with the reason)."""
        unknown = set(raw) - {"match", "varbinds", "severity"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        match = raw.get("match", "*")
        if not isinstance(match, str) or not match:
            raise ValueError("match: must be a non-empty string")
        sev = raw.get("severity")
        if not isinstance(sev, int) or isinstance(sev, bool) or not 1 <= sev <= 4:
            raise ValueError("severity: must be an integer 1..4")
        vbs = raw.get("varbinds") or {}
        if not isinstance(vbs, Mapping):
            raise ValueError("varbinds: must be a mapping of name/OID glob to value glob")
        pairs = tuple((str(k).lstrip("."), str(v)) for k, v in vbs.items())
        return cls(match.lstrip("."), pairs, sev)


def _text(value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    if text.isprintable() or all(c.isprintable() or c in "\t\r\n" for c in text):
        return text
    return "0x" + value.hex()


# re's \s on str is exactly str.isspace() (both use Py_UNICODE_ISSPACE; the tests
# check every code point), so one C-level search replaces a per-character loop.
_HAS_SPACE: Final = re.compile(r"\s").search


def _quoted(text: str) -> str:
    if not text or _HAS_SPACE(text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def _hostport(sender: SocketAddress) -> str:
    return f"[{sender[0]}]:{sender[1]}" if ":" in sender[0] else f"{sender[0]}:{sender[1]}"


def _ipv4(value: bytes) -> str:
    """Dotted quad; what str(ipaddress.IPv4Address(value)) gives, without the object."""
    if len(value) == 4:
        return f"{value[0]}.{value[1]}.{value[2]}.{value[3]}"
    return str(ipaddress.IPv4Address(value))  # raises for a wrong length, as before


@dataclass(slots=True)
class _Rendered:
    oid: tuple[int, ...]
    oid_text: str
    name: str  # MODULE::sym.suffix or numeric
    short: str  # sym.suffix or numeric
    value: Any
    label: str | None
    shown: str  # value as shown in the message / matched by rules


# Per-varbind-OID plan, computed once per OID and cached (the hot loop unpacks it):
# (oid_text, name key or None when it equals oid_text, "<name>:label", "<short>=",
#  role, in identity, enum labels or None).
_Plan = tuple[str, str | None, str, str, int, bool, "dict[int, str] | None"]
_ROLE_PLAIN: Final = 0  # attributes, message, identity (unless volatile)
_ROLE_UPTIME: Final = 1  # attributes["uptime"] only
_ROLE_TRAP_OID: Final = 2  # nowhere (it is the fault code)
_ROLE_HIDDEN: Final = 3  # attributes and identity, not the message (v1 enterprise/address)

# Per trap OID: (fault_code, numeric text, attributes["clears"] or None, default
# severity, the configured rules whose `match` selects this trap).
_TrapInfo = tuple[str, str, str | None, int, tuple[SeverityRule, ...]]


class Normalizer:
    """Turns DecodedTrap into FaultEvent; holds the MIB names and rules.

    Everything that depends only on an OID (names, enum labels, attribute keys,
    message prefixes, volatility) is computed once per OID and cached, and
    everything that depends only on the trap OID (fault code, clears, default
    severity, which rules can apply) once per trap OID; per trap only the values
    are rendered.  tests/snmp/test_snmp_normalize_equivalence.py proves the
    events identical (attribute order included) to the straightforward
    implementation kept in tests/snmp/normalize_reference.py.
    """

    def __init__(
        self,
        mib: MibNames,
        *,
        severity_rules: Sequence[Mapping[str, Any]] | None = None,
        volatile_oids: Sequence[str] | None = None,
    ) -> None:
        self.mib = mib
        rules: list[SeverityRule] = []
        for i, raw in enumerate(severity_rules or ()):
            try:
                rules.append(SeverityRule.from_dict(raw))
            except ValueError as exc:
                raise ValueError(f"severity_rules[{i}]: {exc}") from None
        self.rules = tuple(rules)
        volatile: list[tuple[int, ...]] = []
        for text in volatile_oids or ():
            oid = mib.oid_of(text)
            if oid is None:
                raise ValueError(f"volatile_oids: unknown OID or name {text!r}")
            volatile.append(oid)
        self.volatile = tuple(volatile)
        self._name_cache: dict[tuple[int, ...], tuple[str, str, str]] = {}
        self._plans: dict[tuple[int, ...], _Plan] = {}
        self._traps: dict[tuple[int, ...], _TrapInfo] = {}
        self._oid_values: dict[tuple[int, ...], tuple[str, str]] = {}
        self._texts: dict[bytes, str] = {}

    # --- helpers ---------------------------------------------------------------

    def _names_of(self, oid: tuple[int, ...]) -> tuple[str, str, str]:
        """(numeric text, MODULE::sym.suffix, sym.suffix), cached."""
        try:
            return self._name_cache[oid]
        except KeyError:
            pass
        loc = self.mib.locate(oid)
        oid_text = format_oid(oid)
        if loc is None:
            names = (oid_text, oid_text, oid_text)
        else:
            mod, sym, suffix = loc
            short = f"{sym}.{format_oid(suffix)}" if suffix else sym
            names = (oid_text, f"{mod}::{short}", short)
        if len(oid) <= _CACHED_ARCS_MAX:
            if len(self._name_cache) >= _NAME_CACHE_MAX:
                self._name_cache.clear()
            self._name_cache[oid] = names
        return names

    def _plan(self, oid: tuple[int, ...]) -> _Plan:
        """Everything about one varbind OID that does not depend on its value."""
        oid_text, name, short = self._names_of(oid)
        if oid == SYS_UPTIME:
            role = _ROLE_UPTIME
        elif oid == SNMP_TRAP_OID:
            role = _ROLE_TRAP_OID
        elif oid in _HIDDEN:
            role = _ROLE_HIDDEN
        else:
            role = _ROLE_PLAIN
        in_identity = role in (_ROLE_PLAIN, _ROLE_HIDDEN) and not self._volatile(oid)
        loc = self.mib.locate(oid)
        labels = None if loc is None else self.mib.enum_labels(loc[0], loc[1])
        plan: _Plan = (
            oid_text, None if name == oid_text else name, f"{name}:label", f"{short}=", role,
            in_identity, labels or None,
        )  # fmt: skip
        if len(oid) <= _CACHED_ARCS_MAX:
            if len(self._plans) >= _NAME_CACHE_MAX:
                self._plans.clear()
            self._plans[oid] = plan
        return plan

    def _trap_info(self, oid: tuple[int, ...]) -> _TrapInfo:
        fault_code = self._exact_name(oid)
        oid_text = format_oid(oid)
        short = fault_code.partition("::")[2] or fault_code
        candidates = tuple(
            rule
            for rule in self.rules
            if fnmatchcase(fault_code, rule.match)
            or fnmatchcase(oid_text, rule.match)
            or fnmatchcase(short, rule.match)
        )
        cleared = CLEARS.get(oid)
        info: _TrapInfo = (
            fault_code, oid_text, None if cleared is None else self._exact_name(cleared),
            STANDARD_SEVERITY.get(oid, DEFAULT_SEVERITY), candidates,
        )  # fmt: skip
        if len(oid) <= _CACHED_ARCS_MAX:
            if len(self._traps) >= _NAME_CACHE_MAX:
                self._traps.clear()
            self._traps[oid] = info
        return info

    def _oid_value(self, value: tuple[int, ...]) -> tuple[str, str]:
        """(numeric text, MIB name) of an OID-valued varbind, cached."""
        try:
            return self._oid_values[value]
        except KeyError:
            pass
        found = (format_oid(value), self.mib.name(value))
        if len(value) <= _CACHED_ARCS_MAX:
            if len(self._oid_values) >= _NAME_CACHE_MAX:
                self._oid_values.clear()
            self._oid_values[value] = found
        return found

    def _text_of(self, raw: bytes) -> str:
        """_text for community/context strings (few distinct values), cached."""
        text = self._texts.get(raw)
        if text is None:
            if len(self._texts) >= 1024:
                self._texts.clear()
            text = self._texts[raw] = _text(raw)
        return text

    def _render(self, vb: VarBind) -> _Rendered:
        oid_text, name, short = self._names_of(vb.oid)
        label: str | None = None
        value: Any
        if vb.kind == OCTET_STRING:
            value = _text(vb.value) if isinstance(vb.value, bytes) else vb.value
            shown = str(value)
        elif vb.kind == IP_ADDRESS and isinstance(vb.value, bytes):
            value = shown = _ipv4(vb.value)
        elif vb.kind == OID and isinstance(vb.value, tuple):
            value, shown = self._oid_value(vb.value)
        elif vb.kind == OPAQUE and isinstance(vb.value, bytes):
            value = shown = "0x" + vb.value.hex()
        elif isinstance(vb.value, int):
            value = vb.value
            if vb.kind == INTEGER:
                label = self.mib.enum_label(vb.oid, vb.value)
            shown = f"{label}({value})" if label else str(value)
        else:  # NULL and the v2 exceptions
            value = None
            shown = vb.kind if vb.kind != "Null" else "NULL"
        return _Rendered(vb.oid, oid_text, name, short, value, label, shown)

    def _trap_oid(self, trap: DecodedTrap) -> tuple[tuple[int, ...], Sequence[VarBind]]:
        """Trap OID and the v2-form varbind list (RFC 3584 §3.1 for v1)."""
        vbs = trap.varbinds
        if trap.version == 0:
            ent = trap.enterprise or ()
            generic = trap.generic_trap if trap.generic_trap is not None else 6
            oid: tuple[int, ...]
            if 0 <= generic <= 5:
                oid = (*SNMP_TRAPS, generic + 1)
            else:
                oid = (*ent, 0, trap.specific_trap or 0)
            head = [
                VarBind(SYS_UPTIME, TIMETICKS, trap.time_stamp or 0),
                VarBind(SNMP_TRAP_OID, OID, oid),
            ]
            tail = []
            have = {vb.oid for vb in vbs}
            if SNMP_TRAP_ADDRESS not in have and trap.agent_addr is not None:
                tail.append(VarBind(SNMP_TRAP_ADDRESS, IP_ADDRESS, trap.agent_addr))
            if SNMP_TRAP_ENTERPRISE not in have:
                tail.append(VarBind(SNMP_TRAP_ENTERPRISE, OID, ent))
            return oid, [*head, *vbs, *tail]
        for vb in vbs:
            if vb.oid == SNMP_TRAP_OID and vb.kind == OID and isinstance(vb.value, tuple):
                return vb.value, vbs
        raise NormalizeError("no snmpTrapOID.0 varbind")

    def _node_id(self, trap: DecodedTrap, sender: SocketAddress) -> str:
        if trap.version == 0 and trap.agent_addr and trap.agent_addr != b"\x00\x00\x00\x00":
            return _ipv4(trap.agent_addr)
        for vb in trap.varbinds:
            if (
                vb.oid == SNMP_TRAP_ADDRESS
                and isinstance(vb.value, bytes)
                and len(vb.value) == 4
                and vb.value != b"\x00\x00\x00\x00"
            ):
                return _ipv4(vb.value)
        host = sender[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        return host.lower()

    def _severity(self, info: _TrapInfo, vbs: Sequence[VarBind]) -> int:
        rendered: list[_Rendered] | None = None
        for rule in info[4]:
            if rule.varbinds:
                if rendered is None:
                    rendered = [self._render(vb) for vb in vbs]
                if not all(self._vb_matches(rendered, k, v) for k, v in rule.varbinds):
                    continue
            return rule.severity
        return info[3]

    @staticmethod
    def _vb_matches(rendered: list[_Rendered], key: str, pattern: str) -> bool:
        for r in rendered:
            if not (
                fnmatchcase(r.name, key)
                or fnmatchcase(r.short, key)
                or fnmatchcase(r.oid_text, key)
                or fnmatchcase(r.short.partition(".")[0], key)
            ):
                continue
            candidates = [r.shown, str(r.value)]
            if r.label:
                candidates.append(r.label)
            if any(fnmatchcase(c, pattern) for c in candidates):
                return True
        return False

    def _exact_name(self, oid: tuple[int, ...]) -> str:
        """MODULE::name when a MIB defines exactly this node, else the numeric OID."""
        loc = self.mib.locate(oid)
        if loc is not None and not loc[2]:
            return f"{loc[0]}::{loc[1]}"
        return format_oid(oid)

    def _volatile(self, oid: tuple[int, ...]) -> bool:
        return any(oid[: len(v)] == v for v in self.volatile)

    # --- the entry point ---------------------------------------------------------

    def normalize(
        self, trap: DecodedTrap, sender: SocketAddress, received_at: float
    ) -> FaultEvent:
        """Build the canonical event; NormalizeError if the trap has no trap OID."""
        trap_oid, vbs = self._trap_oid(trap)
        node_id = self._node_id(trap, sender)
        info = self._traps.get(trap_oid)
        if info is None:
            info = self._trap_info(trap_oid)
        fault_code = info[0]

        version = trap.version
        attrs: dict[str, Any] = {
            "snmp_version": _VERSIONS.get(version) or str(version),
            "pdu": "inform" if trap.pdu == PDU_INFORM else "trap",
            "trap_oid": info[1],
            "sender": _hostport(sender),
        }
        if trap.community is not None:
            attrs["community"] = self._text_of(trap.community)
        if trap.user is not None:
            attrs["user"] = trap.user
        if trap.engine_id is not None:
            attrs["engine_id"] = trap.engine_id.hex()
        if trap.context_name:
            attrs["context"] = self._text_of(trap.context_name)
        if version == 0:
            attrs["enterprise"] = format_oid(trap.enterprise or ())
            if trap.agent_addr is not None and len(trap.agent_addr) == 4:
                attrs["agent_addr"] = _ipv4(trap.agent_addr)
            attrs["generic_trap"] = trap.generic_trap
            attrs["specific_trap"] = trap.specific_trap

        # One pass over the varbinds; the same rendering, attribute order, message
        # and identity as _render()-per-varbind (see the class docstring).
        plans = self._plans
        parts = [fault_code]
        identity: list[str] = []
        value: Any
        for oid, kind, raw in vbs:
            plan = plans.get(oid)
            if plan is None:
                plan = self._plan(oid)
            oid_text, name_key, label_key, prefix, role, in_identity, labels = plan
            label: str | None = None
            plain = False  # shown needs no quoting (the decimal text of an int)
            if type(raw) is int:
                # _render for an int: only INTEGER has enum labels; every other kind
                # (counters, gauges, TimeTicks, or an int where bytes were expected)
                # gives value=raw, shown=str(raw).
                value = raw
                if kind == INTEGER and labels is not None:
                    label = labels.get(raw)
                if label:
                    shown = f"{label}({raw})"
                else:
                    shown = str(raw)
                    plain = True
            elif kind == OCTET_STRING:
                value = _text(raw) if isinstance(raw, bytes) else raw
                shown = str(value)
            elif role == _ROLE_TRAP_OID and kind == OID and isinstance(raw, tuple):
                continue  # the trap OID itself: in no attribute, message part or identity
            else:
                r = self._render(VarBind(oid, kind, raw))
                value, label, shown = r.value, r.label, r.shown
            if role == _ROLE_UPTIME:
                attrs["uptime"] = value
                continue
            if role == _ROLE_TRAP_OID:
                continue
            attrs[oid_text] = value
            if name_key is not None:
                attrs[name_key] = value
            if label:
                attrs[label_key] = label
            if in_identity:
                identity.append(f"{oid_text}={kind}:{value!r}")
            if role == _ROLE_PLAIN:
                parts.append(prefix + shown if plain else prefix + _quoted(shown))
        if info[2] is not None:
            attrs["clears"] = info[2]
        identity.sort()
        return FaultEvent(
            event_id=new_id(),
            node_id=node_id,
            source="snmp",
            severity=self._severity(info, vbs) if info[4] else info[3],
            fault_code=fault_code,
            message=" ".join(parts),
            timestamp=received_at,
            received_at=received_at,
            dedup_key=dedup_key(node_id, info[1], "\n".join(identity)),
            attributes=attrs,
        )

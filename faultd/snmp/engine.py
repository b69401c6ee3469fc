"""The pysnmp path: a pysnmp 7 SnmpEngine fed one datagram at a time, without its own transport.

Handles everything the fast path declines: SNMPv3 USM (all auth/priv
protocols pysnmp has), v3 INFORMs with engine discovery, and any v1/v2c
message outside the fast path's strict subset.  Outgoing bytes (INFORM
Responses, discovery Reports) are captured by a stand-in transport
dispatcher and returned to the caller, who owns the socket.

Rejections are labelled by diffing pysnmp's own counters (snmpInBadCommunityNames,
usmStats*, snmpInASNParseErrs, ...) around each message.

Engine ID and boots live under ``<state_directory>/snmp/`` (pysnmp would
write ``/tmp/__pysnmp/`` otherwise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from pyasn1.codec.ber import decoder
from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.proto import error as proto_error
from pysnmp.proto import rfc1155, rfc1902, rfc1905, rfc3411
from pysnmp.proto.api import v1, v2c

from faultd.addresses import SocketAddress
from faultd.parse import ber
from faultd.snmp.types import (
    COUNTER32,
    COUNTER64,
    END_OF_MIB_VIEW,
    GAUGE32,
    INTEGER,
    IP_ADDRESS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    OCTET_STRING,
    OID,
    OPAQUE,
    PDU_INFORM,
    PDU_V1_TRAP,
    PDU_V2_TRAP,
    TIMETICKS,
    DecodedTrap,
    SnmpUser,
    Value,
    VarBind,
)
from faultd.snmp.usm import (
    UserKeys,
    load_engine_state,
)

log = logging.getLogger(__name__)

# pysnmp counter -> rejection label, in the order they are checked.
_COUNTER_LABELS: Final = (
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "community"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", "unknown_engine"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "auth"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "decrypt"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "security_level"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "not_in_time_window"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "unsupported_pdu"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "malformed"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "malformed"),
    ("__SNMPv2-MIB", "snmpInBadVersions", "malformed"),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "malformed"),
)

# pyasn1 tag set -> VarBind kind (rfc1155 and rfc1902 types share their tags).
_KINDS: Final[dict[Any, str]] = {
    univ.Integer.tagSet: INTEGER,
    univ.OctetString.tagSet: OCTET_STRING,
    univ.Null.tagSet: NULL,
    univ.ObjectIdentifier.tagSet: OID,
    rfc1902.IpAddress.tagSet: IP_ADDRESS,
    rfc1902.Counter32.tagSet: COUNTER32,
    rfc1902.Gauge32.tagSet: GAUGE32,
    rfc1902.TimeTicks.tagSet: TIMETICKS,
    rfc1902.Opaque.tagSet: OPAQUE,
    rfc1902.Counter64.tagSet: COUNTER64,
    rfc1905.NoSuchObject.tagSet: NO_SUCH_OBJECT,
    rfc1905.NoSuchInstance.tagSet: NO_SUCH_INSTANCE,
    rfc1905.EndOfMibView.tagSet: END_OF_MIB_VIEW,
}
_INT_KINDS: Final = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_BYTES_KINDS: Final = frozenset({OCTET_STRING, IP_ADDRESS, OPAQUE})

_SEC_LEVEL_NAMES: Final = {1: "noAuthNoPriv", 2: "authNoPriv", 3: "authPriv"}


class EngineResult(NamedTuple):
    """What the pysnmp path made of one datagram."""

    trap: DecodedTrap | None
    response: bytes | None
    rejected: str | None


class _CaptureDispatcher:
    """Stands in for pysnmp's transport dispatcher: records what the engine would send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_message(self, message: bytes, domain: Any, address: Any) -> None:
        self.sent.append(bytes(message))

    def get_timer_ticks(self) -> int:
        return int(time.monotonic())

    def get_timer_resolution(self) -> float:
        return 1.0


class PysnmpPath:
    """A transport-less pysnmp engine that turns datagrams into DecodedTrap or a rejection."""

    def __init__(
        self,
        *,
        communities: Sequence[str],
        users: Sequence[SnmpUser],
        state_directory: Path,
        max_learned_engines: int = 1024,
    ) -> None:
        self.engine_id, boots = load_engine_state(state_directory)
        self._engine = SnmpEngine()
        builder = self._engine.get_mib_builder()
        (eid_sym, boots_sym) = builder.import_symbols(
            "__SNMP-FRAMEWORK-MIB", "snmpEngineID", "snmpEngineBoots"
        )
        eid_sym.syntax = eid_sym.syntax.clone(self.engine_id)
        self._engine.snmpEngineID = eid_sym.syntax
        boots_sym.syntax = boots_sym.syntax.clone(boots)
        self._dispatcher = _CaptureDispatcher()
        self._engine.transport_dispatcher = self._dispatcher
        self._counters = [
            (builder.import_symbols(mod, sym)[0], label) for mod, sym, label in _COUNTER_LABELS
        ]
        self._unknown_engine_counter = self._counters[2][0]

        for i, community in enumerate(communities):
            config.add_v1_system(self._engine, f"c{i}", community)
        self._users: dict[bytes, list[UserKeys]] = {}
        for user in users:
            keys = UserKeys(user)
            self._users.setdefault(user.name.encode(), []).append(keys)
        # (engine_id, user name) rows present in pysnmp's LCD
        self._registered: set[tuple[bytes, bytes]] = set()
        self._learned = 0
        self.max_learned_engines = max_learned_engines
        for name, keyset in self._users.items():
            # Our own engine: INFORMs (we are authoritative); first configuration wins.
            self._register(self.engine_id, name, keyset[0])
            for keys in keyset:
                if keys.engine_id is not None:
                    self._register(keys.engine_id, name, keys)

        self._engine.message_dispatcher.register_context_engine_id(
            b"",
            (v1.TrapPDU.tagSet, v2c.SNMPv2TrapPDU.tagSet, v2c.InformRequestPDU.tagSet),
            self._process_pdu,
        )
        self._engine.observer.register_observer(
            self._observe, "rfc2576.processIncomingMsg", "rfc3414.processIncomingMsg"
        )
        self._scope: dict[str, Any] = {}
        self._trap: DecodedTrap | None = None
        self._last_tick = 0.0

    # --- configuration -------------------------------------------------------

    def _register(self, engine_id: bytes, name: bytes, keys: UserKeys) -> None:
        if (engine_id, name) in self._registered:
            return
        auth, priv = keys.localized(engine_id)
        config.add_v3_user(
            self._engine,
            name,
            keys.auth_oid,
            auth,
            keys.priv_oid,
            priv,
            securityEngineId=rfc1902.OctetString(engine_id),
            authKeyType=config.USM_KEY_TYPE_LOCALIZED,
            privKeyType=config.USM_KEY_TYPE_LOCALIZED,
        )
        self._registered.add((engine_id, name))

    def _route_v3(self, data: bytes) -> str | None:
        """Pre-check a v3 message against our user table; learn engines; return a rejection."""
        hdr = ber.v3_header(data)
        if hdr is None or hdr.security_model != 3:
            return None  # let pysnmp count it
        if hdr.engine_id == self.engine_id or not hdr.user:
            return None  # addressed to us (INFORM, discovery): pysnmp's USM decides
        keyset = self._users.get(hdr.user)
        if keyset is None:
            return "unknown_user"
        # pysnmp checks the security level only when it is the authoritative
        # engine; for traps we must, or a noAuthNoPriv message naming an
        # authPriv user would be accepted unauthenticated.
        level = {0: 1, 1: 2, 3: 3}.get(hdr.flags & 0x03)
        if level is None:
            return "malformed"
        candidates = [k for k in keyset if k.engine_id in (None, hdr.engine_id)]
        if not candidates:
            return "unknown_engine"
        keys = next((k for k in candidates if k.engine_id == hdr.engine_id), candidates[0])
        if level != keys.level:
            return "security_level"
        if (hdr.engine_id, hdr.user) in self._registered:
            return None
        if not 5 <= len(hdr.engine_id) <= 32:
            return "unknown_engine"
        if self._learned >= self.max_learned_engines:
            log.warning(
                "SNMPv3: learned-engine limit reached, refusing engine %s", hdr.engine_id.hex()
            )
            return "unknown_engine"
        if keys.level >= 2:
            auth, _ = keys.localized(hdr.engine_id)
            if not keys.digest_ok(auth, hdr.auth_params, data):
                return "auth"
        self._register(hdr.engine_id, hdr.user, keys)
        self._learned += 1
        log.info(
            "SNMPv3: learned engine %s for user %s",
            hdr.engine_id.hex(),
            hdr.user.decode(errors="replace"),
        )
        return None

    # --- pysnmp callbacks -----------------------------------------------------

    def _observe(self, engine: Any, execpoint: str, variables: dict[str, Any], ctx: Any) -> None:
        self._scope = variables

    def _process_pdu(
        self,
        engine: Any,
        mp_model: Any,
        sec_model: Any,
        sec_name: Any,
        sec_level: Any,
        context_engine_id: Any,
        context_name: Any,
        pdu_version: Any,
        pdu: Any,
        max_size: Any,
        state_reference: Any,
    ) -> None:
        mp = int(mp_model)
        trap = _from_v1(pdu) if pdu.tagSet == v1.TrapPDU.tagSet else _from_v2(pdu, mp)
        if mp in (0, 1):
            community = self._scope.get("communityName")
            trap = _replace(trap, community=bytes(community) if community is not None else b"")
        else:
            trap = _replace(
                trap,
                user=bytes(self._scope.get("userName", b"")).decode("utf-8", "replace"),
                engine_id=bytes(self._scope.get("securityEngineId", b"")),
                context_name=bytes(context_name),
            )
        self._trap = trap
        if pdu.tagSet in rfc3411.CONFIRMED_CLASS_PDUS:
            rsp = v2c.apiPDU.get_response(pdu)
            v2c.apiPDU.set_error_status(rsp, 0)
            v2c.apiPDU.set_error_index(rsp, 0)
            v2c.apiPDU.set_varbinds(rsp, v2c.apiPDU.get_varbinds(pdu))
            try:
                engine.message_dispatcher.return_response_pdu(
                    engine,
                    mp_model,
                    sec_model,
                    sec_name,
                    sec_level,
                    context_engine_id,
                    context_name,
                    pdu_version,
                    rsp,
                    max_size,
                    state_reference,
                    {},
                )
            except proto_error.StatusInformation as exc:
                log.debug("SNMP: could not answer INFORM: %s", exc)
            if mp in (0, 1) and self._dispatcher.sent:
                # pysnmp's v1/v2c message processing swaps a confirmed PDU's
                # request-id for an internal one and restores it only in the
                # encoded Response: read the sender's request-id back from there.
                self._trap = _replace(
                    trap, request_id=_response_request_id(self._dispatcher.sent[-1])
                )

    # --- the entry point -------------------------------------------------------

    def receive(self, data: bytes, sender: SocketAddress, now: float) -> EngineResult:
        """Process one datagram; never raises."""
        if now - self._last_tick >= 1.0:
            self._tick()
            self._last_tick = now
        if ber.message_version(data) == 3:
            reason = self._route_v3(data)
            if reason is not None:
                return EngineResult(None, None, reason)
        before = [int(c.syntax) for c, _ in self._counters]
        self._trap = None
        self._scope = {}
        self._dispatcher.sent.clear()
        domain = udp6.DOMAIN_NAME if ":" in sender[0] else udp.DOMAIN_NAME
        try:
            self._engine.message_dispatcher.receive_message(
                self._engine, domain, (sender[0], sender[1]), data
            )
        except Exception:  # pysnmp bug or unexpected input: count, never crash
            log.debug("pysnmp raised on a datagram from %s", sender, exc_info=True)
            return EngineResult(None, None, "malformed")
        response = self._dispatcher.sent[-1] if self._dispatcher.sent else None
        trap, self._trap = self._trap, None
        if trap is not None:
            if trap.generic_trap is not None and not 0 <= trap.generic_trap <= 6:
                return EngineResult(None, None, "malformed")
            return EngineResult(trap, response, None)
        label = "malformed"
        for (counter, name), old in zip(self._counters, before, strict=True):
            if int(counter.syntax) != old:
                label = name
                break
        if label == "unknown_engine" and response is not None:
            return EngineResult(None, response, None)  # engine discovery answered: normal
        return EngineResult(None, response, label)

    def _tick(self) -> None:
        """Drive pysnmp's cache expiry (its timer would otherwise never run)."""
        eng = self._engine
        ticks = self._dispatcher.get_timer_ticks()
        try:
            eng.message_dispatcher.receive_timer_tick(eng, ticks)
            for mp in eng.message_processing_subsystems.values():
                mp.receive_timer_tick(eng, ticks)
            for sm in eng.security_models.values():
                sm.receive_timer_tick(eng, ticks)
        except Exception:
            log.debug("pysnmp timer tick failed", exc_info=True)


def _replace(trap: DecodedTrap, **changes: Any) -> DecodedTrap:
    fields = {f: getattr(trap, f) for f in DecodedTrap.__slots__}
    fields.update(changes)
    return DecodedTrap(**fields)


def _response_request_id(data: bytes) -> int | None:
    msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
    return int(v2c.apiPDU.get_request_id(v2c.apiMessage.get_pdu(msg)))


def _varbind(name: Any, value: Any) -> VarBind:
    kind = _KINDS.get(value.tagSet)
    if kind is None:  # cannot happen for the specs pysnmp decodes with
        raise ValueError(f"unexpected varbind type {value.tagSet}")
    py: Value
    if kind in _INT_KINDS:
        py = int(value)
    elif kind in _BYTES_KINDS:
        py = value.asOctets()
    elif kind == OID:
        py = tuple(value)
    else:
        py = None
    return VarBind(tuple(name), kind, py)


def _from_v1(pdu: Any) -> DecodedTrap:
    api = v1.apiTrapPDU
    return DecodedTrap(
        version=0,
        pdu=PDU_V1_TRAP,
        varbinds=tuple(_varbind(n, v) for n, v in api.get_varbinds(pdu)),
        enterprise=tuple(api.get_enterprise(pdu)),
        agent_addr=_agent_addr(api.get_agent_address(pdu)),
        generic_trap=int(api.get_generic_trap(pdu)),
        specific_trap=int(api.get_specific_trap(pdu)),
        time_stamp=int(api.get_timestamp(pdu)),
    )


def _agent_addr(value: Any) -> bytes:
    if isinstance(value, rfc1155.NetworkAddress):
        value = value.getComponent()
    return bytes(value.asOctets())


def _from_v2(pdu: Any, mp: int) -> DecodedTrap:
    api = v2c.apiPDU
    return DecodedTrap(
        version=3 if mp == 3 else 1,
        pdu=PDU_INFORM if pdu.tagSet == v2c.InformRequestPDU.tagSet else PDU_V2_TRAP,
        varbinds=tuple(_varbind(n, v) for n, v in api.get_varbinds(pdu)),
        request_id=int(api.get_request_id(pdu)),
    )


def security_level_name(level: int) -> str:
    """USM security level number -> its RFC 3411 name."""
    return _SEC_LEVEL_NAMES.get(level, str(level))

"""Fast-path BER decoder for SNMPv1 Trap-PDU, SNMPv2c SNMPv2-Trap and InformRequest.

This is a deliberate deviation from the library for speed (DESIGN.md: pysnmp's
engine path costs 650-1,300 us per trap, ~89 % of it pyasn1; this decoder
takes ~10-20 us).  It decodes a strict *subset* of what pysnmp accepts and
declines (returns None) everything else, so the datagram goes on to the
pysnmp path, which then decides:

* message versions 0 and 1 only (v3 is always pysnmp's);
* v1 carries only Trap-PDU, v2c only SNMPv2-Trap / InformRequest;
* definite lengths only (no indefinite form), long form up to 4 length
  octets (net-snmp always uses the non-minimal 0x82 form for sequences,
  which BER allows and pyasn1 accepts, so we accept it too);
* no trailing octets after the message, none inside any constructed value;
* primitive encodings only (a constructed OCTET STRING is declined);
* INTEGERs non-empty (pyasn1 reads an empty INTEGER as 0; we decline it)
  and at most 9 octets, values inside the pysnmp type's range
  (Integer32 for v2c, Counter32/Gauge32/TimeTicks 0..2^32-1, Counter64
  0..2^64-1), else declined so pysnmp applies its own constraint check;
* OIDs without 0x80 padding octets and arcs of at most 5 octets;
* v2c error-status and error-index must both be 0; v1 generic-trap 0..6.

Every accepted message decodes to the same DecodedTrap (OIDs and typed
values) as faultd.snmp.engine produces through pysnmp; tests/snmp/
test_differential.py proves it with hypothesis-generated and net-snmp-captured
messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final, NamedTuple

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
    Value,
    VarBind,
)

__all__ = ["V3Header", "decode", "inform_response", "message_version", "v3_header"]

TAG_INTEGER: Final = 0x02
TAG_OCTET_STRING: Final = 0x04
TAG_NULL: Final = 0x05
TAG_OID: Final = 0x06
TAG_SEQUENCE: Final = 0x30
TAG_IPADDRESS: Final = 0x40
TAG_COUNTER32: Final = 0x41
TAG_GAUGE32: Final = 0x42
TAG_TIMETICKS: Final = 0x43
TAG_OPAQUE: Final = 0x44
TAG_COUNTER64: Final = 0x46
TAG_NO_SUCH_OBJECT: Final = 0x80
TAG_NO_SUCH_INSTANCE: Final = 0x81
TAG_END_OF_MIB_VIEW: Final = 0x82
TAG_V1_TRAP: Final = 0xA4
TAG_RESPONSE: Final = 0xA2
TAG_INFORM: Final = 0xA6
TAG_V2_TRAP: Final = 0xA7

_U32: Final = 0xFFFF_FFFF
_U64: Final = 0xFFFF_FFFF_FFFF_FFFF
_I32_MIN: Final = -0x8000_0000
_I32_MAX: Final = 0x7FFF_FFFF
_MAX_INT_OCTETS: Final = 9  # enough for Counter64 with its sign octet
_MAX_ARC_OCTETS: Final = 5

_UNSIGNED_KIND: Final = {TAG_COUNTER32: COUNTER32, TAG_GAUGE32: GAUGE32, TAG_TIMETICKS: TIMETICKS}
_EXCEPTION_KIND: Final = {
    TAG_NO_SUCH_OBJECT: NO_SUCH_OBJECT,
    TAG_NO_SUCH_INSTANCE: NO_SUCH_INSTANCE,
    TAG_END_OF_MIB_VIEW: END_OF_MIB_VIEW,
}


def _make_v2c_trap() -> Callable[[str, tuple[VarBind, ...], int, bytes], DecodedTrap]:
    """A constructor for the v2c DecodedTrap, ~1 us cheaper than the frozen dataclass's.

    A frozen dataclass's __init__ sets each of its 13 fields through
    object.__setattr__; the slot descriptors' own __set__ does the same store
    without the lookups.  The result is the same object (tests/snmp compare it
    with ``==`` against DecodedTrap(...)).  Should DecodedTrap's fields ever
    change, this falls back to the dataclass constructor.
    """
    names = tuple(f.name for f in dataclasses.fields(DecodedTrap))
    if names != _V2C_FIELDS:
        def plain(pdu: str, varbinds: tuple[VarBind, ...], request_id: int,
                  community: bytes) -> DecodedTrap:
            return DecodedTrap(version=1, pdu=pdu, varbinds=varbinds, request_id=request_id,
                               community=community)  # fmt: skip

        return plain
    (s_version, s_pdu, s_varbinds, s_request_id, s_community, s_user, s_engine_id,
     s_context_name, s_enterprise, s_agent_addr, s_generic_trap, s_specific_trap,
     s_time_stamp) = (DecodedTrap.__dict__[name].__set__ for name in names)  # fmt: skip
    new = object.__new__

    def fast(pdu: str, varbinds: tuple[VarBind, ...], request_id: int,
             community: bytes) -> DecodedTrap:
        trap: DecodedTrap = new(DecodedTrap)
        s_version(trap, 1)
        s_pdu(trap, pdu)
        s_varbinds(trap, varbinds)
        s_request_id(trap, request_id)
        s_community(trap, community)
        s_user(trap, None)
        s_engine_id(trap, None)
        s_context_name(trap, None)
        s_enterprise(trap, None)
        s_agent_addr(trap, None)
        s_generic_trap(trap, None)
        s_specific_trap(trap, None)
        s_time_stamp(trap, None)
        return trap

    return fast


_V2C_FIELDS: Final = (
    "version", "pdu", "varbinds", "request_id", "community", "user", "engine_id",
    "context_name", "enterprise", "agent_addr", "generic_trap", "specific_trap", "time_stamp",
)  # fmt: skip
_v2c_trap = _make_v2c_trap()


class _Decline(Exception):
    """Internal: the input is outside the subset this decoder fully understands."""


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one tag + length at pos; return (tag, value_start, value_end) inside end."""
    if pos + 2 > end:
        raise _Decline
    tag = data[pos]
    if tag & 0x1F == 0x1F:  # high-tag-number form: nothing SNMP needs
        raise _Decline
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > end:  # 0 = indefinite form
            raise _Decline
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    vend = pos + length
    if vend > end:
        raise _Decline
    return tag, pos, vend


def _integer(data: bytes, start: int, end: int) -> int:
    n = end - start
    if n == 0 or n > _MAX_INT_OCTETS:
        raise _Decline
    # Non-minimal encodings (pyasn1 itself encodes -128 as ff 80) are accepted:
    # pyasn1 decodes them with the same int.from_bytes(signed=True).
    return int.from_bytes(data[start:end], "big", signed=True)


def _oid(data: bytes, start: int, end: int) -> tuple[int, ...]:
    if start == end:
        raise _Decline
    chunk = data[start:end]
    if max(chunk) < 0x80:  # every arc a single octet: the common case
        first = chunk[0]
        if first < 40:
            return (0, *chunk)
        if first < 80:
            return (1, first - 40, *chunk[1:])
        return (2, first - 80, *chunk[1:])
    arcs: list[int] = []
    append = arcs.append
    value = 0
    octets = 0
    for i in range(start, end):
        b = data[i]
        if octets == 0 and b == 0x80:  # leading padding octet (pyasn1 refuses it too)
            raise _Decline
        octets += 1
        if b < 0x80:
            append((value << 7) | b)
            value = 0
            octets = 0
        else:
            if octets >= _MAX_ARC_OCTETS:
                raise _Decline
            value = (value << 7) | (b & 0x7F)
    if octets:  # last arc unterminated
        raise _Decline
    first = arcs[0]
    if first < 40:
        return (0, *arcs)
    if first < 80:
        return (1, first - 40, *arcs[1:])
    return (2, first - 80, *arcs[1:])


def _value(data: bytes, tag: int, s: int, e: int, v2: bool) -> tuple[str, Value]:
    if tag == TAG_INTEGER:
        value = _integer(data, s, e)
        if v2 and not _I32_MIN <= value <= _I32_MAX:
            raise _Decline
        return INTEGER, value
    if tag == TAG_OCTET_STRING:
        return OCTET_STRING, data[s:e]
    if tag == TAG_OID:
        return OID, _oid(data, s, e)
    kind = _UNSIGNED_KIND.get(tag)
    if kind is not None:
        value = _integer(data, s, e)
        if not 0 <= value <= _U32:
            raise _Decline
        return kind, value
    if tag == TAG_IPADDRESS:
        if e - s != 4:
            raise _Decline
        return IP_ADDRESS, data[s:e]
    if tag == TAG_NULL:
        if e != s:
            raise _Decline
        return NULL, None
    if tag == TAG_OPAQUE:
        return OPAQUE, data[s:e]
    if v2:
        if tag == TAG_COUNTER64:
            value = _integer(data, s, e)
            if not 0 <= value <= _U64:
                raise _Decline
            return COUNTER64, value
        kind = _EXCEPTION_KIND.get(tag)
        if kind is not None:
            if e != s:
                raise _Decline
            return kind, None
    raise _Decline


_OID_CACHE: dict[bytes, tuple[int, ...]] = {}
_OID_CACHE_MAX: Final = 16384
# Only OIDs up to this many encoded octets are cached, so a flood of huge distinct
# OIDs cannot grow the cache past ~16384 x (64 octets + a short tuple).
_OID_CACHE_KEY_MAX: Final = 64
_new_tuple = tuple.__new__


def _varbinds(data: bytes, pos: int, end: int, v2: bool) -> tuple[VarBind, ...]:
    """The VarBindList; the short-form TLV headers of the common case are read inline.

    Inline reads do exactly what _header does for a short-form length (tag check,
    bounds); long forms go through _header.  OIDs are cached by their encoded
    octets (_oid depends on nothing else), and INTEGER / OCTET STRING values,
    nearly all varbinds, are decoded in place; other tags go through _value.
    """
    tag, pos, lend = _header(data, pos, end)
    if tag != TAG_SEQUENCE or lend != end:
        raise _Decline
    out: list[VarBind] = []
    append = out.append
    oids = _OID_CACHE
    while pos < lend:
        # VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value ... }
        if pos + 2 > lend or data[pos] != TAG_SEQUENCE:
            raise _Decline
        n = data[pos + 1]
        if n < 0x80:
            vs = pos + 2
            ve = vs + n
            if ve > lend:
                raise _Decline
        else:
            _, vs, ve = _header(data, pos, lend)
        if vs + 2 > ve or data[vs] != TAG_OID:
            raise _Decline
        n = data[vs + 1]
        if n < 0x80:
            os_ = vs + 2
            oe = os_ + n
            if oe > ve:
                raise _Decline
        else:
            _, os_, oe = _header(data, vs, ve)
        key = data[os_:oe]
        oid = oids.get(key)
        if oid is None:
            oid = _oid(data, os_, oe)
            if oe - os_ <= _OID_CACHE_KEY_MAX:
                if len(oids) >= _OID_CACHE_MAX:
                    oids.clear()
                oids[key] = oid
        if oe + 2 > ve:
            raise _Decline
        tag = data[oe]
        n = data[oe + 1]
        if n < 0x80 and tag & 0x1F != 0x1F:
            s = oe + 2
            e = s + n
        else:
            tag, s, e = _header(data, oe, ve)
        if e != ve:
            raise _Decline
        value: Value
        if tag == TAG_INTEGER:
            if s == e or e - s > _MAX_INT_OCTETS:
                raise _Decline
            value = int.from_bytes(data[s:e], "big", signed=True)
            if v2 and not _I32_MIN <= value <= _I32_MAX:
                raise _Decline
            append(_new_tuple(VarBind, (oid, INTEGER, value)))
        elif tag == TAG_OCTET_STRING:
            append(_new_tuple(VarBind, (oid, OCTET_STRING, data[s:e])))
        elif tag == TAG_OID and s != e:  # empty: _value declines it
            key = data[s:e]
            value = oids.get(key)
            if value is None:
                value = _oid(data, s, e)
                if e - s <= _OID_CACHE_KEY_MAX:
                    if len(oids) >= _OID_CACHE_MAX:
                        oids.clear()
                    oids[key] = value
            append(_new_tuple(VarBind, (oid, OID, value)))
        elif tag == TAG_TIMETICKS:
            if s == e or e - s > _MAX_INT_OCTETS:
                raise _Decline
            value = int.from_bytes(data[s:e], "big", signed=True)
            if not 0 <= value <= _U32:
                raise _Decline
            append(_new_tuple(VarBind, (oid, TIMETICKS, value)))
        else:
            kind, value = _value(data, tag, s, e, v2)
            append(_new_tuple(VarBind, (oid, kind, value)))
        pos = ve
    return tuple(out)


def _small_int(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An INTEGER at pos: (value, end); _header + _integer with the short form inline."""
    if pos + 2 > end or data[pos] != TAG_INTEGER:
        raise _Decline
    n = data[pos + 1]
    if n < 0x80:
        s = pos + 2
        e = s + n
        if e > end:
            raise _Decline
    else:
        _, s, e = _header(data, pos, end)
    if s == e or e - s > _MAX_INT_OCTETS:
        raise _Decline
    return int.from_bytes(data[s:e], "big", signed=True), e


def _decode(data: bytes) -> DecodedTrap:
    n = len(data)
    tag, pos, end = _header(data, 0, n)
    if tag != TAG_SEQUENCE or end != n:  # trailing garbage: let pysnmp decide
        raise _Decline
    version, pos = _small_int(data, pos, end)
    if version not in (0, 1):
        raise _Decline
    tag, s, e = _header(data, pos, end)
    if tag != TAG_OCTET_STRING:
        raise _Decline
    community = data[s:e]
    pdu_tag, pos, pend = _header(data, e, end)
    if pend != end:
        raise _Decline
    if version == 0:
        if pdu_tag != TAG_V1_TRAP:
            raise _Decline
        tag, s, e = _header(data, pos, pend)
        if tag != TAG_OID:
            raise _Decline
        enterprise = _oid(data, s, e)
        tag, s, pos = _header(data, e, pend)
        if tag != TAG_IPADDRESS or pos - s != 4:
            raise _Decline
        agent_addr = data[s:pos]
        generic, pos = _small_int(data, pos, pend)
        if not 0 <= generic <= 6:
            raise _Decline
        specific, pos = _small_int(data, pos, pend)
        tag, s, pos = _header(data, pos, pend)
        if tag != TAG_TIMETICKS:
            raise _Decline
        stamp = _integer(data, s, pos)
        if not 0 <= stamp <= _U32:
            raise _Decline
        return DecodedTrap(
            version=0,
            pdu=PDU_V1_TRAP,
            varbinds=_varbinds(data, pos, pend, False),
            community=community,
            enterprise=enterprise,
            agent_addr=agent_addr,
            generic_trap=generic,
            specific_trap=specific,
            time_stamp=stamp,
        )
    if pdu_tag == TAG_V2_TRAP:
        kind = PDU_V2_TRAP
    elif pdu_tag == TAG_INFORM:
        kind = PDU_INFORM
    else:
        raise _Decline
    request_id, pos = _small_int(data, pos, pend)
    if not _I32_MIN <= request_id <= _I32_MAX:
        raise _Decline
    error_status, pos = _small_int(data, pos, pend)
    error_index, pos = _small_int(data, pos, pend)
    if error_status or error_index:
        raise _Decline
    return _v2c_trap(kind, _varbinds(data, pos, pend, True), request_id, community)


def decode(data: bytes) -> DecodedTrap | None:
    """Decode a v1 Trap / v2c Trap / v2c Inform message, or return None ("not mine").

    Never raises on any input.  None means only that this decoder does not
    vouch for the datagram; the caller hands it to the pysnmp path.
    """
    try:
        return _decode(data)
    except (_Decline, IndexError):
        return None


def message_version(data: bytes) -> int | None:
    """The message version field (0, 1, 3) if the outer framing is readable, else None."""
    try:
        _, pos, end = _header(data, 0, len(data))
        version, _ = _small_int(data, pos, end)
    except (_Decline, IndexError):
        return None
    return version


def inform_response(data: bytes) -> bytes:
    """The v2c Response to an InformRequest that ``decode`` accepted.

    Deviation for speed: rather than re-encoding, copy the request and change
    only the PDU tag (0xA6 -> 0xA2).  ``decode`` accepts an inform only with
    error-status 0 and error-index 0, so the copy *is* the RFC 3416 §4.2.7
    Response: same version, community, request-id and varbinds, error-status
    and error-index 0.  Lengths keep the sender's (valid BER) form.
    tests/snmp/test_differential.py decodes it with pysnmp, and the receiver
    tests check that net-snmp's snmpinform accepts it (exit 0).
    """
    _, pos, end = _header(data, 0, len(data))
    _, pos = _small_int(data, pos, end)
    _, _, e = _header(data, pos, end)
    if data[e] != TAG_INFORM:
        raise ValueError("not an InformRequest")
    return data[:e] + bytes((TAG_RESPONSE,)) + data[e + 1 :]


class V3Header(NamedTuple):
    """The cleartext USM fields of an SNMPv3 message (RFC 3412 §6, RFC 3414 §2.4)."""

    flags: int
    security_model: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    user: bytes
    auth_params: bytes


def v3_header(data: bytes) -> V3Header | None:
    """Peek at an SNMPv3 message's header and USM security parameters; None if unreadable.

    Used only to route (which user, which engine, which security level) before
    pysnmp processes the message; pysnmp still parses and verifies everything.
    """
    try:
        n = len(data)
        tag, pos, end = _header(data, 0, n)
        if tag != TAG_SEQUENCE:
            return None
        version, pos = _small_int(data, pos, end)
        if version != 3:
            return None
        tag, hs, he = _header(data, pos, end)
        if tag != TAG_SEQUENCE:
            return None
        _, p = _small_int(data, hs, he)  # msgID
        _, p = _small_int(data, p, he)  # msgMaxSize
        tag, s, e = _header(data, p, he)
        if tag != TAG_OCTET_STRING or e - s != 1:
            return None
        flags = data[s]
        security_model, _ = _small_int(data, e, he)
        tag, ss, se = _header(data, he, end)
        if tag != TAG_OCTET_STRING:
            return None
        tag, ps, pe = _header(data, ss, se)
        if tag != TAG_SEQUENCE:
            return None
        tag, s, e = _header(data, ps, pe)
        if tag != TAG_OCTET_STRING:
            return None
        engine_id = data[s:e]
        boots, p = _small_int(data, e, pe)
        etime, p = _small_int(data, p, pe)
        tag, s, e = _header(data, p, pe)
        if tag != TAG_OCTET_STRING:
            return None
        user = data[s:e]
        tag, s, e = _header(data, e, pe)
        if tag != TAG_OCTET_STRING:
            return None
        return V3Header(flags, security_model, engine_id, boots, etime, user, data[s:e])
    except (_Decline, IndexError):
        return None

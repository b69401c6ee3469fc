"""Decoded SNMP notification types shared by the fast path, the pysnmp path and normalization.

Both decoders (faultd.parse.ber and faultd.snmp.engine) produce exactly these
values, so the differential tests can compare them with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

# Value kinds carried in VarBind.kind (SMIv2 names; v1 Counter/Gauge map to
# Counter32/Gauge32 since they share the tag and the range).
INTEGER: Final = "Integer"
OCTET_STRING: Final = "OctetString"
NULL: Final = "Null"
OID: Final = "ObjectIdentifier"
IP_ADDRESS: Final = "IpAddress"
COUNTER32: Final = "Counter32"
GAUGE32: Final = "Gauge32"
TIMETICKS: Final = "TimeTicks"
OPAQUE: Final = "Opaque"
COUNTER64: Final = "Counter64"
NO_SUCH_OBJECT: Final = "NoSuchObject"
NO_SUCH_INSTANCE: Final = "NoSuchInstance"
END_OF_MIB_VIEW: Final = "EndOfMibView"

# PDU kinds in DecodedTrap.pdu
PDU_V1_TRAP: Final = "trap"
PDU_V2_TRAP: Final = "v2trap"
PDU_INFORM: Final = "inform"

Value = int | bytes | tuple[int, ...] | None
"""Python value of a varbind: int (INTEGER, counters, gauges, ticks), bytes
(OCTET STRING, Opaque, IpAddress as its 4 raw bytes), tuple (OID), None (NULL
and the v2 exception values)."""


class VarBind(NamedTuple):
    """One variable binding: OID, SMI value kind and Python value."""

    oid: tuple[int, ...]
    kind: str
    value: Value


@dataclass(frozen=True, slots=True)
class DecodedTrap:
    """One accepted SNMP notification, before normalization.

    ``version`` is the message version field: 0 = SNMPv1, 1 = SNMPv2c, 3 = SNMPv3.
    For v1 the Trap-PDU fields (enterprise ... time_stamp) are set and
    ``request_id`` is None; for v2c/v3 they are None.  ``community`` is set
    for v1/v2c, ``user`` and ``engine_id`` (the USM security engine) for v3.
    """

    version: int
    pdu: str
    varbinds: tuple[VarBind, ...]
    request_id: int | None = None
    community: bytes | None = None
    user: str | None = None
    engine_id: bytes | None = None
    context_name: bytes | None = None
    enterprise: tuple[int, ...] | None = None
    agent_addr: bytes | None = None
    generic_trap: int | None = None
    specific_trap: int | None = None
    time_stamp: int | None = None


@dataclass(frozen=True, slots=True)
class SnmpUser:
    """One SNMPv3 USM user as configured (snmp.users[] in the YAML).

    auth_protocol: none|md5|sha|sha224|sha256|sha384|sha512
    priv_protocol: none|des|3des|aes|aes192|aes256|aes192c|aes256c
      (aes192/aes256 = Blumenthal key extension as net-snmp does it;
      aes192c/aes256c = Reeder key extension as Cisco does it)
    engine_id: the sender's authoritative engine ID in hex (0x optional);
      None = any engine, learned on first authentic message.
    Keys are pass phrases.
    """

    name: str
    auth_protocol: str = "none"
    auth_key: str | None = None
    priv_protocol: str = "none"
    priv_key: str | None = None
    engine_id: str | None = None

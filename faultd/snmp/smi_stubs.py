"""ASN.1 stubs of the SMI base modules, for pysmi's symbol table only.

pysmi never generates code for these (they are its "base MIBs"; pysnmp ships
the real ones); it only parses them to learn which names exist, their OIDs
and base types.  The definitions follow RFC 2578/2579/2580 (SMIv2) and RFC
1155/1212/1213/1215 (SMIv1); MACRO bodies are omitted.
"""

from __future__ import annotations

from typing import Final

_SNMPV2_SMI: Final = """
SNMPv2-SMI DEFINITIONS ::= BEGIN
org            OBJECT IDENTIFIER ::= { iso 3 }
dod            OBJECT IDENTIFIER ::= { org 6 }
internet       OBJECT IDENTIFIER ::= { dod 1 }
directory      OBJECT IDENTIFIER ::= { internet 1 }
mgmt           OBJECT IDENTIFIER ::= { internet 2 }
mib-2          OBJECT IDENTIFIER ::= { mgmt 1 }
transmission   OBJECT IDENTIFIER ::= { mib-2 10 }
experimental   OBJECT IDENTIFIER ::= { internet 3 }
private        OBJECT IDENTIFIER ::= { internet 4 }
enterprises    OBJECT IDENTIFIER ::= { private 1 }
security       OBJECT IDENTIFIER ::= { internet 5 }
snmpV2         OBJECT IDENTIFIER ::= { internet 6 }
snmpDomains    OBJECT IDENTIFIER ::= { snmpV2 1 }
snmpProxys     OBJECT IDENTIFIER ::= { snmpV2 2 }
snmpModules    OBJECT IDENTIFIER ::= { snmpV2 3 }
zeroDotZero    OBJECT IDENTIFIER ::= { 0 0 }
Integer32 ::= INTEGER (-2147483648..2147483647)
IpAddress ::= [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
Counter32 ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
Gauge32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
Unsigned32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
TimeTicks ::= [APPLICATION 3] IMPLICIT INTEGER (0..4294967295)
Opaque ::= [APPLICATION 4] IMPLICIT OCTET STRING
Counter64 ::= [APPLICATION 6] IMPLICIT INTEGER (0..18446744073709551615)
END
"""

_TC_BODY: Final = (
    ("DisplayString", '"255a"', "OCTET STRING (SIZE (0..255))"),
    ("PhysAddress", '"1x:"', "OCTET STRING"),
    ("MacAddress", '"1x:"', "OCTET STRING (SIZE (6))"),
    ("TruthValue", None, "INTEGER { true(1), false(2) }"),
    ("TestAndIncr", None, "INTEGER (0..2147483647)"),
    ("AutonomousType", None, "OBJECT IDENTIFIER"),
    ("InstancePointer", None, "OBJECT IDENTIFIER"),
    ("VariablePointer", None, "OBJECT IDENTIFIER"),
    ("RowPointer", None, "OBJECT IDENTIFIER"),
    (
        "RowStatus",
        None,
        "INTEGER { active(1), notInService(2), notReady(3), createAndGo(4), "
        "createAndWait(5), destroy(6) }",
    ),
    ("TimeStamp", None, "TimeTicks"),
    ("TimeInterval", None, "INTEGER (0..2147483647)"),
    ("DateAndTime", '"2d-1d-1d,1d:1d:1d.1d,1a1d:1d"', "OCTET STRING (SIZE (8 | 11))"),
    (
        "StorageType",
        None,
        "INTEGER { other(1), volatile(2), nonVolatile(3), permanent(4), readOnly(5) }",
    ),
    ("TDomain", None, "OBJECT IDENTIFIER"),
    ("TAddress", None, "OCTET STRING (SIZE (1..255))"),
)


def _tc_module() -> str:
    parts = ["SNMPv2-TC DEFINITIONS ::= BEGIN", "IMPORTS TimeTicks FROM SNMPv2-SMI;"]
    for name, hint, syntax in _TC_BODY:
        parts.append(f"{name} ::= TEXTUAL-CONVENTION")
        if hint:
            parts.append(f"    DISPLAY-HINT {hint}")
        parts.append('    STATUS current\n    DESCRIPTION "stub"')
        parts.append(f"    SYNTAX {syntax}")
    parts.append("END")
    return "\n".join(parts) + "\n"


_RFC1155_SMI: Final = """
RFC1155-SMI DEFINITIONS ::= BEGIN
internet      OBJECT IDENTIFIER ::= { iso org(3) dod(6) 1 }
directory     OBJECT IDENTIFIER ::= { internet 1 }
mgmt          OBJECT IDENTIFIER ::= { internet 2 }
experimental  OBJECT IDENTIFIER ::= { internet 3 }
private       OBJECT IDENTIFIER ::= { internet 4 }
enterprises   OBJECT IDENTIFIER ::= { private 1 }
NetworkAddress ::= CHOICE { internet IpAddress }
IpAddress ::= [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
Counter ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
Gauge ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
TimeTicks ::= [APPLICATION 3] IMPLICIT INTEGER (0..4294967295)
Opaque ::= [APPLICATION 4] IMPLICIT OCTET STRING
END
"""

_RFC1213_MIB: Final = """
RFC1213-MIB DEFINITIONS ::= BEGIN
IMPORTS mgmt FROM RFC1155-SMI;
DisplayString ::= OCTET STRING
PhysAddress ::= OCTET STRING
mib-2      OBJECT IDENTIFIER ::= { mgmt 1 }
system     OBJECT IDENTIFIER ::= { mib-2 1 }
interfaces OBJECT IDENTIFIER ::= { mib-2 2 }
at         OBJECT IDENTIFIER ::= { mib-2 3 }
ip         OBJECT IDENTIFIER ::= { mib-2 4 }
icmp       OBJECT IDENTIFIER ::= { mib-2 5 }
tcp        OBJECT IDENTIFIER ::= { mib-2 6 }
udp        OBJECT IDENTIFIER ::= { mib-2 7 }
egp        OBJECT IDENTIFIER ::= { mib-2 8 }
transmission OBJECT IDENTIFIER ::= { mib-2 10 }
snmp       OBJECT IDENTIFIER ::= { mib-2 11 }
END
"""

STUBS: Final[dict[str, str]] = {
    "SNMPv2-SMI": _SNMPV2_SMI,
    "SNMPv2-TC": _tc_module(),
    "SNMPv2-CONF": "SNMPv2-CONF DEFINITIONS ::= BEGIN\nEND\n",
    "RFC1155-SMI": _RFC1155_SMI,
    "RFC-1212": "RFC-1212 DEFINITIONS ::= BEGIN\nEND\n",
    "RFC-1215": "RFC-1215 DEFINITIONS ::= BEGIN\nEND\n",
    "RFC1213-MIB": _RFC1213_MIB,
}
"""Module name -> ASN.1 stub text."""

"""USM user keys and our engine's persistent identity (used by faultd.snmp.engine).

Pass phrases are hashed into master keys once per configured user (RFC 3414
A.2.1, ~1 MiB of hashing each) and localized per authoritative engine on
demand (A.2.2, cheap), so learning a new sender engine costs one pysnmp
table write, not a pass-phrase hash.  The engine ID and boots counter live
under ``<state_directory>/snmp/`` instead of pysnmp's ``/tmp/__pysnmp/``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Final

from pyasn1.type import univ
from pysnmp.entity import config
from pysnmp.proto import error as proto_error
from pysnmp.proto import rfc1902
from pysnmp.proto.secmod.rfc3414.service import SnmpUSMSecurityModel

from faultd.snmp.types import SnmpUser

AUTH_PROTOCOLS: Final[dict[str, tuple[int, ...]]] = {
    "none": config.USM_AUTH_NONE,
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS: Final[dict[str, tuple[int, ...]]] = {
    "none": config.USM_PRIV_NONE,
    "des": config.USM_PRIV_CBC56_DES,
    "3des": config.USM_PRIV_CBC168_3DES,
    "aes": config.USM_PRIV_CFB128_AES,
    "aes192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,  # net-snmp's AES-192
    "aes256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,  # net-snmp's AES-256
    "aes192c": config.USM_PRIV_CFB192_AES,  # Reeder key extension (Cisco)
    "aes256c": config.USM_PRIV_CFB256_AES,
}


def parse_engine_id(text: str) -> bytes:
    """Hex engine ID, optional 0x prefix and ':' separators -> bytes (ValueError if bad)."""
    t = text.strip().lower().replace(":", "")
    if t.startswith("0x"):
        t = t[2:]
    raw = bytes.fromhex(t)
    if not 5 <= len(raw) <= 32:
        raise ValueError(f"engine ID must be 5..32 octets, got {len(raw)}")
    return raw


def security_level(user: SnmpUser) -> int:
    if user.auth_protocol == "none":
        return 1
    return 2 if user.priv_protocol == "none" else 3


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_engine_state(state_directory: Path) -> tuple[bytes, int]:
    """Our persistent engine ID (created once) and the incremented engine boots."""
    d = state_directory / "snmp"
    d.mkdir(parents=True, exist_ok=True)
    id_file = d / "engine_id"
    try:
        engine_id = bytes.fromhex(id_file.read_text().strip())
    except (OSError, ValueError):
        engine_id = b""
    if not 5 <= len(engine_id) <= 32:
        # RFC 3411 format 5 (octets): 0x80 | enterprise (pysnmp's 20408), 5, random.
        engine_id = bytes.fromhex("80004fb805") + os.urandom(8)
        _atomic_write(id_file, engine_id.hex() + "\n")
    boots_file = d / "engine_boots"
    try:
        boots = int(boots_file.read_text().strip()) + 1
    except (OSError, ValueError):
        boots = 1
    boots = min(max(boots, 1), 2147483647)
    _atomic_write(boots_file, f"{boots}\n")
    return engine_id, boots


class UserKeys:
    """A configured user with its pass phrases hashed once (RFC 3414 A.2 master keys)."""

    def __init__(self, user: SnmpUser) -> None:
        if user.auth_protocol not in AUTH_PROTOCOLS:
            raise ValueError(f"user {user.name}: unknown auth_protocol {user.auth_protocol!r}")
        if user.priv_protocol not in PRIV_PROTOCOLS:
            raise ValueError(f"user {user.name}: unknown priv_protocol {user.priv_protocol!r}")
        if user.auth_protocol == "none" and user.priv_protocol != "none":
            raise ValueError(f"user {user.name}: privacy needs authentication")
        self.user = user
        self.level = security_level(user)
        self.auth_oid = AUTH_PROTOCOLS[user.auth_protocol]
        self.priv_oid = PRIV_PROTOCOLS[user.priv_protocol]
        self.engine_id = parse_engine_id(user.engine_id) if user.engine_id else None
        self._auth = SnmpUSMSecurityModel.AUTH_SERVICES[self.auth_oid]
        self._priv = SnmpUSMSecurityModel.PRIV_SERVICES[self.priv_oid]
        self.master_auth: Any = None
        self.master_priv: Any = None
        if self.level >= 2:
            if not user.auth_key:
                raise ValueError(f"user {user.name}: auth_key required")
            self.master_auth = self._auth.hash_passphrase(rfc1902.OctetString(user.auth_key))
        if self.level == 3:
            if not user.priv_key:
                raise ValueError(f"user {user.name}: priv_key required")
            self.master_priv = self._priv.hash_passphrase(
                self.auth_oid, rfc1902.OctetString(user.priv_key)
            )

    def localized(self, engine_id: bytes) -> tuple[Any, Any]:
        """(auth key, priv key) localized to engine_id (RFC 3414 A.2.2)."""
        eid = rfc1902.OctetString(engine_id)
        auth = priv = None
        if self.master_auth is not None:
            auth = self._auth.localize_key(self.master_auth, eid)
        if self.master_priv is not None:
            priv = self._priv.localize_key(self.auth_oid, self.master_priv, eid)
        return auth, priv

    def digest_ok(self, auth_key: Any, auth_params: bytes, data: bytes) -> bool:
        """Check a message's HMAC before we spend a user row on an unknown engine."""
        try:
            self._auth.authenticate_incoming_message(auth_key, univ.OctetString(auth_params), data)
        except (proto_error.StatusInformation, proto_error.ProtocolError):
            return False
        return True

"""MIB names: OID -> ``MODULE::name[.instance]`` and INTEGER enum labels, cached.

Uses pysnmp's MibBuilder with pysnmp-mibs' precompiled IETF/IANA modules plus
whatever the configured ``mib_dirs`` hold (ASN.1 text), compiled by pysmi into
``<state_directory>/mibs`` (see faultd.snmp.mibcompile).  A lookup through
pysnmp costs ~5-10 us; results are kept in a bounded dict.  Nothing here
raises on a bad MIB file: compile/load errors are collected per file in
``MibNames.errors`` and logged.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import pysnmp_mibs  # type: ignore[import-untyped]
from pyasn1.type import univ
from pysnmp.smi import builder, view
from pysnmp.smi import error as smi_error

from faultd.snmp.mibcompile import compile_mib_dirs

log = logging.getLogger(__name__)

DEFAULT_MODULES: Final = (
    "SNMPv2-MIB",
    "IF-MIB",
    "IP-MIB",
    "BGP4-MIB",
    "OSPF-MIB",
    "OSPF-TRAP-MIB",
    "ENTITY-MIB",
    "ENTITY-STATE-MIB",
    "ENTITY-SENSOR-MIB",
    "HOST-RESOURCES-MIB",
    "DISMAN-EVENT-MIB",
    "ALARM-MIB",
    "BRIDGE-MIB",
    "RMON-MIB",
    "VRRP-MIB",
    "MPLS-LSR-STD-MIB",
    "MPLS-TE-STD-MIB",
    "MPLS-L3VPN-STD-MIB",
    "POWER-ETHERNET-MIB",
    "EtherLike-MIB",
    "NOTIFICATION-LOG-MIB",
    "SNMP-NOTIFICATION-MIB",
    "SNMP-COMMUNITY-MIB",
)
"""Loaded at construction (~0.5 s).  ``modules=("*",)`` loads all of pysnmp-mibs (~4 s)."""

_CACHE_MAX: Final = 65536
_CACHED_ARCS_MAX: Final = 64


def format_oid(oid: Iterable[int]) -> str:
    """Dotted numeric form."""
    return ".".join(map(str, oid))


def parse_oid(text: str) -> tuple[int, ...]:
    """'1.3.6.1' or '.1.3.6.1' -> tuple (ValueError if not numeric)."""
    t = text.strip().lstrip(".")
    if not t:
        raise ValueError("empty OID")
    return tuple(int(p) for p in t.split("."))


class MibNames:
    """Resolves OIDs to MIB names and enum labels; build once, reuse (lookups cached)."""

    def __init__(
        self,
        *,
        mib_dirs: Sequence[Path] = (),
        cache_dir: Path | None = None,
        modules: Sequence[str] = DEFAULT_MODULES,
    ) -> None:
        self.errors: dict[str, str] = {}
        self._builder = builder.MibBuilder()
        self._builder.add_mib_sources(builder.DirMibSource(os.path.dirname(pysnmp_mibs.__file__)))
        user_modules: list[str] = []
        if mib_dirs and cache_dir is not None:
            user_modules, errors = compile_mib_dirs(mib_dirs, cache_dir)
            self.errors.update(errors)
            self._builder.add_mib_sources(builder.DirMibSource(str(cache_dir)))
        elif mib_dirs:
            self.errors["mib_dirs"] = "no cache directory to compile MIBs into"
        wanted = list(modules)
        if "*" in wanted:
            wanted = sorted(
                f[:-3]
                for f in os.listdir(os.path.dirname(pysnmp_mibs.__file__))
                if f.endswith(".py") and not f.startswith("_")
            )
        for name in [*wanted, *user_modules]:
            try:
                with warnings.catch_warnings():
                    # pysmi-generated modules still call the camelCase API
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self._builder.load_modules(name)
            except Exception as exc:  # pysnmp raises assorted errors on bad modules
                self.errors[name] = f"load failed: {exc}"
        for name, err in self.errors.items():
            log.warning("MIB %s: %s", name, err)
        self._view = view.MibViewController(self._builder)
        self._names: dict[tuple[int, ...], tuple[str, str, tuple[int, ...]] | None] = {}
        self._enums: dict[tuple[str, str], dict[int, str] | None] = {}
        self.modules = frozenset(self._builder.mibSymbols)

    def locate(self, oid: tuple[int, ...]) -> tuple[str, str, tuple[int, ...]] | None:
        """(module, symbol, instance suffix) of the deepest known node, or None."""
        try:
            return self._names[oid]
        except KeyError:
            pass
        found: tuple[str, str, tuple[int, ...]] | None
        try:
            mod, sym, suffix = self._view.get_node_location(oid)
            found = (str(mod), str(sym), tuple(suffix))
        except (smi_error.SmiError, ValueError, TypeError):
            found = None
        if (found is not None and found[0] in ("", "ASN1")) or len(oid) < 2:
            found = None
        if len(oid) <= _CACHED_ARCS_MAX:  # huge OIDs from the wire: looked up, not kept
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            self._names[oid] = found
        return found

    def name(self, oid: tuple[int, ...]) -> str:
        """``IF-MIB::ifIndex.2``; the numeric OID when no module knows it."""
        loc = self.locate(oid)
        if loc is None:
            return format_oid(oid)
        mod, sym, suffix = loc
        if suffix:
            return f"{mod}::{sym}.{format_oid(suffix)}"
        return f"{mod}::{sym}"

    def oid_of(self, name: str) -> tuple[int, ...] | None:
        """``MODULE::symbol[.suffix]`` or a numeric OID -> OID tuple, None if unknown."""
        try:
            return parse_oid(name)
        except ValueError:
            pass
        mod, sep, rest = name.partition("::")
        if not sep:
            return None
        sym, _, suffix = rest.partition(".")
        try:
            node: Any = self._builder.mibSymbols[mod][sym]
            base = tuple(node.name)
            return base + (parse_oid(suffix) if suffix else ())
        except (KeyError, AttributeError, ValueError):
            return None

    def enum_label(self, oid: tuple[int, ...], value: int) -> str | None:
        """The MIB's label for an INTEGER value (``up`` for ifAdminStatus 1), else None."""
        loc = self.locate(oid)
        if loc is None:
            return None
        labels = self.enum_labels(loc[0], loc[1])
        if labels is None:
            return None
        return labels.get(value)

    def enum_labels(self, module: str, symbol: str) -> dict[int, str] | None:
        """All labels of an INTEGER object's enumeration (value -> label), cached; None if none.

        The returned dict is shared: callers must not change it.
        """
        key = (module, symbol)
        try:
            return self._enums[key]
        except KeyError:
            labels = self._enums[key] = self._load_enum(module, symbol)
            return labels

    def _load_enum(self, module: str, symbol: str) -> dict[int, str] | None:
        try:
            node: Any = self._builder.mibSymbols[module][symbol]
            syntax = node.getSyntax()
        except (KeyError, AttributeError):
            return None
        if not isinstance(syntax, univ.Integer):
            return None
        named = getattr(syntax, "namedValues", None)
        if not named:
            return None
        return {int(v): str(k) for k, v in named.items()}


_default: MibNames | None = None


def translate(oid: str, *, mib_dirs: Sequence[Path] = (), cache_dir: Path | None = None) -> str:
    """``faultd mib translate OID``: numeric OID text -> ``MODULE::name.suffix``.

    A name given instead (``IF-MIB::linkDown``) is returned unchanged.  Uses a
    process-wide MibNames for the default modules when no mib_dirs are given.
    """
    global _default
    if "::" in oid:
        return oid
    if mib_dirs:
        names = MibNames(mib_dirs=mib_dirs, cache_dir=cache_dir)
    else:
        if _default is None:
            _default = MibNames()
        names = _default
    return names.name(parse_oid(oid))

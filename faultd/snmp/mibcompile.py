"""Compile user MIB directories (ASN.1 text) into pysnmp modules with pysmi.

pysmi needs the ASN.1 text of every imported module to build its symbol
table, and Debian ships no IETF MIB text, so the SMI base modules that almost
every vendor MIB imports (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF and the SMIv1
RFC1155-SMI, RFC-1212, RFC-1215, RFC1213-MIB) are supplied here as stubs
(faultd.snmp.smi_stubs): enough for the symbol table; the generated code
imports the real definitions from pysnmp at load time.  Other imports (e.g.
IF-MIB) must have their text in one of the mib_dirs.

Errors are returned per file, never raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pysmi import error as smi_error
from pysmi.codegen import PySnmpCodeGen
from pysmi.compiler import MibCompiler
from pysmi.parser import SmiStarParser
from pysmi.reader import CallbackReader
from pysmi.searcher import PyFileSearcher, PyPackageSearcher, StubSearcher
from pysmi.writer import PyFileWriter

from faultd.snmp.smi_stubs import STUBS

log = logging.getLogger(__name__)

_MODULE_RE: Final = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9-]*)\s+DEFINITIONS\s*(?:[A-Z ]*TAGS\s*)?::=\s*BEGIN", re.MULTILINE
)
_MAX_FILE_BYTES: Final = 4 * 1024 * 1024


def scan_mib_dirs(mib_dirs: Sequence[Path]) -> tuple[dict[str, tuple[Path, str]], dict[str, str]]:
    """Find MIB modules in the directories: {module: (file, text)}, {file: error}."""
    modules: dict[str, tuple[Path, str]] = {}
    errors: dict[str, str] = {}
    for d in mib_dirs:
        try:
            files = sorted(p for p in Path(d).rglob("*") if p.is_file())
        except OSError as exc:
            errors[str(d)] = f"cannot read directory: {exc}"
            continue
        if not Path(d).is_dir():
            errors[str(d)] = "not a directory"
            continue
        for path in files:
            if path.name.startswith(".") or path.suffix in (".py", ".pyc", ".json"):
                continue
            try:
                if path.stat().st_size > _MAX_FILE_BYTES:
                    errors[str(path)] = "file too large for a MIB"
                    continue
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError as exc:
                errors[str(path)] = f"cannot read: {exc}"
                continue
            names = _MODULE_RE.findall(text)
            if not names:
                errors[str(path)] = "no 'MODULE DEFINITIONS ::= BEGIN' found"
                continue
            for name in names:
                modules.setdefault(name, (path, text))
    return modules, errors


def compile_mib_dirs(mib_dirs: Sequence[Path], cache_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Compile every module found in mib_dirs into cache_dir.

    Returns (module names now loadable from cache_dir, {file or module: error}).
    """
    modules, errors = scan_mib_dirs(mib_dirs)
    if not modules:
        return [], errors
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        errors[str(cache_dir)] = f"cannot create MIB cache: {exc}"
        return [], errors

    def read(name: str, ctx: Any) -> str:
        if name in modules:
            return modules[name][1]
        if name in STUBS:
            return STUBS[name]
        raise smi_error.PySmiReaderFileNotFoundError(f"source MIB {name} not found", reader=None)

    compiler = MibCompiler(SmiStarParser(), PySnmpCodeGen(), PyFileWriter(str(cache_dir)))
    compiler.add_sources(CallbackReader(read))
    compiler.add_searchers(
        PyFileSearcher(str(cache_dir)),
        PyPackageSearcher("pysnmp.smi.mibs"),
        PyPackageSearcher("pysnmp_mibs"),
        StubSearcher(*PySnmpCodeGen.baseMibs),
    )
    try:
        # rebuild: sources come from memory (no mtime to compare), and this
        # runs only at construction/reload.
        results = compiler.compile(*sorted(modules), ignoreErrors=True, rebuild=True)
    except Exception as exc:  # pysmi raises on some pathological inputs despite ignoreErrors
        errors["mib_dirs"] = f"compiler failed: {exc}"
        return [], errors
    ok: list[str] = []
    for name, status in results.items():
        where = str(modules[name][0]) if name in modules else name
        if status in ("compiled", "untouched", "borrowed"):
            if name in modules:
                ok.append(name)
        elif status == "failed":
            errors[where] = f"{name}: {getattr(status, 'error', 'failed')}"
        elif status == "missing" and name not in PySnmpCodeGen.baseMibs:
            errors[where] = f"{name}: imported MIB source not found in mib_dirs"
    for where, err in errors.items():
        log.warning("MIB compile %s: %s", where, err)
    return ok, errors

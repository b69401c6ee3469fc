"""Optional compiled (mypyc) builds of the per-message modules, used only when fresh.

The modules in MODULES run once or more per datagram.  mypyc (shipped with mypy,
which already checks this code with --strict) compiles them to C extensions;
on the benchmark machine that took the syslog path from 19.1 to 14.8 µs per
message and the v2c trap path from 35.8 to 22.8 µs (bench_hotpath, in-process,
bench/RESULTS.md).  The Python
sources stay the only truth:

- `python -m faultd.nativebuild` (run by `make`) compiles them in a scratch
  copy of the package and writes the extensions and a manifest under
  `faultd/_native/` (never next to the sources, so a .py is never shadowed).
- `activate()` (called by `faultd/__init__.py`) serves those extensions only if
  the manifest's hash of every faultd source file matches the files on disk and
  the interpreter is the one they were built for.  Any edit anywhere in the
  package, or FAULTD_NATIVE=0 in the environment, means plain Python: a stale
  build is never used, and it is all or nothing, because compiled modules call
  each other directly.
- The test suite runs against whichever is active, and tests/test_native.py
  compares the compiled parsers with the pure-Python ones on the corpus.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
NATIVE_DIR = PACKAGE_DIR / "_native"
MANIFEST = "manifest.json"
MODULES = (
    "faultd.parse.syslog",
    "faultd.parse.syslog_time",
    "faultd.parse.syslog_vendors",
    "faultd.normalize_syslog",
    "faultd.parse.ber",
    "faultd.snmp.normalize",
    "faultd.accumulator",
    "faultd.intake",
    "faultd.sources.syslog",
    "faultd.window",
    "faultd.tiers",
    "faultd.observe.ring",
    "faultd.observe.fastmetrics",
    "faultd.sources.filters",
    "faultd.sources.fairness",
    "faultd.sources.snmp",
    "faultd.spill.journal",
    "faultd.ids",
)
# Not faultd.snmp.receiver: compiled, it made the whole trap path ~50 % slower
# (bench_hotpath: receive() 19 -> 34 us); it mostly calls into pysnmp anyway.

state = "off: not activated"  # what activate() decided; shown by `faultd version`


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over every .py file of the package (path and content), in path order."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir)
        if relative.parts[0] == NATIVE_DIR.name:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def interpreter_tag() -> str:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return f"{sys.implementation.cache_tag}-{sys.platform}{suffix}"


def check(native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR
          ) -> tuple[dict[str, Path] | None, str]:
    """(module name -> extension path, "on") when the build is usable, else (None, why not)."""
    if os.environ.get("FAULTD_NATIVE", "1") == "0":
        return None, "off: FAULTD_NATIVE=0"
    try:
        manifest = json.loads((native_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None, "off: not built (make native)"
    if manifest.get("interpreter") != interpreter_tag():
        return None, "off: built for another interpreter"
    if manifest.get("sources") != source_digest(package_dir):
        return None, "off: stale (sources changed since the build; make native)"
    files = {name: native_dir / rel for name, rel in manifest.get("files", {}).items()}
    if not files or not all(p.is_file() for p in files.values()):
        return None, "off: build incomplete"
    return files, f"on ({len(files) - 1} compiled modules)"


class _Finder(importlib.abc.MetaPathFinder):
    """Serves exactly the manifest's modules from their extension files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        location = self.files.get(fullname)
        if location is None:
            return None
        return importlib.util.spec_from_file_location(fullname, location)


def activate() -> str:
    """Install the finder if the build is fresh; returns (and records) the state."""
    global state
    try:
        files, state = check()
    except OSError as exc:  # an unreadable source tree: run what Python can import
        files, state = None, f"off: {exc}"
    if files is not None and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(files))
    return state

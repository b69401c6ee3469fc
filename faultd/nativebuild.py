"""Build faultd's compiled modules: `python -m faultd.nativebuild` (run by `make native`).

Compiles faultd.native.MODULES with mypyc in a scratch copy of the package and
replaces `faultd/_native/` with the extensions and a manifest (interpreter tag,
hash of the sources compiled).  faultd.native decides at import whether they
may be used.  Needs mypy (a dev dependency) and a C compiler with Python headers.
"""

from __future__ import annotations

import importlib.machinery
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from faultd.native import (
    MANIFEST,
    MODULES,
    NATIVE_DIR,
    PACKAGE_DIR,
    check,
    interpreter_tag,
    source_digest,
)


def build(native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR) -> None:
    """Compile MODULES with mypyc in a scratch copy; replace `native_dir` with the result."""
    with tempfile.TemporaryDirectory(prefix="faultd-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(package_dir, work / "faultd",
                        ignore=shutil.ignore_patterns(NATIVE_DIR.name, "__pycache__", "*.so"))
        digest = source_digest(work / "faultd")
        for extra in ("pyproject.toml", "README.md"):  # mypy settings (a source checkout)
            if (package_dir.parent / extra).is_file():
                shutil.copy2(package_dir.parent / extra, work / extra)
        sources = [str(Path(*name.split(".")).with_suffix(".py")) for name in MODULES]
        compiled = subprocess.run([sys.executable, "-m", "mypyc", *sources], cwd=work,
                                  capture_output=True, text=True)
        if compiled.returncode != 0:
            raise RuntimeError("mypyc failed:\n" + (compiled.stdout + compiled.stderr)[-4000:])
        staged = Path(tempfile.mkdtemp(prefix=".native-", dir=package_dir))
        files: dict[str, str] = {}
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        for name in MODULES:
            rel = Path(*name.split(".")).with_name(name.rsplit(".", 1)[1] + suffix)
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / rel, staged / rel)
            files[name] = str(rel)
        groups = list(work.glob(f"*__mypyc{suffix}"))
        if len(groups) != 1:
            shutil.rmtree(staged)
            raise RuntimeError(f"expected one mypyc runtime library, found {groups}")
        shutil.copy2(groups[0], staged / groups[0].name)
        files[groups[0].name[: -len(suffix)]] = groups[0].name
        (staged / MANIFEST).write_text(json.dumps(
            {"interpreter": interpreter_tag(), "sources": digest, "files": files}, indent=1))
        if native_dir.exists():
            shutil.rmtree(native_dir)
        staged.rename(native_dir)


def main() -> int:
    build()
    print(f"faultd native build: {check()[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

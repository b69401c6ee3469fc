"""The optional mypyc build (faultd.native): used only when fresh, and equal to the sources.

`check()` is exercised on a scratch package with a real manifest.  When the
compiled modules are active in this test run (after `make native`), a
subprocess with FAULTD_NATIVE=0 (plain Python) parses and normalises the vendor
corpus in 9 variants, decodes the SNMP seed corpus and a spread of mutations of
it, and the results must equal the compiled modules' byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faultd import native

ROOT = Path(__file__).resolve().parents[1]

# Run in both interpreters: prints one JSON document of everything the compiled
# modules compute for the inputs.
PROBE = textwrap.dedent('''
    import datetime, json, random, sys
    from pathlib import Path
    import msgspec
    from faultd import native
    from faultd.normalize_syslog import SyslogNormalizer
    from faultd.parse import ber
    from faultd.parse.syslog import SyslogParseError, parse_syslog

    root = Path(sys.argv[1])
    lines = [ln for ln in (root / "tests/data/syslog/vendor-lines.txt").read_text(
        encoding="utf-8").splitlines() if ln.strip()]
    variants = []
    for ln in lines:
        b = ln.encode()
        variants += [b, b + b"\\n", b.replace(b" ", b"  ", 2), b[: len(b) // 2], b"<13>" + b,
                     b.replace(b":", b"", 1), b.upper(), b + b" \\xff\\xfe", b[1:]]
    tz = datetime.timezone(datetime.timedelta(hours=-5))
    normalizer = SyslogNormalizer(tz)
    out = {"native": native.state.startswith("on"), "syslog": [], "ber": []}
    for data in variants:
        for received_at in (1_796_317_587.25, 1_767_225_599.0):
            try:
                msg = msgspec.to_builtins(parse_syslog(data, received_at=received_at,
                                                       default_tz=tz))
                event = msgspec.to_builtins(normalizer.normalize(data, "192.0.2.7",
                                                                 received_at))
                event.pop("event_id")
                out["syslog"].append([msg, event])
            except SyslogParseError as exc:
                out["syslog"].append(["error", str(exc)])
    rng = random.Random(7)
    seeds = [p.read_bytes() for p in sorted((root / "tests/fuzz/corpus/snmp").iterdir())]
    for i in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(i % 4):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            out["ber"].append(repr(ber.decode(bytes(data))))
        except Exception as exc:
            out["ber"].append("raised " + type(exc).__name__)
    print(json.dumps(out, sort_keys=True))
''')


def _probe(env: dict[str, str]) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True,
                         text=True, env={**os.environ, **env}, check=True, timeout=300)
    return json.loads(run.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(not native.state.startswith("on"),
                    reason=f"compiled modules not active: {native.state}")
def test_compiled_modules_compute_what_the_sources_compute() -> None:
    import faultd.parse.syslog

    assert "_native" in (faultd.parse.syslog.__file__ or "")
    compiled = _probe({})
    plain = _probe({"FAULTD_NATIVE": "0"})
    assert compiled["native"] is True and plain["native"] is False
    assert len(compiled["syslog"]) > 1000 and len(compiled["ber"]) == 3000  # type: ignore[arg-type]
    assert compiled["syslog"] == plain["syslog"]
    assert compiled["ber"] == plain["ber"]


def _scratch_build(tmp_path: Path) -> tuple[Path, Path]:
    package = tmp_path / "faultd"
    package.mkdir()
    (package / "a.py").write_text("X = 1\n")
    native_dir = package / "_native"
    (native_dir / "faultd").mkdir(parents=True)
    (native_dir / "faultd" / "a.so").write_bytes(b"")
    (native_dir / "g__mypyc.so").write_bytes(b"")
    (native_dir / native.MANIFEST).write_text(json.dumps({
        "interpreter": native.interpreter_tag(), "sources": native.source_digest(package),
        "files": {"faultd.a": "faultd/a.so", "g__mypyc": "g__mypyc.so"}}))
    return package, native_dir


def test_a_fresh_build_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULTD_NATIVE", raising=False)
    package, native_dir = _scratch_build(tmp_path)
    files, state = native.check(native_dir, package)
    assert state == "on (1 compiled modules)"
    assert files == {"faultd.a": native_dir / "faultd/a.so", "g__mypyc": native_dir / "g__mypyc.so"}


def test_any_source_edit_makes_the_build_stale(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULTD_NATIVE", raising=False)
    package, native_dir = _scratch_build(tmp_path)
    (package / "b.py").write_text("")  # a new file counts, not only the compiled ones
    assert native.check(native_dir, package) == (
        None, "off: stale (sources changed since the build; make native)")


def test_environment_switch_interpreter_and_missing_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package, native_dir = _scratch_build(tmp_path)
    monkeypatch.setenv("FAULTD_NATIVE", "0")
    assert native.check(native_dir, package)[1] == "off: FAULTD_NATIVE=0"
    monkeypatch.delenv("FAULTD_NATIVE")
    (native_dir / "g__mypyc.so").unlink()
    assert native.check(native_dir, package)[1] == "off: build incomplete"
    manifest = json.loads((native_dir / native.MANIFEST).read_text())
    manifest["interpreter"] = "cpython-39-linux.so"
    (native_dir / native.MANIFEST).write_text(json.dumps(manifest))
    assert native.check(native_dir, package)[1] == "off: built for another interpreter"
    assert native.check(tmp_path / "nothing", package)[1] == "off: not built (make native)"

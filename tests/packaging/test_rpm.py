"""The RPM, where rpmbuild exists: built from packaging/rpm/faultd.spec, its
metadata, files, modes and scriptlets are right, no build path leaked into it,
and the venv it carries runs `faultd check-config` from an unpacked copy.
(Installing it needs an RPM-based host; the .deb test covers install/run/purge.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild not installed"),
]


@pytest.fixture(scope="module")
def rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "etc/faultd.yaml").exists():
        pytest.skip("etc/faultd.yaml not written yet")
    out = tmp_path_factory.mktemp("rpm-out")
    result = subprocess.run(
        [str(REPO / "packaging/build-rpm.sh")], env=dict(os.environ, OUT=str(out)),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    rpms = list(out.glob("faultd-*.rpm"))
    assert len(rpms) == 1, rpms
    return rpms[0]


def query(rpm: Path, *args: str) -> str:
    return subprocess.run(
        ["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True, check=True
    ).stdout


def test_requires_are_only_what_the_spec_names(rpm: Path) -> None:
    requires = {line.split()[0] for line in query(rpm, "--requires").splitlines()}
    requires = {r for r in requires if not r.startswith(("rpmlib(", "/bin/sh", "config("))}
    assert requires == {"python3.11", "systemd-libs", "shadow-utils"}, requires


def test_files_modes_and_config(rpm: Path) -> None:
    files = query(
        rpm, "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]"
    )
    lines = {line.split()[-1]: line.split()[:3] for line in files.splitlines()}
    assert lines["/etc/faultd/faultd.yaml"] == ["-rw-r-----", "root", "faultd"]
    assert lines["/var/lib/faultd"] == ["drwx------", "faultd", "faultd"]
    assert "/usr/bin/faultd" in lines and "/opt/faultd/bin/faultd" in lines
    assert "/usr/lib/systemd/system/faultd.service" in lines
    assert "/usr/lib/systemd/system/faultd.socket" in lines
    assert not any(name.startswith("/usr/lib/.build-id") for name in lines)
    assert not any(name.startswith("/opt/faultd/bin/pip") for name in lines)
    assert query(rpm, "--configfiles").split() == ["/etc/faultd/faultd.yaml"]
    noreplace = query(rpm, "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    assert "cn /etc/faultd/faultd.yaml" in noreplace or "cn  /etc/faultd/faultd.yaml" in noreplace


def test_scriptlets_create_the_user_and_never_start(rpm: Path) -> None:
    scripts = query(rpm, "--scripts")
    assert "useradd -r -g faultd" in scripts
    assert "systemctl start" not in scripts and "enable --now" not in scripts


def test_unpacked_venv_runs_and_holds_no_build_path(rpm: Path, tmp_path: Path) -> None:
    with rpm.open("rb") as package:  # rpm2archive ships with rpm itself; cpio may not
        archive = subprocess.run(
            ["rpm2archive", "-"], stdin=package, capture_output=True, check=True
        ).stdout
    subprocess.run(["tar", "-xzf", "-"], input=archive, cwd=tmp_path, check=True)
    leaked = subprocess.run(
        ["grep", "-rlaF", "rpmbuild/BUILDROOT", str(tmp_path / "opt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert leaked.stdout == "", leaked.stdout
    # a venv finds its site-packages from where its python is called, so the
    # unpacked copy runs as it will from /opt/faultd
    result = subprocess.run(
        [str(tmp_path / "opt/faultd/bin/python"), "-m", "faultd", "check-config",
         str(tmp_path / "etc/faultd/faultd.yaml")],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

"""The Debian package, end to end: build it, lint it, `dpkg -i` it, validate the
shipped config, run the installed daemon as the packaged `faultd` user against
a local aiohttp endpoint, feed it one syslog line (util-linux `logger`) and one
trap (net-snmp `snmptrap`), stop it, `dpkg --purge` it and check nothing is left.

Needs root and dpkg; skips on a host where faultd is installed or a `faultd`
user exists (this test would remove them). FAULTD_DEB=path reuses a built
package instead of building one.
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

LEFTOVERS = [
    "/opt/faultd",
    "/etc/faultd",
    "/var/lib/faultd",
    "/usr/bin/faultd",
    "/lib/systemd/system/faultd.service",
    "/lib/systemd/system/faultd.socket",
    "/usr/share/doc/faultd",
]


def _installed() -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "faultd"], capture_output=True, text=True
    )
    return result.returncode == 0 and "installed" in result.stdout


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    for tool in ("dpkg", "dpkg-deb", "/usr/bin/python3.11"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not available")
    prebuilt = os.environ.get("FAULTD_DEB")
    if prebuilt:
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("deb-out")
    # gzip: the same package, built in a fraction of xz's time (release builds use xz)
    env = dict(os.environ, OUT=str(out), LINTIAN="0", FAULTD_DEB_COMPRESSION="gzip")
    if not (REPO / "etc/faultd.yaml").exists():  # until the shipped config exists
        placeholder = out / "placeholder.yaml"
        placeholder.write_text('state_directory: "/var/lib/faultd"\n')
        env["FAULTD_CONFIG"] = str(placeholder)
    result = subprocess.run(
        [str(REPO / "packaging/build-deb.sh")], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    debs = list(out.glob("faultd_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_package_metadata(deb: Path) -> None:
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "Package: faultd" in fields
    assert "python3.11" in fields and "adduser" in fields
    ctrl = subprocess.run(
        ["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True
    ).stdout
    listing = subprocess.run(
        ["tar", "-tf", "-"], input=ctrl, capture_output=True, check=True
    ).stdout.decode()
    for member in ("control", "conffiles", "md5sums", "postinst", "prerm", "postrm"):
        assert f"./{member}" in listing.split(), listing
    contents = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "./usr/bin/faultd -> /opt/faultd/bin/faultd" in contents
    assert "./lib/systemd/system/faultd.service" in contents
    assert "./etc/faultd/faultd.yaml" in contents
    assert "/opt/faultd/bin/pip" not in contents  # build tools are not shipped


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian not installed")
def test_lintian_has_no_errors_or_warnings(deb: Path) -> None:
    """Every remaining finding is overridden with its reason in
    packaging/debian/lintian-overrides (reviewed in packaging/README.md)."""
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(deb)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    findings = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert result.returncode == 0 and not findings, result.stdout + result.stderr


# ----------------------------------------------------------------- install and run


class Endpoint:
    """A real aiohttp correlation endpoint on loopback, in its own thread."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        batch = json.loads(await request.read())
        with self.lock:
            self.batches.append(batch)
        return web.Response(text="ok")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/batches", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/batches"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def start(self) -> str:
        self._thread.start()
        assert self._ready.wait(10)
        return self.url

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for batch in self.batches for event in batch["events"]]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"{cmd}: {result.stdout}\n{result.stderr}"
    return result


def dpkg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """dpkg, waiting (up to 5 minutes) while another apt/dpkg holds the lock."""
    deadline = time.monotonic() + 300
    while True:
        result = run("dpkg", *args, check=False)
        locked = result.returncode == 2 and "lock" in result.stderr
        if not locked or time.monotonic() > deadline:
            break
        time.sleep(2)
    if check:
        assert result.returncode == 0, f"dpkg {args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def installed(deb: Path) -> Iterator[None]:
    if _installed():
        pytest.skip("faultd is installed on this host: `dpkg --purge faultd` to run this test")
    if _user_exists("faultd") or _group_exists("faultd"):
        pytest.skip("a faultd user/group already exists on this host")
    try:
        dpkg("-i", str(deb))
        yield
    finally:
        if _installed() or Path("/var/lib/dpkg/info/faultd.list").exists():
            dpkg("--purge", "faultd", check=False)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_install_run_and_purge(installed: None) -> None:
    # --- what the package put in place
    assert os.path.islink("/usr/bin/faultd")
    assert os.readlink("/usr/bin/faultd") == "/opt/faultd/bin/faultd"
    assert os.path.realpath("/opt/faultd/bin/python").startswith("/usr/bin/python3")
    user = pwd.getpwnam("faultd")
    assert user.pw_uid < 1000 and user.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    state = os.stat("/var/lib/faultd")
    assert state.st_uid == user.pw_uid and stat.S_IMODE(state.st_mode) == 0o700
    conf = os.stat("/etc/faultd/faultd.yaml")
    assert conf.st_uid == 0 and conf.st_gid == user.pw_gid
    assert stat.S_IMODE(conf.st_mode) == 0o640
    assert Path("/lib/systemd/system/faultd.service").is_file()
    assert dpkg("-V", "faultd").stdout == ""  # md5sums match what is on disk

    # --- the shipped config validates; a broken one is refused
    run("/usr/bin/faultd", "check-config", "/etc/faultd/faultd.yaml")
    bad = Path("/etc/faultd/broken.yaml")
    bad.write_text("accumulator:\n  critical_window_seconds: -1\n")
    assert run("/usr/bin/faultd", "check-config", str(bad), check=False).returncode == 1

    # --- run it by hand as the packaged user, as the service would
    endpoint = Endpoint()
    url = endpoint.start()
    snmp_port, syslog_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    metrics_port = free_port(socket.SOCK_STREAM)
    tier = {"name": "all", "match": ["*"], "window_seconds": 0.5, "max_batch_size": 100}
    raw = {
        "state_directory": "/var/lib/faultd",
        "collector_name": "deb-test",
        "snmp": {"listen": f"127.0.0.1:{snmp_port}", "communities": ["public"]},
        "syslog": {"listen": f"127.0.0.1:{syslog_port}"},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "dispatch": {"endpoint": url},
        "accumulator": {"tiers": [tier]},
    }
    config = Path("/etc/faultd/faultd-test.yaml")
    config.write_text(json.dumps(raw))  # JSON is YAML
    os.chown(config, 0, user.pw_gid)
    config.chmod(0o640)
    run("/usr/bin/faultd", "check-config", str(config))

    notify_dir = tempfile.mkdtemp(prefix="fd-deb-", dir="/tmp")
    os.chmod(notify_dir, 0o755)
    notify_path = os.path.join(notify_dir, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_path, 0o777)
    notify.settimeout(30)
    log_path = Path(notify_dir) / "faultd.log"
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/var/lib/faultd",
        "LANG": "C.UTF-8",
        "NOTIFY_SOCKET": notify_path,
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["setpriv", "--reuid=faultd", "--regid=faultd", "--init-groups",
             "/usr/bin/faultd", "run", "--config", str(config)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/",
        )  # fmt: skip
    try:
        messages: list[str] = []

        def wait_message(prefix: str) -> None:
            while not any(m.startswith(prefix) for m in messages):
                try:
                    messages.append(notify.recv(4096).decode())
                except TimeoutError:
                    raise AssertionError(
                        f"no {prefix} from faultd; log:\n{log_path.read_text()}"
                    ) from None

        wait_message("READY=1")
        run("logger", "--udp", "-n", "127.0.0.1", "-P", str(syslog_port), "--rfc5424",
            "-t", "debtest", "-p", "local0.err",
            "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down")  # fmt: skip
        run("snmptrap", "-v2c", "-c", "public", f"127.0.0.1:{snmp_port}", "",
            "1.3.6.1.6.3.1.1.5.3")  # fmt: skip

        def both_arrived() -> bool:
            sources = {e["source"] for e in endpoint.events()}
            return {"syslog", "snmp"} <= sources

        try:
            wait_for(both_arrived, 30, "a syslog and an snmp event at the endpoint")
        except AssertionError:
            raise AssertionError(f"got {endpoint.events()}; log:\n{log_path.read_text()}") from None
        events = endpoint.events()
        trap = next(e for e in events if e["source"] == "snmp")
        assert trap["fault_code"] == "IF-MIB::linkDown"  # MIBs resolve from /opt/faultd
        line = next(e for e in events if e["source"] == "syslog")
        assert "GigabitEthernet0/1" in line["message"]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()
        wait_message("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        notify.close()
        endpoint.stop()
        shutil.rmtree(notify_dir, ignore_errors=True)

    # --- purge leaves nothing behind
    dpkg("--purge", "faultd")
    left = [path for path in LEFTOVERS if os.path.lexists(path)]
    assert left == [], left
    assert not _user_exists("faultd")
    assert not _group_exists("faultd")
    assert not _installed()

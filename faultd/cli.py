"""Command line: `faultd run | check-config | version | spill | mib | replay | correlate`.

Each subcommand is a small function; heavy modules are imported only by the
subcommand that needs them, so `faultd check-config` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from faultd import __version__, native
from faultd.cli_tools import REGISTRARS, SubParsers

Command = Callable[[argparse.Namespace], int]


def cmd_run(args: argparse.Namespace) -> int:
    from faultd.daemon import run_daemon

    return run_daemon(Path(args.config))


def cmd_check_config(args: argparse.Namespace) -> int:
    from faultd.config import ConfigError, load_config
    from faultd.config_secrets import secret_file_warnings

    path = Path(args.path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    for warning in secret_file_warnings(path):
        print(f"warning: {warning}", file=sys.stderr)
    tiers = ", ".join(f"{t.name}({t.window_seconds:g}s/{t.max_batch_size})"
                      for t in config.accumulator.tiers)
    print(f"{path}: OK (tiers: {tiers}; endpoint: "
          f"{config.dispatch.endpoint or 'built-in'})")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from faultd.workers.process import run_worker

    return run_worker(Path(args.config), args.index, args.uplink_fd, args.critical_fd,
                      args.uplink_protocol)


def cmd_version(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    print(f"faultd {__version__}")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"native modules: {native.state}")
    for name in ("uvloop", "pysnmp", "pysnmp-mibs", "aiohttp", "msgspec", "prometheus-client",
                 "systemd-python", "nats-py"):
        print(f"{name} {ver(name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faultd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"faultd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config", "-c", default="/etc/faultd/faultd.yaml")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file (exit 1 on errors)")
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)

    sub.add_parser("version", help="print versions").set_defaults(func=cmd_version)

    # Started by `faultd run` when workers > 1; not for direct use.
    worker = sub.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("--config", required=True)
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--uplink-fd", type=int, required=True)
    worker.add_argument("--critical-fd", type=int)
    worker.add_argument("--uplink-protocol", type=int)  # absent: a main process before 2
    worker.set_defaults(func=cmd_worker)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[SubParsers], None]]:
    """Subcommands that live beside their feature (spill, mib, replay, correlate)."""
    return REGISTRARS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Operator subcommands beside the daemon: spill, mib (and others registered by features).

Each `register_*` adds one subcommand to the parser; `REGISTRARS` lists them.
Heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from faultd.config import Config
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

DEFAULT_CONFIG = "/etc/faultd/faultd.yaml"


def _load(path: str) -> Config:
    from faultd.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _spill_dir(args: argparse.Namespace) -> Path:
    if args.directory:
        return Path(args.directory)
    return _load(args.config).spill_directory


def cmd_spill(args: argparse.Namespace) -> int:
    from faultd.spill import admin

    directory = _spill_dir(args)
    if not directory.exists():
        print(f"{directory}: no spill directory (nothing spilled yet)")
        return 0
    if args.action == "ls":
        print(admin.format_segments(admin.list_segments(directory)))
        return 0
    if args.action == "stats":
        stats = admin.spill_stats(directory)
        print(json.dumps(stats, indent=2) if args.json else admin.format_stats(stats))
        return 0
    return asyncio.run(_drain(args, directory))


async def _drain(args: argparse.Namespace, directory: Path) -> int:
    from faultd.config import DispatchConfig
    from faultd.dispatch.sinks import HttpSink
    from faultd.event import Batch, encode_batch
    from faultd.spill import admin
    from faultd.spill.model import SpillError

    if args.to:
        dispatch = DispatchConfig(endpoint=args.to)
    else:
        dispatch = _load(args.config).dispatch
        if not dispatch.endpoint:
            print("error: no --to URL and the config has no dispatch.endpoint", file=sys.stderr)
            return 1
    sink = HttpSink(dispatch)

    async def deliver(batch: Batch) -> bool:
        outcome = await sink.deliver(batch, encode_batch(batch))
        if outcome.kind != "ok":
            print(f"stopped: batch {batch.batch_id}: {outcome.kind} {outcome.status or ''} "
                  f"{outcome.detail}", file=sys.stderr)
        return outcome.kind == "ok"

    lanes = ("rejected",) if args.rejected else ("critical", "standard")
    try:
        report = await admin.drain(directory, deliver, args.rate, lanes=lanes)
    except SpillError as exc:
        print(f"error: {exc} (stop the daemon first, or let it replay by itself)",
              file=sys.stderr)
        return 1
    finally:
        await sink.close()
    print(admin.format_drain_report(report))
    return 1 if report.stopped else 0


def register_spill(sub: SubParsers) -> None:
    spill = sub.add_parser("spill", help="inspect or drain the spill directory")
    spill.add_argument("action", choices=["ls", "stats", "drain"])
    spill.add_argument("--config", "-c", default=DEFAULT_CONFIG)
    spill.add_argument("--directory", "-d", help="spill directory (default: from the config)")
    spill.add_argument("--json", action="store_true", help="stats as JSON")
    spill.add_argument("--to", help="drain: endpoint URL (default: dispatch.endpoint)")
    spill.add_argument("--rate", type=float, help="drain: batches per second")
    spill.add_argument("--rejected", action="store_true",
                       help="drain: replay the parked rejected/ batches instead")
    spill.set_defaults(func=cmd_spill)


def cmd_mib_translate(args: argparse.Namespace) -> int:
    from faultd.snmp.mib import translate

    mib_dirs: list[Path] = [Path(d) for d in args.mib_dir]
    cache = None
    if args.config:
        config = _load(args.config)
        mib_dirs += [Path(d) for d in config.snmp.mib_dirs]
        cache = Path(config.state_directory) / "mibs"
    for oid in args.oid:
        print(f"{oid} = {translate(oid, mib_dirs=mib_dirs, cache_dir=cache)}")
    return 0


def register_mib(sub: SubParsers) -> None:
    mib = sub.add_parser("mib", help="MIB tools")
    mib_sub = mib.add_subparsers(dest="mib_command", required=True)
    translate = mib_sub.add_parser("translate", help="print the MIB name of numeric OIDs")
    translate.add_argument("oid", nargs="+")
    translate.add_argument("--mib-dir", action="append", default=[],
                           help="extra MIB source directory (repeatable)")
    translate.add_argument("--config", "-c", help="also use snmp.mib_dirs and the MIB cache")
    translate.set_defaults(func=cmd_mib_translate)


REGISTRARS: list[Callable[[SubParsers], None]] = [register_spill, register_mib]

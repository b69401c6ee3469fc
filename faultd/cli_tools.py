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


def cmd_ring_dump(args: argparse.Namespace) -> int:
    from faultd.replay import ReplayError, dump_ring, ring_url_from_listen

    if args.url:
        url = args.url
    else:
        listen = _load(args.config).metrics.listen
        if not listen:
            print("error: metrics.listen is null in the config: no /debug/ring to fetch "
                  "(use SIGUSR2, or --url)", file=sys.stderr)
            return 1
        url = ring_url_from_listen(listen)
    try:
        count = dump_ring(url, Path(args.file))
    except (ReplayError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} raw datagrams to {args.file}")
    return 0


def register_ring(sub: SubParsers) -> None:
    ring = sub.add_parser("ring", help="the raw datagram ring of a running faultd")
    ring_sub = ring.add_subparsers(dest="ring_command", required=True)
    dump = ring_sub.add_parser("dump", help="fetch /debug/ring into FILE (mode 0600)")
    dump.add_argument("file")
    source = dump.add_mutually_exclusive_group()
    source.add_argument("--config", "-c", default=DEFAULT_CONFIG,
                        help="find the metrics listener in this config")
    source.add_argument("--url", help="metrics listener, e.g. http://127.0.0.1:9163")
    dump.set_defaults(func=cmd_ring_dump)


def cmd_replay(args: argparse.Namespace) -> int:
    from faultd.replay import (
        ReplayError,
        parse_hostport_arg,
        replay_ring_file,
        replay_spill,
    )

    source = Path(args.source)
    try:
        if source.is_dir():
            if not args.to or not args.to.startswith(("http://", "https://")):
                print("error: replaying a spill directory needs --to http(s)://STAGING/URL",
                      file=sys.stderr)
                return 1
            lanes = ("rejected",) if args.rejected else ("critical", "standard")
            spill_report = asyncio.run(replay_spill(source, args.to, args.rate, lanes))
            print(spill_report.text())
            return 1 if spill_report.failed else 0
        targets = {}
        if args.to:
            target = parse_hostport_arg(args.to)
            targets = {"syslog": target, "snmp": target}
        if args.syslog:
            targets["syslog"] = parse_hostport_arg(args.syslog)
        if args.snmp:
            targets["snmp"] = parse_hostport_arg(args.snmp)
        if not targets:
            print("error: a ring dump needs --to udp://HOST:PORT or --syslog/--snmp HOST:PORT",
                  file=sys.stderr)
            return 1
        report = replay_ring_file(source, targets, args.rate)
    except (ReplayError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.text())
    return 0


def register_replay(sub: SubParsers) -> None:
    replay = sub.add_parser(
        "replay", help="re-send a ring dump over UDP, or a spill directory to a staging URL")
    replay.add_argument("--from", dest="source", required=True,
                        help="ring dump file (JSON lines) or spill directory")
    replay.add_argument("--to", help="udp://HOST:PORT for a ring dump; http(s) URL for spill")
    replay.add_argument("--syslog", help="ring dump: HOST:PORT for syslog records")
    replay.add_argument("--snmp", help="ring dump: HOST:PORT for snmp records")
    replay.add_argument("--rate", type=float, help="datagrams or batches per second")
    replay.add_argument("--rejected", action="store_true",
                        help="spill: replay the parked rejected/ batches instead")
    replay.set_defaults(func=cmd_replay)


def cmd_correlate(args: argparse.Namespace) -> int:
    import signal

    from faultd.config import parse_hostport
    from faultd.correlate import PolicyError
    from faultd.correlate.service import serve_correlator
    from faultd.daemon import policy_path
    from faultd.observe.logsetup import setup_logging

    config_path = Path(args.config)
    config = _load(args.config)
    setup_logging(config.logging.level, config.logging.format)
    policy = Path(args.policy) if args.policy else policy_path(config, config_path)
    listen = args.listen or config.correlation.listen
    try:
        parse_hostport(listen)
    except ValueError as exc:
        print(f"error: --listen: {exc}", file=sys.stderr)
        return 1

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_correlator(policy, listen, Path(config.state_directory), stop)
        return 0

    try:
        import uvloop

        return uvloop.run(main())
    except PolicyError as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1


def register_correlate(sub: SubParsers) -> None:
    correlate = sub.add_parser(
        "correlate", help="serve the built-in correlator over HTTP (POST /batches, /tickets, /)")
    correlate.add_argument("--config", "-c", default=DEFAULT_CONFIG)
    correlate.add_argument("--policy", help="policy file (default: correlation.policy)")
    correlate.add_argument("--listen", help="host:port (default: correlation.listen)")
    correlate.set_defaults(func=cmd_correlate)


REGISTRARS: list[Callable[[SubParsers], None]] = [register_spill, register_mib, register_ring,
                                                  register_replay, register_correlate]

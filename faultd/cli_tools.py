"""Operator subcommands beside the daemon: spill, mib, replay, ring, correlate.

Each `register_*` adds one subcommand to the parser; `REGISTRARS` lists them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

REGISTRARS: list[Callable[[SubParsers], None]] = []

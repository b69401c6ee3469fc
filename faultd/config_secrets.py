"""Resolve secret references in a parsed YAML tree before validation.

Any string value may contain `${NAME}` (environment variable; `${NAME:-default}`
gives a fallback).  A string that is exactly `file:/path` is replaced by the
file's contents (trailing newline stripped), and `credential:NAME` by the systemd
credential `$CREDENTIALS_DIRECTORY/NAME` (LoadCredential=).  A reference that
cannot be resolved is an error naming its YAML path; the secret itself is never
put into an error message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SecretError(Exception):
    """A `${ENV}`, `file:` or `credential:` reference could not be resolved."""


def _resolve_string(value: str, path: str) -> str:
    def env(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise SecretError(f"{path}: environment variable {name} is not set")

    value = _ENV_REF.sub(env, value)
    if value.startswith("file:"):
        return _read_secret_file(Path(value[5:]), path)
    if value.startswith("credential:"):
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(f"{path}: credential: used but $CREDENTIALS_DIRECTORY is not set")
        return _read_secret_file(Path(directory) / value[len("credential:") :], path)
    return value


def _read_secret_file(file: Path, path: str) -> str:
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SecretError(f"{path}: cannot read secret file {file} ({exc.strerror})") from None


def resolve_secrets(node: Any, path: str = "") -> Any:
    """Return a copy of `node` with every string's references resolved."""
    if isinstance(node, str):
        return _resolve_string(node, path or "(top level)")
    if isinstance(node, dict):
        return {
            key: resolve_secrets(value, f"{path}.{key}" if path else str(key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        out = []
        for index, value in enumerate(node):
            name = value.get("name") if isinstance(value, dict) else None
            label = name if isinstance(name, str) else str(index)
            out.append(resolve_secrets(value, f"{path}.{label}"))
        return out
    return node


def secret_file_warnings(config_path: Path) -> list[str]:
    """Warn when the config file (which may hold secrets) is readable by other users."""
    try:
        mode = config_path.stat().st_mode
    except OSError:
        return []
    if mode & 0o004:
        return [f"{config_path} is world-readable; it may contain secrets (chmod o-r)"]
    return []

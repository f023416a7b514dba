"""Small helpers shared by every layer (nothing here imports another formbound module but errors).

Kept deliberately small: a helper lands here only when two layers need it.
"""

from __future__ import annotations

import difflib
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["MISSING", "cache_root", "pointer_get", "suggest", "versions"]

#: Returned by :func:`pointer_get` when the pointer does not resolve.
MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

#: Packages whose versions reports, datasets and adapters record.
VERSIONED = (
    "formbound",
    "torch",
    "transformers",
    "outlines",
    "llguidance",
    "peft",
    "accelerate",
    "sqlglot",
)


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest of ``choices`` to ``name``, or None.

    >>> suggest("constrianed", ["raw", "constrained"])
    'constrained'
    """
    match = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not match:
        return None
    lowered = {c.lower(): c for c in choices}
    return lowered[match[0]]


def cache_root() -> Path:
    """``$FORMBOUND_CACHE`` when set, else ``~/.cache/formbound``."""
    env = os.environ.get("FORMBOUND_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "formbound"


def versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str | None]:
    """Installed versions of ``names`` (``None`` if absent) plus the Python version."""
    from importlib import metadata  # lazily: importing it costs a noticeable share of a cold start

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def pointer_get(value: Any, path: str) -> Any:
    """The part of ``value`` at JSON pointer ``path`` (RFC 6901), or :data:`MISSING`.

    >>> pointer_get({"a": [{"b/c": 1}]}, "/a/0/b~1c")
    1
    >>> pointer_get({"a": 1}, "/b") is MISSING
    True
    """
    if path == "":
        return value
    cur = value
    for raw in path.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return MISSING
    return cur

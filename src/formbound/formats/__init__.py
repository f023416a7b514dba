"""Format registry: one module per format, looked up by name (a typo gets "did you mean …")."""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from formbound.errors import SpecError

if TYPE_CHECKING:
    from formbound.spec import Spec

__all__ = ["FORMATS", "get_format", "suggest"]

#: format name -> "module:class"
FORMATS: dict[str, str] = {
    "json": "formbound.formats.json:JsonSpec",
    "yaml": "formbound.formats.yaml:YamlSpec",
    "sql": "formbound.formats.sql:SqlSpec",
}


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest of ``choices`` to ``name``, or None."""
    match = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not match:
        return None
    lowered = {c.lower(): c for c in choices}
    return lowered[match[0]]


def get_format(name: str) -> type[Spec]:
    """The Spec subclass for format ``name``."""
    target = FORMATS.get(name.lower()) if isinstance(name, str) else None
    if target is None:
        hint = suggest(str(name), list(FORMATS))
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise SpecError(f"unknown format {name!r} (known: {', '.join(sorted(FORMATS))}){extra}")
    module, cls = target.split(":")
    found: type[Spec] = getattr(importlib.import_module(module), cls)
    return found

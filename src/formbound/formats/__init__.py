"""Format registry: one module per format, looked up by name (a typo gets "did you mean …")."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from formbound._util import suggest
from formbound.errors import SpecError

if TYPE_CHECKING:
    from formbound.formats.base import Spec

__all__ = ["FORMATS", "get_format"]

#: format name -> "module:class"
FORMATS: dict[str, str] = {
    "json": "formbound.formats.json:JsonSpec",
    "yaml": "formbound.formats.yaml:YamlSpec",
    "sql": "formbound.formats.sql:SqlSpec",
}


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

"""Catch schemas that are valid JSON Schema but almost certainly not what the user meant.

JSON Schema ignores unknown keywords, so ``{"requird": ["id"]}`` accepts ``{}`` and a data file passed
as a schema (``{"name": "Ada", "age": 36}``) accepts anything. A misspelt keyword gets a
:class:`~formbound.errors.SpecWarning` with "did you mean"; a dict with no schema keyword at all is
refused with a :class:`~formbound.errors.SpecError` that says what it looks like.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from formbound._schema_walk import walk_schemas
from formbound._util import suggest
from formbound.errors import SpecError, SpecWarning

__all__ = ["check_looks_like_schema", "known_keywords", "warn_unknown_keywords"]

#: Keywords with no validation behaviour (annotations, identifiers) in some draft.
_ANNOTATIONS = frozenset(
    {
        "$anchor", "$comment", "$defs", "$dynamicAnchor", "$id", "$recursiveAnchor", "$schema",
        "$vocabulary", "contentEncoding", "contentMediaType", "contentSchema", "default", "definitions",
        "deprecated", "description", "examples", "format", "id", "readOnly", "title", "writeOnly",
    }
)  # fmt: skip
#: Common extensions of other vocabularies (OpenAPI, pydantic) that are harmless annotations.
_EXTENSIONS = frozenset({"discriminator", "example", "externalDocs", "xml"})


@lru_cache(maxsize=1)
def known_keywords() -> frozenset[str]:
    """Every keyword some JSON Schema draft defines (validation keywords and annotations)."""
    from jsonschema.validators import _VALIDATORS

    found: set[str] = set(_ANNOTATIONS)
    for cls in _VALIDATORS.values():
        found.update(cls.VALIDATORS)
    return frozenset(found)


def _unknown(node: dict[str, Any]) -> list[str]:
    known = known_keywords()
    return [
        k
        for k in node
        if isinstance(k, str) and k not in known and k not in _EXTENSIONS and not k.startswith("x-")
    ]


def check_looks_like_schema(schema: Any) -> None:
    """Refuse a non-empty dict whose top-level keys are none of them schema keywords (nor typos of one).

    Raises:
        SpecError: ``schema`` looks like data, with what it looks like and what a schema needs.
    """
    if not isinstance(schema, dict) or not schema:
        return
    unknown = _unknown(schema)
    if len(unknown) < len(schema) or any(suggest(k, sorted(known_keywords())) for k in unknown):
        return
    keys = ", ".join(repr(k) for k in list(schema)[:5]) + (", …" if len(schema) > 5 else "")
    raise SpecError(
        f"this looks like a data object (keys {keys}), not a JSON Schema: none of its keys is a schema "
        'keyword. A schema describes the data, e.g. {"type": "object", "properties": {...}, '
        '"required": [...]}; pass that instead'
    )


def warn_unknown_keywords(schema: Any) -> None:
    """Emit one :class:`SpecWarning` listing misspelt keywords (those close to a known one).

    Unknown keywords with no close match (custom annotations) pass silently; ``x-`` extensions always do.
    """
    if not isinstance(schema, dict):
        return
    choices = sorted(known_keywords())
    typos: list[str] = []
    for path, node in walk_schemas(schema):
        where = "/" + "/".join(str(p) for p in path)
        for key in _unknown(node):
            hint = suggest(key, choices)
            if hint is not None:
                typos.append(f"{key!r} at {where} (did you mean {hint!r}?)")
    if typos:
        shown = "; ".join(typos[:10]) + (f"; and {len(typos) - 10} more" if len(typos) > 10 else "")
        warnings.warn(
            f"unknown JSON Schema keyword(s), ignored by validation: {shown}", SpecWarning, stacklevel=4
        )

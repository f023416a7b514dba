"""Relaxing a JSON Schema that no grammar backend compiles: which keywords go, in which order.

A relaxed grammar accepts more than the schema, so post-validation of the output is never optional.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

__all__ = ["RISKY_KEYWORDS", "SILENTLY_IGNORED", "relax_schema", "shape_only"]

#: Keywords dropped, in this order, when no backend compiles a schema (the structural keywords
#: type/properties/items/required/enum/const stay as long as possible).
RISKY_KEYWORDS: tuple[tuple[str, ...], ...] = (
    ("pattern", "patternProperties", "format"),
    ("not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies"),
    ("uniqueItems", "contains", "minContains", "maxContains", "multipleOf", "propertyNames"),
    ("unevaluatedProperties", "unevaluatedItems", "minProperties", "maxProperties", "$dynamicRef"),
    ("minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
     "minItems", "maxItems", "oneOf", "allOf"),
)  # fmt: skip

#: Keywords a backend compiles without error but does not enforce (measured: outlines-core 0.2 accepts
#: numbers outside minimum/maximum and repeated items under uniqueItems). Post-validation catches them.
SILENTLY_IGNORED: dict[str, tuple[str, ...]] = {
    "outlines_core": (
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
    ),
    "xgrammar": ("multipleOf", "uniqueItems", "not", "if", "then", "else"),
}  # fmt: skip

# Schema keywords whose value is a map name -> subschema, or a subschema / list of subschemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ITEMS = (
    "items", "prefixItems", "additionalItems", "additionalProperties", "unevaluatedItems",
    "unevaluatedProperties", "contains", "propertyNames", "not", "if", "then", "else",
    "allOf", "anyOf", "oneOf",
)  # fmt: skip


def relax_schema(schema: Any, drop: Iterable[str]) -> tuple[Any, tuple[str, ...]]:
    """A copy of ``schema`` without the keywords in ``drop``, wherever they occur as schema keywords.

    Property *names* are never touched (a property called ``"pattern"`` stays).

    Returns:
        The relaxed schema and the keywords that were actually present and dropped (sorted).

    >>> relax_schema({"type": "string", "pattern": "^a", "properties": {"pattern": {}}}, ["pattern"])
    ({'type': 'string', 'properties': {'pattern': {}}}, ('pattern',))
    """
    dropset = set(drop)
    found: set[str] = set()

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in dropset:
                found.add(key)
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in _SCHEMA_ITEMS and isinstance(value, list):
                out[key] = [walk(sub) for sub in value]
            elif key in _SCHEMA_ITEMS:
                out[key] = walk(value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    return walk(schema), tuple(sorted(found))


def shape_only(schema: Any) -> dict[str, Any]:
    """The loosest schema that keeps the top-level JSON type (any JSON when there is none)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, str) and kind in ("object", "array", "string", "number", "integer", "boolean"):
        return {"type": kind}
    return {}

"""Walk a JSON Schema by its *schema positions* only.

A schema keyword's value is a subschema only for some keywords (``items``, ``not``, the values of
``properties`` …). Every other value is data: ``enum``, ``const``, ``default``, ``examples``, the keys of
``properties``, the property-name lists of ``dependencies``. Walkers that treat every dict as a schema
crash (or worse, rewrite data) on ``{"properties": {"type": {...}}}`` or
``{"dependencies": {"type": {"required": ["id"]}}}``. This module is the one place that knows which
positions hold schemas; it imports nothing from formbound, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["SCHEMA_KEYWORDS", "subschemas", "walk_schemas"]

#: keyword -> the shape of its subschema(s): "one" (a schema), "list" (schemas), "map" (name -> schema),
#: "one_or_list" (``items`` before 2020-12), "deps" (``dependencies``: schema or list of names).
SCHEMA_KEYWORDS: dict[str, str] = {
    "additionalItems": "one",
    "additionalProperties": "one",
    "contains": "one",
    "contentSchema": "one",
    "else": "one",
    "if": "one",
    "not": "one",
    "propertyNames": "one",
    "then": "one",
    "unevaluatedItems": "one",
    "unevaluatedProperties": "one",
    "items": "one_or_list",
    "allOf": "list",
    "anyOf": "list",
    "oneOf": "list",
    "prefixItems": "list",
    "$defs": "map",
    "definitions": "map",
    "dependentSchemas": "map",
    "patternProperties": "map",
    "properties": "map",
    "dependencies": "deps",
}

Path = tuple[Any, ...]


def subschemas(node: Any) -> Iterator[tuple[Path, Any]]:
    """``(relative path, subschema)`` for every immediate subschema of ``node`` (dicts and booleans)."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        shape = SCHEMA_KEYWORDS.get(key) if isinstance(key, str) else None
        if shape is None:
            continue
        if shape == "one" or (shape == "one_or_list" and not isinstance(value, list)):
            if isinstance(value, (dict, bool)):
                yield (key,), value
        elif shape in ("list", "one_or_list"):
            if isinstance(value, list):
                yield from (((key, i), v) for i, v in enumerate(value) if isinstance(v, (dict, bool)))
        elif isinstance(value, dict):  # "map" and "deps" (a deps list value names properties: data)
            yield from (((key, k), v) for k, v in value.items() if isinstance(v, (dict, bool)))


def walk_schemas(root: Any) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(path from root, schema)`` for ``root`` and every nested dict subschema, depth first.

    Iterative (no recursion limit) and each node is visited once per position, so a schema shared by
    reference from two places is not walked twice unless it is *written* twice.
    """
    stack: list[tuple[Path, Any]] = [((), root)]
    while stack:
        path, cur = stack.pop()
        if not isinstance(cur, dict):
            continue
        yield path, cur
        children = list(subschemas(cur))
        stack.extend(((*path, *rel), sub) for rel, sub in reversed(children))

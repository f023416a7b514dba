"""Bounding a JSON Schema for a decoding grammar.

:func:`grammar_schema` derives the schema handed to a grammar compiler: bounded where the spec is not, so a
degenerate model cannot run a string or an array until the token limit.
"""

from __future__ import annotations

import copy
from typing import Any

from formbound.formats.jsonschema.walk import walk_schemas

__all__ = ["UNENFORCED_KEYWORDS", "grammar_schema"]

#: Keywords grammar backends do not enforce while decoding; post-validation still checks them.
UNENFORCED_KEYWORDS = frozenset(
    {
        "uniqueItems",
        "multipleOf",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "patternProperties",
    }
)


def grammar_schema(
    schema: dict[str, Any] | bool,
    *,
    max_string_length: int | None = 256,
    max_items: int | None = 32,
    max_integer_digits: int | None = 15,
) -> tuple[dict[str, Any] | bool, tuple[str, ...]]:
    """The schema to compile into a decoding grammar, and the keywords it cannot enforce.

    Free-form strings get ``maxLength``, arrays ``maxItems`` and integers a magnitude bound where the spec
    sets none (``None`` turns a bound off): a grammar guarantees a valid prefix, not an ending, and these
    bounds are what make a degenerate model stop. They make the grammar slightly stricter than the spec,
    never looser; post-validation against the real spec always follows. Only schema positions are walked
    (:func:`~formbound.formats.jsonschema.walk.walk_schemas`): a property named ``type`` is not a keyword.
    """
    if isinstance(schema, bool):
        return schema, ()
    out = copy.deepcopy(schema)
    unenforced: set[str] = set()
    for _, node in walk_schemas(out):
        unenforced.update(k for k in node if k in UNENFORCED_KEYWORDS)
        types = node.get("type")
        tset = {t for t in types if isinstance(t, str)} if isinstance(types, list) else {types}
        if not all(isinstance(t, (str, type(None))) for t in tset):
            continue  # not a schema's "type" (an invalid schema is refused before this)
        free_string = not any(k in node for k in ("enum", "const", "format", "pattern", "maxLength"))
        if "string" in tset and free_string and max_string_length is not None:
            node["maxLength"] = max(max_string_length, _int(node.get("minLength")))
        if "array" in tset and "maxItems" not in node and max_items is not None:
            node["maxItems"] = max(max_items, _int(node.get("minItems")))
        if "integer" in tset and max_integer_digits is not None:
            bound = 10**max_integer_digits - 1
            if "maximum" not in node and "exclusiveMaximum" not in node:
                node["maximum"] = bound
            if "minimum" not in node and "exclusiveMinimum" not in node:
                node["minimum"] = -bound
    return out, tuple(sorted(unenforced))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

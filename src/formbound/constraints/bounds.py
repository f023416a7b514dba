"""Bounds a decoding grammar adds to a JSON Schema: structural ones, and ones derived from a token budget.

A grammar guarantees a valid prefix, not an ending. :func:`grammar_schema` bounds integers (a magnitude)
and, only when asked, free strings and arrays. :func:`budget_schema` bounds arrays so that a complete
answer fits a generation's ``max_new_tokens``: it is applied per budget bucket by the grammar compiler,
never below what the schema requires (``minItems``), and never to strings (a string's length in
characters says little about its length in tokens; forced completion near the limit ends runaway strings
instead, see :mod:`formbound.models.forced`).

Both make the grammar stricter than the spec, never looser; post-validation against the spec follows.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from formbound._schema_walk import walk_schemas

__all__ = [
    "UNENFORCED_KEYWORDS",
    "budget_bucket",
    "budget_schema",
    "grammar_schema",
    "minimal_instance",
]

#: Keywords grammar backends do not enforce while decoding; post-validation still checks them.
UNENFORCED_KEYWORDS = frozenset(
    {
        "uniqueItems", "multipleOf", "not", "if", "then", "else", "dependentRequired",
        "dependentSchemas", "dependencies", "contains", "minContains", "maxContains", "propertyNames",
        "unevaluatedProperties", "unevaluatedItems", "patternProperties",
    }
)  # fmt: skip
#: Budgets at or above this many tokens get no budget bounds (nothing a runaway would not also hit).
MAX_BUDGET_BOUND = 4096
_MIN_BUCKET = 16


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def grammar_schema(
    schema: dict[str, Any] | bool,
    *,
    max_string_length: int | None = None,
    max_items: int | None = None,
    max_integer_digits: int | None = 15,
) -> tuple[dict[str, Any] | bool, tuple[str, ...]]:
    """The schema to compile into a decoding grammar, and the keywords it cannot enforce.

    Integers get a magnitude bound where the spec sets none. Free-form strings get ``maxLength`` and
    arrays ``maxItems`` only when ``max_string_length`` / ``max_items`` are given (a fixed string bound
    rejects valid long strings; the token budget bounds arrays per generation, see :func:`budget_schema`).
    Bounds never go below ``minLength`` / ``minItems``.
    """
    if isinstance(schema, bool):
        return schema, ()
    out = copy.deepcopy(schema)
    unenforced: set[str] = set()
    for _, node in walk_schemas(out):  # schema positions only: a property named "type" is no keyword
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


def minimal_instance(schema: Any, _depth: int = 0) -> Any:
    """A small value of ``schema``'s shape: required properties only, ``minItems`` items, ``minLength``.

    Used to estimate the cheapest complete answer in tokens. Not guaranteed valid (``pattern``, ``not``…
    are ignored); ``$ref`` and combinators take their first branch.
    """
    if not isinstance(schema, dict) or _depth > 32:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return min(schema["enum"], key=lambda v: len(json.dumps(v, default=str)))
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and "type" not in schema:
            return minimal_instance(branches[0], _depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else (kind[0] if kind else None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        return {name: minimal_instance(props.get(name, {}), _depth + 1) for name in required}
    if kind == "array":
        item = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [minimal_instance(item, _depth + 1) for _ in range(_int(schema.get("minItems")))]
    if kind == "string":
        return "a" * _int(schema.get("minLength"))
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return low if isinstance(low, (int, float)) and not isinstance(low, bool) else 0
    if kind == "boolean":
        return False
    return None


def budget_bucket(max_new_tokens: int | None) -> int | None:
    """The budget bucket compiled grammars are cached under: a power of two ≥ ``max_new_tokens``.

    ``None`` (no bound) for unknown budgets and budgets of :data:`MAX_BUDGET_BOUND` tokens or more.

    >>> budget_bucket(96), budget_bucket(16), budget_bucket(5000)
    (128, 16, None)
    """
    if max_new_tokens is None or max_new_tokens >= MAX_BUDGET_BOUND:
        return None
    bucket = _MIN_BUCKET
    while bucket < max_new_tokens:
        bucket *= 2
    return bucket


def budget_schema(schema: Any, budget: int, count_tokens: Callable[[str], int]) -> tuple[Any, int]:
    """``schema`` with every array bounded so that a complete answer fits ``budget`` tokens.

    An array without ``maxItems`` gets ``maxItems = (budget - minimal cost) // item cost`` (never below
    ``minItems``); an existing smaller ``maxItems`` is kept.

    Args:
        schema: A JSON Schema (a dict; anything else is returned as is).
        budget: Token budget of the generation (use the bucket, so grammars can be shared).
        count_tokens: Tokens of a text under the model's tokenizer.

    Returns:
        The bounded schema and the minimal cost in tokens of a complete answer.
    """
    if not isinstance(schema, dict):
        return schema, 1
    base = count_tokens(json.dumps(minimal_instance(schema), ensure_ascii=False))
    spare = max(0, budget - base)
    out = copy.deepcopy(schema)
    for _, node in walk_schemas(out):
        types = node.get("type")
        if not ("array" in types if isinstance(types, list) else types == "array"):
            continue
        item = node.get("items") if isinstance(node.get("items"), dict) else {}
        item_cost = count_tokens(json.dumps(minimal_instance(item), ensure_ascii=False) + ", ")
        low = _int(node.get("minItems"))
        bound = max(low, low + spare // max(1, item_cost))
        if _int(node.get("maxItems"), bound + 1) > bound:
            node["maxItems"] = bound
    return out, base

"""Reading a JSON Schema node for the YAML grammar: its declared types, its allOf merged, annotations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ANNOTATIONS", "merge_all_of", "types_of"]

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "$schema",
        "$id",
        "$anchor",
        "$defs",
        "definitions",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
    }
)


def types_of(node: dict[str, Any]) -> list[str]:
    """The node's ``type`` as a list (``nullable: true`` adds ``"null"``); empty when it names none."""
    t = node.get("type")
    if isinstance(t, str):
        types = [t]
    elif isinstance(t, list) and t:
        types = [x for x in t if isinstance(x, str)]
    else:
        types = []
    if types and node.get("nullable") is True and "null" not in types:
        types.append("null")
    return types


def merge_all_of(
    node: dict[str, Any], resolve: Callable[[str], dict[str, Any] | bool | None], unenforced: set[str]
) -> dict[str, Any]:
    """Inline single-branch allOf; merge simple multi-branch allOf (adding ``"allOf"`` to ``unenforced``)."""
    if "allOf" not in node or not isinstance(node["allOf"], list):
        return node
    merged = {k: v for k, v in node.items() if k != "allOf"}
    branches = node["allOf"]
    if len(branches) != 1:
        unenforced.add("allOf")
    for branch in branches:
        if isinstance(branch, dict) and "$ref" in branch:
            target = resolve(branch["$ref"]) if isinstance(branch["$ref"], str) else None
            branch = target if isinstance(target, dict) else {}
        if not isinstance(branch, dict):
            continue
        branch = merge_all_of(branch, resolve, unenforced)
        for key, val in branch.items():
            if key == "properties" and isinstance(val, dict):
                merged["properties"] = {**merged.get("properties", {}), **val}
            elif key == "required" and isinstance(val, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *val]))
            elif key not in merged:
                merged[key] = val
    return merged

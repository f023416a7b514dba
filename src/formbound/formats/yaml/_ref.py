"""The YAML package's one local ``$ref`` resolver (the grammar, the canonical dump and the prompt shape
all follow references through it)."""

from __future__ import annotations

from typing import Any

__all__ = ["deref", "resolve_ref"]

#: How many ``$ref``/``allOf`` hops :func:`deref` follows (recursive schemas stop there).
_MAX_HOPS = 20


def resolve_ref(root: Any, ref: str) -> dict[str, Any] | bool | None:
    """The schema a local ``$ref`` (``#/...`` JSON pointer) points at, or None where it points nowhere.

    >>> resolve_ref({"$defs": {"a/b": {"type": "string"}}}, "#/$defs/a~1b")
    {'type': 'string'}
    """
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, (dict, bool)) else None


def deref(node: Any, root: Any) -> Any:
    """Follow local ``$ref`` and single-branch ``allOf`` (bounded, for recursive schemas).

    Sibling keywords of a ``$ref`` override the target's; an unresolvable ``$ref`` is dropped.
    """
    hops = 0
    while isinstance(node, dict) and hops < _MAX_HOPS:
        hops += 1
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            target = resolve_ref(root, ref)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **rest} if isinstance(target, dict) else rest
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **all_of[0]}
            continue
        break
    return node

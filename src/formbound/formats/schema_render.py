"""A compact, readable rendering of a JSON Schema for prompts (a TypeScript-like shape, not a dump)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render_shape"]

_MAX_DEPTH = 6


def _resolve(schema: Any, root: Any) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 8:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            return {}
        node = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part, {}) if isinstance(node, dict) else {}
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **extra} if isinstance(node, dict) else node
        seen += 1
    return schema


def _constraints(s: dict[str, Any]) -> str:
    bits = []
    for key, label in (
        ("format", "{}"),
        ("pattern", "pattern {}"),
        ("minimum", ">= {}"),
        ("exclusiveMinimum", "> {}"),
        ("maximum", "<= {}"),
        ("exclusiveMaximum", "< {}"),
        ("minLength", "min length {}"),
        ("maxLength", "max length {}"),
        ("minItems", "min {} items"),
        ("maxItems", "max {} items"),
    ):
        if key in s:
            bits.append(label.format(s[key]))
    return f" ({', '.join(bits)})" if bits else ""


def _shape(schema: Any, root: Any, indent: int, depth: int) -> str:
    schema = _resolve(schema, root)
    if schema is True or schema == {}:
        return "any"
    if schema is False:
        return "never"
    if not isinstance(schema, dict):
        return "any"
    if depth > _MAX_DEPTH:
        return "object"
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_shape(s, root, indent, depth + 1) for s in schema[key])
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part, root)
            if isinstance(part, dict):
                for k, v in part.items():
                    if k == "properties":
                        merged.setdefault("properties", {}).update(v)
                    elif k == "required":
                        merged.setdefault("required", []).extend(v)
                    else:
                        merged.setdefault(k, v)
        return _shape(merged, root, indent, depth + 1)
    types = schema.get("type")
    if isinstance(types, list):
        return " | ".join(_shape({**schema, "type": t}, root, indent, depth) for t in types)
    if types == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if not props:
            return "object"
        required = set(schema.get("required", []))
        pad = "  " * (indent + 1)
        lines = ["{"]
        for name, sub in props.items():
            opt = "" if name in required else "?"
            desc = sub.get("description") if isinstance(sub, dict) else None
            comment = f"  // {desc}" if desc else ""
            lines.append(
                f"{pad}{json.dumps(name)}{opt}: {_shape(sub, root, indent + 1, depth + 1)},{comment}"
            )
        lines.append("  " * indent + "}")
        return "\n".join(lines)
    if types == "array" or "items" in schema:
        items = schema.get("items", {})
        inner = _shape(items, root, indent, depth + 1)
        if " | " in inner:
            inner = f"({inner})"
        return f"{inner}[]{_constraints(schema)}"
    if isinstance(types, str):
        return f"{types}{_constraints(schema)}"
    return "any"


def render_shape(schema: Any) -> str:
    """Render ``schema`` as a readable shape; keys marked ``?`` are optional.

    >>> print(render_shape({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}},
    ...                     "required": ["n"]}))
    {
      "n": integer (>= 0),
    }
    """
    return _shape(schema, schema, 0, 0)

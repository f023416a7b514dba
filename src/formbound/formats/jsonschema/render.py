"""A compact, readable rendering of a JSON Schema for prompts (a TypeScript-like shape, not a dump)."""

from __future__ import annotations

import json
from typing import Any

from formbound.formats.jsonschema.refs import resolve_local

__all__ = ["render_shape"]

_MAX_DEPTH = 6


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


def _cut_off(schema: dict[str, Any]) -> str:
    """What a subschema below the depth limit is, without its inner shape (``integer``, ``object``)."""
    types = schema.get("type")
    names = [t for t in types if isinstance(t, str)] if isinstance(types, list) else [types]
    names = [t for t in names if isinstance(t, str)]
    if not names:
        if "properties" in schema:
            names = ["object"]
        elif "items" in schema or "prefixItems" in schema:
            names = ["array"]
        elif "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            return " | ".join(json.dumps(v) for v in values) if isinstance(values, list) else "any"
    if not names:
        return "any"
    return " | ".join("any[]" if t == "array" else t for t in names)


def _shape(schema: Any, root: Any, indent: int, depth: int) -> str:
    schema = resolve_local(schema, root)
    if schema is True or schema == {}:
        return "any"
    if schema is False:
        return "never"
    if not isinstance(schema, dict):
        return "any"
    if depth > _MAX_DEPTH:
        return _cut_off(schema)
    if "const" in schema:
        return json.dumps(schema["const"])
    if isinstance(schema.get("enum"), list):
        return " | ".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_shape(s, root, indent, depth + 1) for s in schema[key])
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = resolve_local(part, root)
            if isinstance(part, dict):
                for k, v in part.items():
                    if k == "properties" and isinstance(v, dict):
                        merged.setdefault("properties", {}).update(v)
                    elif k == "required" and isinstance(v, list):
                        merged.setdefault("required", []).extend(v)
                    else:
                        merged.setdefault(k, v)
        return _shape(merged, root, indent, depth + 1)
    types = schema.get("type")
    if isinstance(types, list):
        return " | ".join(_shape({**schema, "type": t}, root, indent, depth) for t in types)
    if types == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return "object"
        required = schema.get("required")
        required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
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

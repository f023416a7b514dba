"""Canonical YAML text and the prompt's picture of the expected document.

Canonical text (:func:`dump_block`): block style, two-space indentation, sequences indented under their
key, keys in schema property order then the remaining keys sorted, strings plain where that reads back
as the same string (and not as ``yes``/``no``/``on``/``off`` to a YAML 1.1 reader) and double-quoted
otherwise, empty containers as ``{}``/``[]``.

:func:`shape` writes the schema as commented YAML (``name: <string>  # optional``).
"""

from __future__ import annotations

from typing import Any

from formbound.formats.jsonschema.refs import resolve_local
from formbound.formats.yaml.grammar import is_plain_safe, render_scalar

__all__ = ["dump_block", "shape", "top_keys"]


def dump_block(value: Any, schema: Any) -> str:
    """Canonical block-style YAML of one document ``value`` (key order taken from ``schema``)."""
    return _block(value, schema, schema, 0, "root")


def top_keys(schema: Any) -> tuple[str, ...]:
    """The properties the schema declares at the top level, in order."""
    node = resolve_local(schema, schema, inline_single_allof=True)
    props = node.get("properties") if isinstance(node, dict) else None
    return tuple(props) if isinstance(props, dict) else ()


def shape(schema: Any) -> list[str]:
    """Lines showing the expected document; objects and arrays nest, scalars become ``<type>``."""
    return _shape(schema, schema, 0)


def _branches(node: Any, root: Any) -> list[dict[str, Any]]:
    node = resolve_local(node, root, inline_single_allof=True)
    if not isinstance(node, dict):
        return []
    out = [node]
    for key in ("anyOf", "oneOf", "allOf"):
        for b in node.get(key, []) if isinstance(node.get(key), list) else []:
            out += _branches(b, root)
    return out


def _props(node: Any, root: Any) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for b in _branches(node, root):
        if isinstance(b.get("properties"), dict):
            for k, v in b["properties"].items():
                props.setdefault(k, v)
    return props


def _child(node: Any, root: Any, key: Any) -> Any:
    for b in _branches(node, root):
        if isinstance(key, str):
            if isinstance(b.get("properties"), dict) and key in b["properties"]:
                return b["properties"][key]
            if isinstance(b.get("additionalProperties"), dict):
                return b["additionalProperties"]
        else:
            prefix = b.get("prefixItems")
            if isinstance(prefix, list) and key < len(prefix):
                return prefix[key]
            if isinstance(b.get("items"), dict):
                return b["items"]
    return {}


def _key_text(key: Any) -> str:
    return (
        render_scalar(key)
        if not isinstance(key, str)
        else (key if is_plain_safe(key) else render_scalar(key))
    )


def _block(value: Any, node: Any, root: Any, indent: int, ctx: str) -> str:
    """Block-style YAML; ``ctx`` is where the value sits: "root", after ``key:`` ("map") or ``-`` ("seq")."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        order = _props(node, root)
        keys = [k for k in order if k in value] + sorted((k for k in value if k not in order), key=str)
        out = []
        for j, key in enumerate(keys):
            lead = "" if (j == 0 and ctx == "seq") else pad
            ktext = _key_text(key)
            head = f"{lead}{ktext}:" if len(ktext) <= 1000 else f"{lead}? {ktext}\n{pad}:"
            out.append(head + _after(value[key], _child(node, root, key), root, indent, "map"))
        return "".join(out)
    if isinstance(value, list) and value:
        out = []
        for j, item in enumerate(value):
            lead = "" if (j == 0 and ctx == "seq") else pad
            out.append(lead + "-" + _after(item, _child(node, root, j), root, indent, "seq"))
        return "".join(out)
    return render_scalar(value) + "\n"


def _after(value: Any, node: Any, root: Any, indent: int, ctx: str) -> str:
    if isinstance(value, (dict, list)) and value:
        if ctx == "map":
            return "\n" + _block(value, node, root, indent + 2, "map")
        return " " + _block(value, node, root, indent + 2, "seq")
    return " " + render_scalar(value) + "\n"


def _describe_scalar(node: dict[str, Any], root: Any) -> str:
    if "const" in node:
        return f"exactly {render_scalar(node['const'])}"
    if isinstance(node.get("enum"), list):
        return "one of: " + " | ".join(render_scalar(v) for v in node["enum"])
    types = node.get("type")
    kinds = types if isinstance(types, list) else [types] if isinstance(types, str) else []
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            kinds += [
                _describe_scalar(resolve_local(b, root, inline_single_allof=True), root)
                for b in node[key]
                if isinstance(b, dict)
            ]
    text = " or ".join(dict.fromkeys(k for k in kinds if k)) or "any value"
    extras = []
    if "minLength" in node or "maxLength" in node:
        extras.append(
            f"{node.get('minLength', 0)}-{node['maxLength']} chars"
            if "maxLength" in node
            else f"at least {node['minLength']} chars"
        )
    for kw, word in (
        ("minimum", ">="),
        ("maximum", "<="),
        ("exclusiveMinimum", ">"),
        ("exclusiveMaximum", "<"),
    ):
        if kw in node:
            extras.append(f"{word} {node[kw]}")
    for kw in ("format", "pattern"):
        if kw in node:
            extras.append(f"{kw} {node[kw]}")
    return text + (f", {', '.join(extras)}" if extras else "")


def _shape(node: Any, root: Any, indent: int, depth: int = 0) -> list[str]:
    """Lines showing the expected shape; objects and arrays nest, scalars become ``<type>``."""
    pad = " " * indent
    node = resolve_local(node, root, inline_single_allof=True)
    if not isinstance(node, dict) or depth > 6:
        return [f"{pad}<any value>"]
    branches = [b for b in _branches(node, root) if isinstance(b.get("properties"), dict)]
    if branches:
        required: set[str] = set()
        for b in branches:
            required.update(r for r in b.get("required", []) if isinstance(r, str))
        lines = []
        for key, sub in _props(node, root).items():
            sub_r = resolve_local(sub, root, inline_single_allof=True)
            note = "" if key in required else "  # optional"
            desc = sub_r.get("description") if isinstance(sub_r, dict) else None
            if isinstance(desc, str) and desc:
                note += ("  #" if not note else ";") + " " + " ".join(desc.split())[:80]
            ktext = _key_text(key)
            if isinstance(sub_r, dict) and (_props(sub_r, root) or _is_array(sub_r)):
                lines.append(f"{pad}{ktext}:{note}")
                lines += _shape(sub_r, root, indent + 2, depth + 1)
            else:
                scalar = _describe_scalar(sub_r, root) if isinstance(sub_r, dict) else "any value"
                lines.append(f"{pad}{ktext}: <{scalar}>{note}")
        return lines
    if _is_array(node):
        bounds = []
        if "minItems" in node:
            bounds.append(f"at least {node['minItems']}")
        if "maxItems" in node:
            bounds.append(f"at most {node['maxItems']}")
        head = [f"{pad}# list, {' and '.join(bounds)} items"] if bounds else []
        items = resolve_local(node.get("items", {}), root, inline_single_allof=True)
        inner = _shape(items, root, indent + 2, depth + 1)
        first = inner[0].lstrip() if inner else "<any value>"
        return [*head, f"{pad}- {first}", *inner[1:]]
    return [f"{pad}<{_describe_scalar(node, root)}>"]


def _is_array(node: dict[str, Any]) -> bool:
    t = node.get("type")
    return t == "array" or (isinstance(t, list) and "array" in t and "object" not in t) or "items" in node

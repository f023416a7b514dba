"""A valid instance written the way a grammar-constrained model writes it: object keys in schema order.

llguidance (like every JSON-Schema grammar backend) emits an object's properties in the order the schema
declares them; for an ``allOf`` of object schemas, branch after branch. JSON objects are unordered, so a
valid value whose keys come in another order is the same value: the grammar loses nothing a model needs
if it accepts the value with its keys in schema order. :func:`schema_ordered` rewrites a value that way
(keys the schema does not name — ``additionalProperties``, ``patternProperties`` — keep their relative
order, after the named ones). The grammar benchmark reports both "as written" and "in schema order".
"""

from __future__ import annotations

from typing import Any

import jsonschema


def schema_ordered(schema: Any, value: Any) -> Any:
    """``value`` with every object's keys in the order ``schema`` declares them (values unchanged)."""
    return _order(value, [schema], schema, 0)


def _resolve(node: Any, root: Any) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#"):
        return node
    target = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return node
    return target


def _fits(branch: Any, value: Any, root: Any) -> bool:
    if not isinstance(branch, dict):
        return bool(branch)
    defs = {k: root[k] for k in ("$defs", "definitions") if isinstance(root, dict) and k in root}
    probe = {**branch, **defs}
    try:
        return bool(jsonschema.validators.validator_for(root)(probe).is_valid(value))
    except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.RefResolutionError, RecursionError):
        return False


def _expand(schemas: list[Any], value: Any, root: Any, depth: int) -> list[dict[str, Any]]:
    """The schema nodes that apply to ``value``, in declaration order."""
    out: list[dict[str, Any]] = []
    for node in schemas:
        node = _resolve(node, root)
        if not isinstance(node, dict) or depth > 64:
            continue
        out.append(node)
        nested: list[Any] = []
        if "$ref" in node and _resolve(node, root) is not node:
            nested.append(_resolve(node, root))
        nested += [b for b in node.get("allOf", []) if isinstance(node.get("allOf"), list)]
        for key in ("anyOf", "oneOf"):
            branches = node.get(key)
            if isinstance(branches, list):
                nested += [b for b in branches if _fits(b, value, root)][:1]
        if "if" in node:
            nested.append(node.get("then" if _fits(node["if"], value, root) else "else", {}))
        out += _expand(nested, value, root, depth + 1)
    return out


def _order(value: Any, schemas: list[Any], root: Any, depth: int) -> Any:
    nodes = _expand(schemas, value, root, depth)
    if isinstance(value, dict):
        names: list[str] = []
        for node in nodes:
            props = node.get("properties")
            names += [k for k in props if k not in names] if isinstance(props, dict) else []
        keys = [k for k in names if k in value] + [k for k in value if k not in names]
        out = {}
        for k in keys:
            subs = [n["properties"][k] for n in nodes if k in (n.get("properties") or {})]
            for n in nodes:
                extra = n.get("additionalProperties")
                if isinstance(extra, dict) and not subs:
                    subs.append(extra)
            out[k] = _order(value[k], subs, root, depth + 1)
        return out
    if isinstance(value, list):
        out_list = []
        for i, item in enumerate(value):
            subs = []
            for n in nodes:
                prefix = n.get("prefixItems")
                if isinstance(prefix, list) and i < len(prefix):
                    subs.append(prefix[i])
                elif isinstance(n.get("items"), dict):
                    subs.append(n["items"])
            out_list.append(_order(item, subs, root, depth + 1))
        return out_list
    return value

"""The one local ``$ref`` resolver for code that reads a schema's shape (prompts, grammars).

Validation resolves references with :mod:`referencing` (see :mod:`.validate`); shape readers only need
the target of a reference *inside the same document*: a JSON pointer (``#/$defs/x``), a plain-name
anchor (``#x``), or an embedded ``$id`` (``item.json``, relative to the root ``$id``). Anything else
(a remote document) is not followed: the reader treats it as unknown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from formbound._schema_walk import walk_schemas

__all__ = ["ref_target", "resolve_local"]

#: ``$ref`` hops followed before giving up (recursive schemas point back at themselves).
MAX_HOPS = 20


def _pointer(root: Any, pointer: str) -> Any | None:
    node = root
    for part in pointer.split("/")[1:]:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _index(root: dict[str, Any]) -> dict[str, Any]:
    """Absolute URI (``$id`` and ``$id#anchor``) -> subschema, for every embedded resource."""
    base_of: dict[tuple[Any, ...], str] = {}
    found: dict[str, Any] = {}
    for path, node in walk_schemas(root):
        parent = next((base_of[path[:i]] for i in range(len(path), -1, -1) if path[:i] in base_of), "")
        base = parent
        ident = node.get("$id", node.get("id") if not path else None)
        if isinstance(ident, str):
            base = urldefrag(urljoin(parent, ident))[0]
            found.setdefault(base, node)
        base_of[path] = base
        for key in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(key), str):
                found.setdefault(f"{base}#{node[key]}", node)
    return found


def ref_target(root: Any, ref: str) -> Any | None:
    """The node ``ref`` points to inside ``root`` (a dict or bool schema), or ``None`` if it is not local.

    >>> ref_target({"$defs": {"n": {"type": "integer"}}}, "#/$defs/n")
    {'type': 'integer'}
    """
    if not isinstance(root, dict) or not isinstance(ref, str):
        return None
    if ref.startswith("#/") or ref == "#":
        return _pointer(root, ref[1:])
    root_id: str = root["$id"] if isinstance(root.get("$id"), str) else ""
    uri, fragment = urldefrag(urljoin(root_id, ref))
    index = _index(root)
    if not uri or uri == urldefrag(root_id)[0]:
        doc: Any = root
    else:
        doc = index.get(uri)
        if doc is None:
            return None
    if not fragment:
        return doc
    if fragment.startswith("/"):
        return _pointer(doc, fragment)
    return index.get(f"{uri}#{fragment}")


def resolve_local(node: Any, root: Any, *, inline_single_allof: bool = False) -> Any:
    """``node`` with local ``$ref`` followed (siblings of ``$ref`` kept, bounded for recursive schemas).

    Args:
        node: A subschema of ``root``.
        root: The whole schema, against which references are resolved.
        inline_single_allof: also merge a one-branch ``allOf`` into its parent (how pydantic wraps a
            referenced model that carries a description).

    Returns:
        The resolved subschema; an unresolvable reference leaves only the ``$ref``'s siblings.
    """
    for _ in range(MAX_HOPS):
        if not isinstance(node, dict):
            break
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = ref_target(root, ref)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            if isinstance(target, bool) and not rest:
                return target
            node = {**target, **rest} if isinstance(target, dict) else rest
            continue
        all_of = node.get("allOf")
        single = isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict)
        if inline_single_allof and single:
            assert isinstance(all_of, list)  # for mypy: ``single`` checked it
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **all_of[0]}
            continue
        break
    return node

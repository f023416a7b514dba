"""A Lark grammar (llguidance dialect) for block-style YAML matching a JSON Schema.

No grammar library offers YAML, so this module writes one. The grammar is a *subset* of what the schema
allows, chosen so that everything it emits loads with a YAML 1.2 safe loader to a value the schema
accepts (the keywords it cannot express are returned as ``unenforced``, and post-validation checks them):

* objects with declared ``properties`` are block mappings at a fixed indentation (two spaces per
  level), properties in schema order, optional ones omittable, undeclared ones never emitted;
  an object that may be empty can also be written ``{}``;
* arrays are block sequences (``- item``), bounded by ``minItems``/``maxItems`` (``max_items`` where the
  schema sets none); an array that may be empty can also be written ``[]``;
* strings are plain scalars only when YAML cannot read them as anything else (they start with a letter,
  use a conservative character set and are not ``null``/``true``/``yes``/``no``/… — words YAML 1.1
  readers would turn into booleans are quoted too), otherwise double-quoted; their length is bounded by
  ``minLength``/``maxLength`` (``max_string_length`` where the schema sets none) and every quoted
  escape decodes to exactly one character, so the bounds are exact;
* integers and numbers are bounded in digits; enums and consts are literal alternatives;
* type lists, ``anyOf`` and ``oneOf`` are alternatives; single-branch ``allOf`` and local ``$ref`` are
  inlined (recursive references are followed a few levels, then written in flow style);
* tuples (``prefixItems``), mappings with free keys (``additionalProperties`` only) and recursion past
  a few levels are written on one line in flow style (``[...]``/``{...}`` with double-quoted strings).

>>> grammar, unenforced = yaml_grammar({"type": "object", "properties": {"n": {"type": "integer"}}})
>>> grammar.splitlines()[0]
'start: root'
"""

from __future__ import annotations

import json
from typing import Any

from formbound.formats.jsonschema.refs import ref_target
from formbound.formats.yaml.scalars import PLAIN_RESERVED, dq_escape, is_plain_safe, render_scalar
from formbound.formats.yaml.schema_node import ANNOTATIONS, merge_all_of, types_of
from formbound.formats.yaml.terminals import lit, number_regex, pattern_regex, plain_regex, quoted_regex

__all__ = [
    "PLAIN_RESERVED",
    "is_plain_safe",
    "render_scalar",
    "yaml_grammar",
]

_SCALAR_TYPES = ("string", "integer", "number", "boolean", "null")
#: How many times one ``$ref`` may be expanded inside itself before falling back to flow style.
_MAX_REF_REPEATS = 2
#: Deepest block nesting generated before falling back to flow style.
_MAX_BLOCK_DEPTH = 12


class _Builder:
    def __init__(self, root: dict[str, Any], max_string_length: int, max_items: int) -> None:
        self.root = root
        self.max_string_length = max_string_length
        self.max_items = max_items
        self.rules: dict[str, str] = {}
        self.lexemes: dict[str, str] = {}
        self.memo: dict[tuple[str, int, str], str] = {}
        self.unenforced: set[str] = set()
        self.refs: list[str] = []

    # ------------------------------------------------------------ names
    def _rule(self, prefix: str, body: str) -> str:
        name = f"{prefix}_{len(self.rules)}"
        self.rules[name] = body
        return name

    def _lexeme(self, regex: str) -> str:
        for name, existing in self.lexemes.items():
            if existing == regex:
                return name
        name = f"T{len(self.lexemes)}"
        self.lexemes[name] = regex
        return name

    # ------------------------------------------------------------ schema plumbing
    def _resolve(self, ref: str) -> dict[str, Any] | bool | None:
        target = ref_target(self.root, ref)
        return target if isinstance(target, (dict, bool)) else None

    # ------------------------------------------------------------ values
    def value(self, schema: Any, indent: int, ctx: str) -> str:
        """A rule for a value: after ``key:`` ("map"), after ``-`` ("seq"), at the root, or in flow style.

        Block contexts include the separator and the final newline; "flow" is the bare value.
        """
        if schema is True or schema is None:
            schema = {}
        if schema is False:
            self.unenforced.add("false")
            schema = {"type": "null"}
        refs = "" if ctx == "flow" else "/".join(self.refs)  # flow rules are indentation-free
        key = (json.dumps(schema, sort_keys=True, default=str) + "|" + refs, indent, ctx)
        if key in self.memo:
            return self.memo[key]
        name = f"v_{len(self.memo)}"
        self.memo[key] = name
        self.rules[name] = ""  # reserved: a recursive schema refers to it before it is written
        self.rules[name] = " | ".join(self._alternatives(schema, indent, ctx))
        return name

    def _wrap(self, inner: str, ctx: str) -> str:
        """A one-line value in a block context: separator, value, newline."""
        if ctx == "flow":
            return f"({inner})"
        if ctx == "root":
            return f'({inner}) "\\n"'
        return f'" " ({inner}) "\\n"'

    def _alternatives(self, schema: dict[str, Any], indent: int, ctx: str) -> list[str]:
        flow = ctx == "flow"
        if "$ref" in schema:
            ref = schema["$ref"]
            target = self._resolve(ref) if isinstance(ref, str) else None
            if target is None:
                self.unenforced.add("$ref")
                return [self._wrap(self._any_scalar(flow), ctx)]
            rest = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
            merged = {**target, **rest} if isinstance(target, dict) else target
            if not flow and (self.refs.count(ref) >= _MAX_REF_REPEATS or indent // 2 >= _MAX_BLOCK_DEPTH):
                return [self._wrap(self.value(merged, 0, "flow"), ctx)]  # recursion: go flow
            self.refs.append(ref)
            try:
                return [self.value(merged, indent, ctx)]
            finally:
                self.refs.pop()
        schema = merge_all_of(schema, self._resolve, self.unenforced)
        if "const" in schema:
            return [self._wrap(lit(render_scalar(schema["const"], flow=flow)), ctx)]
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            lits = " | ".join(dict.fromkeys(lit(render_scalar(v, flow=flow)) for v in schema["enum"]))
            return [self._wrap(lits, ctx)]
        for branch_key in ("anyOf", "oneOf"):
            branches = schema.get(branch_key)
            if isinstance(branches, list) and branches:
                if any(k in schema for k in ("type", "properties", "items", "additionalProperties")):
                    self.unenforced.add(branch_key)  # mixed with sibling keywords: not merged
                    break
                if branch_key == "oneOf":
                    self.unenforced.add("oneOf")
                return [self.value(b, indent, ctx) for b in branches]
        if "not" in schema:
            self.unenforced.add("not")
        types = types_of(schema)
        if not types:
            if "properties" in schema or "required" in schema:
                types = ["object"]
            elif "items" in schema or "prefixItems" in schema:
                types = ["array"]
            else:
                return [self._wrap(self._any_scalar(flow), ctx)]
        alts: list[str] = []
        scalars: list[str] = []
        for t in types:
            if t in _SCALAR_TYPES:
                scalars.append(self._scalar(t, schema, flow))
            elif t == "object":
                alts.extend(self._object(schema, indent, ctx))
            elif t == "array":
                alts.extend(self._array(schema, indent, ctx))
        if scalars:
            alts.insert(0, self._wrap(" | ".join(scalars), ctx))
        if not alts:
            self.unenforced.add("type")
            alts.append(self._wrap(self._any_scalar(flow), ctx))
        return alts

    # ------------------------------------------------------------ scalars
    def _any_scalar(self, flow: bool) -> str:
        return " | ".join(self._scalar(t, {}, flow) for t in _SCALAR_TYPES)

    def _scalar(self, t: str, schema: dict[str, Any], flow: bool) -> str:
        if t == "null":
            return '"null"'
        if t == "boolean":
            return '"true" | "false"'
        if t in ("integer", "number"):
            return self._number(t, schema)
        return self._string(schema, flow)

    def _number(self, t: str, schema: dict[str, Any]) -> str:
        for kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if kw in schema:
                self.unenforced.add(kw)
        return self._lexeme(number_regex(t, schema))

    def _quoted(self, lo: int, hi: int) -> str:
        return self._lexeme(quoted_regex(lo, hi))

    def _string(self, schema: dict[str, Any], flow: bool) -> str:
        pattern = pattern_regex(schema.get("pattern"))
        for kw in ("pattern", "format", "contentSchema"):
            if kw in schema and not (kw == "pattern" and pattern is not None):
                self.unenforced.add(kw)
        lo = schema.get("minLength", 0)
        hi = schema.get("maxLength", self.max_string_length)
        lo = lo if isinstance(lo, int) and not isinstance(lo, bool) and lo >= 0 else 0
        hi = hi if isinstance(hi, int) and not isinstance(hi, bool) and hi >= 0 else self.max_string_length
        hi = max(hi, lo)
        if hi == 0:
            return '"\\"\\""'
        quoted = self._lexeme(quoted_regex(lo, hi, pattern))
        if flow:
            return quoted
        plain = self._lexeme(plain_regex(lo, hi, pattern))
        return f"{plain} | {quoted}"

    # ------------------------------------------------------------ objects
    def _place(self, body: str, ctx: str) -> str:
        """A multi-line block in a block context (starts after the key or the dash)."""
        if ctx == "map":
            return f'"\\n" {body}'
        if ctx == "seq":
            return f'" " {body}'
        return body

    def _object(self, schema: dict[str, Any], indent: int, ctx: str) -> list[str]:
        for kw in ("minProperties", "maxProperties", "patternProperties", "propertyNames"):
            if kw in schema:
                self.unenforced.add(kw)
        props = schema.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        for r in required:
            props.setdefault(r, {})  # required without a declared schema: any value
        extra = schema.get("additionalProperties", True)
        empty = self._wrap('"{}"', ctx)
        names = list(props)
        if not names:
            if isinstance(extra, dict) and extra:
                self.unenforced.add("unique keys")  # a free key can repeat, and the loader rejects that
                return [empty, self._wrap(self._free_mapping(extra), ctx)]
            return [empty]
        alts = [] if required else [empty]
        if ctx == "flow":
            body = self._entries(props, names, set(required), 0, "flow")
            alts.append(f'"{{" {body} "}}"')
            return alts
        inner = indent + 2 if ctx != "root" else 0
        body = self._entries(props, names, set(required), inner, "inline" if ctx == "seq" else "block")
        alts.append(self._place(body, ctx))
        return alts

    def _free_mapping(self, values: dict[str, Any]) -> str:
        key = self._quoted(1, 64)
        value = self.value(values, 0, "flow")
        entry = f'{key} ": " {value}'
        more = f'(", " {entry}){{0,{self.max_items - 1}}}' if self.max_items > 1 else ""
        return self._rule("d", f'"{{" {entry} {more} "}}"')

    def _entries(
        self, props: dict[str, Any], names: list[str], required: set[str], indent: int, style: str
    ) -> str:
        """Rules R_i(first): the entries from ``names[i]`` on, at least one of them present.

        ``style`` is "block" (every key on its own line at ``indent``), "inline" (the first key follows
        a ``- ``) or "flow" (``"key": value`` separated by commas).
        """
        k = len(names)
        later_required = [any(n in required for n in names[i:]) for i in range(k + 1)]
        made: dict[tuple[int, bool], str] = {}
        for i in range(k - 1, -1, -1):
            for first in (False, True):
                if style == "flow":
                    head = ("" if first else ", ") + dq_escape(names[i]) + ": "
                    value = self.value(props[names[i]], 0, "flow")
                else:
                    pad = "" if (first and style == "inline") else " " * indent
                    key = names[i] if is_plain_safe(names[i]) else dq_escape(names[i])
                    head = pad + key + ":"
                    value = self.value(props[names[i]], indent, "map")
                entry = f"{lit(head)} {value}"
                alts = []
                if i + 1 < k:
                    tail = made[(i + 1, False)]
                    alts.append(f"{entry} {tail}" if later_required[i + 1] else f"{entry} {tail}?")
                else:
                    alts.append(entry)
                if names[i] not in required and i + 1 < k:
                    alts.append(made[(i + 1, first)])
                made[(i, first)] = self._rule("m", " | ".join(alts))
        return made[(0, True)]

    # ------------------------------------------------------------ arrays
    def _bounds(self, schema: dict[str, Any]) -> tuple[int, int]:
        lo = schema.get("minItems", 0)
        hi = schema.get("maxItems", self.max_items)
        lo = lo if isinstance(lo, int) and not isinstance(lo, bool) and lo >= 0 else 0
        hi = hi if isinstance(hi, int) and not isinstance(hi, bool) and hi >= 0 else self.max_items
        return lo, max(hi, lo)

    def _array(self, schema: dict[str, Any], indent: int, ctx: str) -> list[str]:
        for kw in ("uniqueItems", "contains", "minContains", "maxContains", "unevaluatedItems"):
            if kw in schema:
                self.unenforced.add(kw)
        items = schema.get("items", {})
        prefix = schema.get("prefixItems", items if isinstance(items, list) else None)
        if isinstance(prefix, list):
            return [self._wrap(self._tuple(schema, prefix), ctx)]
        lo, hi = self._bounds(schema)
        alts = [self._wrap('"[]"', ctx)] if lo == 0 else []
        if hi == 0:
            return alts
        lo1, hi1 = max(lo, 1) - 1, hi - 1
        if ctx == "flow":
            item = self.value(items, 0, "flow")
            more = f' (", " {item}){{{lo1},{hi1}}}' if hi1 else ""
            alts.append(f'"[" {item}{more} "]"')
            return alts
        inner = indent + 2 if ctx != "root" else 0
        item_value = self.value(items, inner, "seq")
        pad = " " * inner
        first = f"{lit(('' if ctx == 'seq' else pad) + '-')} {item_value}"
        more = f"{lit(pad + '-')} {item_value}"
        body = first if hi1 == 0 else f"{first} ({more}){{{lo1},{hi1}}}"
        alts.append(self._place(self._rule("s", body), ctx))
        return alts

    def _tuple(self, schema: dict[str, Any], prefix: list[Any]) -> str:
        """A tuple (``prefixItems``) in flow style: the first ``minItems`` items required."""
        lo, hi = self._bounds(schema)
        n = min(len(prefix), hi)
        if n == 0:
            return '"[]"'
        if lo > n:
            self.unenforced.add("minItems")  # items past the tuple are not generated
        values = [self.value(p, 0, "flow") for p in prefix[:n]]
        tail = ""
        for i in range(n - 1, 0, -1):
            part = f'", " {values[i]}' + (f" {tail}" if tail else "")
            tail = f"({part})" + ("" if i < lo else "?")
        inner = values[0] + (f" {tail}" if tail else "")
        alts = [f'"[" {inner} "]"']
        if lo == 0:
            alts.append('"[]"')
        return self._rule("t", " | ".join(alts))


def yaml_grammar(
    schema: dict[str, Any] | bool | None,
    *,
    max_string_length: int = 256,
    max_items: int = 32,
    multi_document: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """The Lark grammar (start rule ``start``) for block YAML documents matching ``schema``.

    Args:
        schema: A JSON Schema (dict or bool); ``None`` means any value.
        max_string_length: Longest string where the schema sets no ``maxLength``.
        max_items: Most array items (and documents) where the schema sets no ``maxItems``.
        multi_document: Allow a stream of documents separated by ``---``.

    Returns:
        ``(grammar, unenforced)``: the grammar text and the sorted keywords it does not enforce.
    """
    root = schema if isinstance(schema, dict) else {}
    if schema is False:
        root = {"not": {}}
    builder = _Builder(root, max_string_length, max_items)
    top = builder.value(root, 0, "root")
    if multi_document:
        start = f'root: {top} ("---\\n" {top}){{0,{max(max_items - 1, 0)}}}'
    else:
        start = f"root: {top}"
    lines = ["start: root", start]
    lines += [f"{name}: {body}" for name, body in builder.rules.items()]
    lines += [f"{name}: {regex}" for name, regex in builder.lexemes.items()]
    return "\n".join(lines) + "\n", tuple(sorted(builder.unenforced))

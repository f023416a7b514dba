"""YAML: safe YAML 1.2 loading with limits, JSON Schema validation, repairs, canonical text, a grammar.

Loading is YAML 1.2 through ruamel.yaml's pure-Python safe loader, restricted to the JSON data model:

* ``country: no`` is the string ``"no"`` (YAML 1.2 has no ``yes``/``no`` booleans);
* timestamps stay strings (``2024-01-31`` is ``"2024-01-31"``, which ``format: date`` checks), and the
  non-JSON tags ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` — like every unknown tag such as
  ``!!python/object`` — are errors; so are duplicate keys and keys that are not strings;
* hostile input fails fast with a clear issue: texts over ``max_chars``, more than ``max_nodes`` values
  once aliases are expanded ("billion laughs": ruamel shares aliased objects, so they are counted
  without being expanded), recursive aliases, nesting deeper than ``max_depth``.

A text that ruamel cannot load but that is strict JSON is accepted as is (JSON is YAML 1.2).

Canonical text (:meth:`YamlSpec.dump`): block style, two-space indentation, sequences indented under
their key, keys in schema property order then the remaining keys sorted, strings plain where that reads
back as the same string (and not as ``yes``/``no``/``on``/``off`` to a YAML 1.1 reader) and
double-quoted otherwise, empty containers as ``{}``/``[]``, documents of a stream separated by ``---``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any, ClassVar

from formbound.constraints import Constraint
from formbound.errors import EnforcementError, Issue, SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.schema import SchemaValidator, json_pointer
from formbound.formats.yaml_grammar import is_plain_safe, render_scalar, yaml_grammar

__all__ = ["REPAIRS", "YamlSpec", "load_yaml"]

#: Repairs :meth:`YamlSpec.candidates` tries, in this order (and combined).
REPAIRS: tuple[str, ...] = ("strip_fence", "strip_prose", "tabs_to_spaces", "document_markers")

_DEFAULTS: dict[str, Any] = {
    "multi_document": False,
    "max_chars": 500_000,
    "max_nodes": 200_000,
    "max_depth": 100,
    "max_string_length": 256,
    "max_items": 32,
}
_NON_JSON_TAGS = ("binary", "set", "omap", "pairs")
# Exceptions the pure-Python loader lets escape on malformed input besides its own YAMLError.
_LOADER_BUGS = (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, AssertionError)


# ---------------------------------------------------------------------------------------------- loading
def _make_yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import ConstructorError, SafeConstructor

    class JsonConstructor(SafeConstructor):
        """SafeConstructor limited to JSON data (a subclass: the library's tables stay untouched)."""

    def keep_string(self: Any, node: Any) -> Any:
        return self.construct_scalar(node)

    def reject(self: Any, node: Any) -> Any:
        raise ConstructorError(
            None,
            None,
            f"tag {node.tag!r} has no JSON equivalent; write the value as a plain string, list or mapping",
            node.start_mark,
        )

    JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", keep_string)
    for tag in _NON_JSON_TAGS:
        JsonConstructor.add_constructor(f"tag:yaml.org,2002:{tag}", reject)
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = JsonConstructor
    return yaml


def _syntax(
    text: str,
    message: str,
    kind: str,
    line: int | None = None,
    column: int | None = None,
    suggestion: str | None = None,
) -> EnforcementError:
    return EnforcementError(
        "syntax", [Issue(message, kind=kind, line=line, column=column, suggestion=suggestion)], text
    )


def _yaml_issue(exc: Any) -> Issue:
    from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        problem = " ".join(str(problem).split())
        kind = "yaml_syntax"
        suggestion = None
        if isinstance(exc, DuplicateKeyError):
            kind = "duplicate_key"
            problem = problem.split(" with value ")[0]
            if exc.context_mark is not None:
                problem += f" (first defined on line {exc.context_mark.line + 1})"
        elif isinstance(exc, ConstructorError):
            kind = "tag"
            if "could not determine a constructor" in problem:
                problem = problem.replace("could not determine a constructor for the tag", "unsupported tag")
                problem += "; only standard YAML 1.2 tags are allowed (safe loading)"
        elif "'\\t'" in problem or "\t" in problem:
            suggestion = "indent with spaces, not tabs"
        return Issue(
            problem,
            kind=kind,
            line=mark.line + 1 if mark is not None else None,
            column=mark.column + 1 if mark is not None else None,
            suggestion=suggestion,
        )
    return Issue(" ".join(str(exc).split()) or type(exc).__name__, kind="yaml_syntax")


def _strict_json(text: str) -> tuple[bool, Any]:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False, None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return True, json.loads(stripped, object_pairs_hook=pairs, parse_constant=no_constant)
    except (ValueError, RecursionError):
        return False, None


def _flow_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting outside quoted scalars and comments (the scanner is slow on deep flows).

    Quotes open a scalar only where a token can start, so an apostrophe inside a word is not one.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    prev = "\n"
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == "#" and prev in " \t\n":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'" and prev in " \t\n[{,:-?":
            j = i + 1
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if c == "'" and text[j + 1 : j + 2] == "'":
                        j += 2
                        continue
                    break
                j += 1
            prev, i = c, j + 1
            continue
        prev = c
        i += 1
    return deepest


def _check_tree(value: Any, text: str, max_nodes: int, max_depth: int) -> None:
    """Count values as if aliases were expanded (memoised: shared objects are counted, not copied)."""
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    on_path: set[int] = set()
    # frame: [node, children iterator, path, size so far, height so far]
    stack: list[list[Any]] = []

    def children(node: Any) -> Iterator[tuple[Any, Any]]:
        if isinstance(node, dict):
            return iter(node.items())
        return iter(enumerate(node))

    def enter(node: Any, path: list[Any]) -> tuple[int, int] | None:
        if not isinstance(node, (dict, list)):
            return (1, 0)
        if id(node) in done:
            return done[id(node)]
        if id(node) in on_path:
            raise _syntax(
                text,
                f"recursive alias at {json_pointer(path) or '/'}: a value contains itself",
                "recursive_alias",
            )
        if len(stack) >= max_depth:
            raise _syntax(text, f"document is nested deeper than {max_depth} levels (max_depth=)", "too_deep")
        on_path.add(id(node))
        stack.append([node, children(node), path, 1, 0])
        return None

    enter(value, [])
    while stack:
        frame = stack[-1]
        node, it, path = frame[0], frame[1], frame[2]
        step = next(it, None)
        if step is None:
            stack.pop()
            on_path.discard(id(node))
            done[id(node)] = (frame[3], frame[4] + 1)
            if stack:
                parent = stack[-1]
                parent[3] += frame[3]
                parent[4] = max(parent[4], frame[4] + 1)
            continue
        key, child = step
        if isinstance(node, dict) and not isinstance(key, str):
            raise _syntax(
                text,
                f"mapping key {key!r} at {json_pointer(path) or '/'} is a {type(key).__name__}, not a string",
                "key_type",
                suggestion=f'"{key}"',
            )
        got = enter(child, [*path, key])
        if got is not None:
            frame[3] += got[0]
            frame[4] = max(frame[4], got[1])
            if len(stack) + got[1] > max_depth:
                raise _syntax(
                    text, f"document is nested deeper than {max_depth} levels (max_depth=)", "too_deep"
                )
        if frame[3] > max_nodes:
            raise _syntax(
                text,
                f"document expands to more than {max_nodes:,} values (alias expansion?); "
                "write it without anchors/aliases or raise max_nodes=",
                "too_many_nodes",
            )


def load_yaml(
    text: str,
    *,
    multi_document: bool = False,
    max_chars: int = _DEFAULTS["max_chars"],
    max_nodes: int = _DEFAULTS["max_nodes"],
    max_depth: int = _DEFAULTS["max_depth"],
) -> Any:
    """Load YAML 1.2 safely into JSON data (see the module docstring for the rules and limits).

    Returns the value of the single document, or the list of documents when ``multi_document``.

    Raises:
        EnforcementError: at stage ``"syntax"``, with line and column where the loader gives them.

    >>> load_yaml("country: no\\nsince: 2024-01-31\\n")
    {'country': 'no', 'since': '2024-01-31'}
    """
    if len(text) > max_chars:
        raise _syntax(
            text[:1000],
            f"text is {len(text):,} characters, over the YAML limit of {max_chars:,} (max_chars=)",
            "too_large",
        )
    if _flow_depth(text) > max_depth:
        raise _syntax(text, f"document is nested deeper than {max_depth} levels (max_depth=)", "too_deep")
    from ruamel.yaml.error import YAMLError

    try:
        docs = list(_make_yaml().load_all(text))
    except YAMLError as exc:
        ok, value = _strict_json(text)
        if not ok:
            raise EnforcementError("syntax", [_yaml_issue(exc)], text) from exc
        docs = [value]
    except RecursionError as exc:
        raise _syntax(
            text, f"document is nested too deeply to load (max_depth={max_depth})", "too_deep"
        ) from exc
    except _LOADER_BUGS as exc:
        raise _syntax(
            text, f"YAML could not be loaded: {' '.join(str(exc).split())[:200]}", "yaml_syntax"
        ) from exc
    if multi_document:
        if not docs:
            raise _syntax(text, "the stream holds no YAML document", "empty")
        _check_tree(docs, text, max_nodes, max_depth + 1)
        return docs
    if len(docs) != 1:
        if not docs:
            raise _syntax(text, "the text holds no YAML document (only comments or markers)", "empty")
        raise _syntax(
            text,
            f"the text holds {len(docs)} YAML documents separated by '---' but one is expected; "
            "answer with one document, or build the spec with multi_document=True",
            "multi_document",
        )
    _check_tree(docs[0], text, max_nodes, max_depth)
    return docs[0]


# ---------------------------------------------------------------------------------------------- repairs
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:\r?\n[ \t]*```|\Z)", re.S)
_KEYISH = re.compile(
    r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\-?:\[\]{},|>!&*%@`][^:#]*?)[ \t]*:(?:[ \t]|$)"""
)
_MARKER = re.compile(r"^(---|\.\.\.)[ \t]*$")


def _strip_fence(text: str) -> str:
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    for lang, body in blocks:
        if lang.lower() in ("yaml", "yml"):
            return str(body).strip("\n") + "\n"
    return str(blocks[0][1]).strip("\n") + "\n"


def _keyish(line: str, known: tuple[str, ...]) -> bool:
    m = _KEYISH.match(line)
    if not m:
        return False
    key = m.group(1)
    if key[0] in "\"'":
        return True
    return key in known if known else not any(c.isspace() for c in key)


def _strip_prose(text: str, known: tuple[str, ...]) -> str:
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if _keyish(line, known) or line.rstrip() in ("-", "---") or line.startswith(("- ", "--- ")):
            start = i
            break
        brace = min((p for p in (line.find("{"), line.find("[")) if p >= 0), default=-1)
        if brace >= 0:  # a JSON value inside prose: from its opening to the last closing bracket
            first = sum(len(x) + 1 for x in lines[:i]) + brace
            last = max(text.rfind("}"), text.rfind("]"))
            return text[first : last + 1] + "\n" if last > first else text
    if start is None:
        return text
    end = len(lines)
    for j in range(start + 1, len(lines)):
        line = lines[j]
        if not line.strip() or line[0] in " \t#-}]" or _MARKER.match(line) or _keyish(line, ()):
            continue
        end = j
        break
    body = lines[start:end]
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(body) + "\n" if body else text


def _tabs_to_spaces(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        return m.group(0).replace("\t", "  ")

    return re.sub(r"^[ \t]+", fix, text, flags=re.M)


def _document_markers(text: str) -> str:
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].rstrip() == "---" or lines[0].startswith("%")):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _MARKER.match(lines[-1])):
        lines.pop()
    return "\n".join(lines) + "\n" if lines else text


# ---------------------------------------------------------------------------------------------- the spec
class YamlSpec(Spec):
    """A YAML document (or stream) that must load safely and match a JSON Schema.

    Args:
        schema: A JSON Schema dict, a path to a ``.json`` schema file, a pydantic model class, or ``None``
            (any YAML value).
        multi_document: Accept a stream of ``---``-separated documents; the value is then the list of
            documents, each validated against ``schema``.
        max_chars: Longest text parsed (pure-Python YAML parsing runs at roughly 0.3 MB/s).
        max_nodes: Most values in a document once aliases are expanded.
        max_depth: Deepest nesting accepted.
        max_string_length: Longest string the decoding grammar allows where the schema sets no ``maxLength``.
        max_items: Most array items (and documents) the grammar allows where the schema sets no ``maxItems``.

    Raises:
        SpecError: the schema is broken or an option is out of range.

    >>> spec = YamlSpec({"type": "object", "properties": {"country": {"type": "string"}}})
    >>> spec.check("country: no")
    {'country': 'no'}
    """

    format: ClassVar[str] = "yaml"

    def __init__(
        self,
        schema: Any = None,
        *,
        multi_document: bool = False,
        max_chars: int = _DEFAULTS["max_chars"],
        max_nodes: int = _DEFAULTS["max_nodes"],
        max_depth: int = _DEFAULTS["max_depth"],
        max_string_length: int = _DEFAULTS["max_string_length"],
        max_items: int = _DEFAULTS["max_items"],
    ) -> None:
        self._validator = SchemaValidator({} if schema is None else schema)
        if not isinstance(multi_document, bool):
            raise SpecError(f"multi_document must be True or False, got {multi_document!r}")
        self.multi_document = multi_document
        for name, val in (
            ("max_chars", max_chars),
            ("max_nodes", max_nodes),
            ("max_depth", max_depth),
            ("max_string_length", max_string_length),
            ("max_items", max_items),
        ):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise SpecError(f"{name} must be a positive integer, got {val!r}")
        self.max_chars = max_chars
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.max_string_length = max_string_length
        self.max_items = max_items
        self._constraint: Constraint | None = None

    @property
    def schema(self) -> dict[str, Any] | bool:
        """The JSON Schema (derived from the model for a pydantic spec)."""
        return self._validator.schema

    @property
    def model(self) -> type | None:
        """The pydantic model class, or None."""
        return self._validator.model

    # ------------------------------------------------------------------ description
    @classmethod
    def from_description(cls, data: dict[str, Any], base_dir: Path) -> YamlSpec:
        """Build from ``{"schema": {...} | "schema.json", **options}`` (paths relative to ``base_dir``)."""
        data = dict(data)
        schema = data.pop("schema", None)
        if isinstance(schema, str):
            path = Path(schema)
            schema = path if path.is_absolute() else Path(base_dir) / path
        unknown = sorted(set(data) - set(_DEFAULTS))
        if unknown:
            from formbound._util import suggest

            hint = suggest(unknown[0], list(_DEFAULTS))
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise SpecError(f"unknown YAML spec option {unknown[0]!r} (known: {', '.join(_DEFAULTS)}){extra}")
        return cls(schema, **data)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": "yaml", "schema": self.schema}
        for name, default in _DEFAULTS.items():
            if getattr(self, name) != default:
                out[name] = getattr(self, name)
        return out

    # ------------------------------------------------------------------ checking
    def parse(self, text: str) -> Any:
        return load_yaml(
            text,
            multi_document=self.multi_document,
            max_chars=self.max_chars,
            max_nodes=self.max_nodes,
            max_depth=self.max_depth,
        )

    def validate(self, value: Any, text: str) -> Any:
        if not self.multi_document:
            return self._validator.validate(value, text)
        if not isinstance(value, list):
            raise EnforcementError("schema", [Issue("expected a list of documents", path="")], text)
        out: list[Any] = []
        issues: list[Issue] = []
        for i, doc in enumerate(value):
            try:
                out.append(self._validator.validate(doc, text))
            except EnforcementError as err:
                issues += [replace(e, path=f"/{i}{e.path or ''}") for e in err.errors]
        if issues:
            raise EnforcementError("schema", issues, text)
        return out

    def candidates(self, text: str) -> Iterator[Candidate]:
        """Repaired texts, single repairs first, then combinations (in :data:`REPAIRS` order)."""
        known = self._top_keys()
        steps: dict[str, Callable[[str], str]] = {
            "strip_fence": _strip_fence,
            "strip_prose": lambda t: _strip_prose(t, known),
            "tabs_to_spaces": _tabs_to_spaces,
            "document_markers": _document_markers,
        }
        seen = {text}
        for size in range(1, len(REPAIRS) + 1):
            for names in combinations(REPAIRS, size):
                current = text
                for name in names:
                    fixed = steps[name](current)
                    if fixed == current:
                        break
                    current = fixed
                else:
                    if current not in seen and current.strip():
                        seen.add(current)
                        yield Candidate(current, names)

    def _top_keys(self) -> tuple[str, ...]:
        node = _resolve(self.schema, self.schema)
        props = node.get("properties") if isinstance(node, dict) else None
        return tuple(props) if isinstance(props, dict) else ()

    # ------------------------------------------------------------------ output
    def dump(self, value: Any) -> str:
        """Canonical YAML of ``value`` (a document, or the list of documents of a multi-document spec)."""
        if self.multi_document and isinstance(value, list):
            docs = [self._validator.to_python(v) for v in value]
            return "---\n".join(_block(d, self.schema, self.schema, 0, "root") for d in docs)
        return _block(self._validator.to_python(value), self.schema, self.schema, 0, "root")

    def constraint(self) -> Constraint:
        """A Lark grammar (llguidance dialect) for block-style YAML matching the schema."""
        if self._constraint is None:
            grammar, unenforced = yaml_grammar(
                self.schema,
                max_string_length=self.max_string_length,
                max_items=self.max_items,
                multi_document=self.multi_document,
            )
            self._constraint = Constraint("lark", grammar, unenforced=unenforced)
        return self._constraint

    def render_schema(self) -> str:
        """The shape of the expected document, as commented YAML."""
        lines = _shape(self.schema, self.schema, 0)
        text = "\n".join(lines) + "\n"
        if self.multi_document:
            text = "# one or more documents separated by ---, each:\n" + text
        return text


# ---------------------------------------------------------------------------------------------- helpers
def _resolve(node: Any, root: Any, depth: int = 0) -> Any:
    """Follow local ``$ref`` and single-branch ``allOf`` (bounded, for recursive schemas)."""
    while isinstance(node, dict) and depth < 20:
        depth += 1
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            target: Any = root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **rest} if isinstance(target, dict) else rest
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **all_of[0]}
            continue
        break
    return node


def _branches(node: Any, root: Any) -> list[dict[str, Any]]:
    node = _resolve(node, root)
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
            kinds += [_describe_scalar(_resolve(b, root), root) for b in node[key] if isinstance(b, dict)]
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
    node = _resolve(node, root)
    if not isinstance(node, dict) or depth > 6:
        return [f"{pad}<any value>"]
    branches = [b for b in _branches(node, root) if isinstance(b.get("properties"), dict)]
    if branches:
        required: set[str] = set()
        for b in branches:
            required.update(r for r in b.get("required", []) if isinstance(r, str))
        lines = []
        for key, sub in _props(node, root).items():
            sub_r = _resolve(sub, root)
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
        items = _resolve(node.get("items", {}), root)
        inner = _shape(items, root, indent + 2, depth + 1)
        first = inner[0].lstrip() if inner else "<any value>"
        return [*head, f"{pad}- {first}", *inner[1:]]
    return [f"{pad}<{_describe_scalar(node, root)}>"]


def _is_array(node: dict[str, Any]) -> bool:
    t = node.get("type")
    return t == "array" or (isinstance(t, list) and "array" in t and "object" not in t) or "items" in node

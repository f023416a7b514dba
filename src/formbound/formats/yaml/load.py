"""Safe YAML 1.2 loading into JSON data, with limits.

Loading is YAML 1.2 through ruamel.yaml's pure-Python safe loader, restricted to the JSON data model:

* ``country: no`` is the string ``"no"`` (YAML 1.2 has no ``yes``/``no`` booleans);
* timestamps stay strings (``2024-01-31`` is ``"2024-01-31"``, which ``format: date`` checks), and the
  non-JSON tags ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` — like every unknown tag such as
  ``!!python/object`` — are errors; so are duplicate keys and keys that are not strings;
* NaN and infinities (``.nan``, ``.inf``, ``1e999``) and strings holding lone surrogates are syntax
  errors naming the value and its path: they have no JSON form, so no bound is ever compared with them;
* hostile input fails fast with a clear issue: texts over ``max_chars``, more than ``max_nodes`` values
  once aliases and merge keys are expanded (counted on the composed node graph before anything is
  constructed: "billion laughs" and doubling ``<<: [*a, *a]`` chains are refused without being
  expanded), recursive aliases, nesting deeper than ``max_depth``.

A text that is strict JSON is read as JSON (JSON is YAML 1.2), also where ruamel would refuse it (tabs).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from formbound.errors import EnforcementError, Issue
from formbound.formats.jsonschema import json_pointer
from formbound.formats.yaml._nodes import BudgetError, load_nodes

__all__ = ["MAX_CHARS", "MAX_DEPTH", "MAX_NODES", "check_json_data", "load_yaml"]

#: Default limits of :func:`load_yaml` (and of :class:`~formbound.formats.yaml.YamlSpec`).
MAX_CHARS = 10_000
MAX_NODES = 200_000
MAX_DEPTH = 100
# Exceptions the pure-Python loader lets escape on malformed input besides its own YAMLError.
_LOADER_BUGS = (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, AssertionError)


# ---------------------------------------------------------------------------------------------- loading
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_scalar(value: Any, path: list[Any], text: str) -> None:
    """Refuse what has no JSON form: NaN and infinities, and strings holding lone surrogates.

    ``.nan``/``.inf`` (and numbers too large for a float, such as ``1e999``) are YAML but not JSON: they
    are syntax errors here, so that no bound (``minimum``, ``maximum``) is ever compared with them and
    the canonical text never holds them.
    """
    where = json_pointer(path) or "/"
    if isinstance(value, float) and not math.isfinite(value):
        shown = ".nan" if value != value else (".inf" if value > 0 else "-.inf")
        raise _syntax(
            text,
            f"value {shown} at {where} is not a JSON number (NaN and infinities, including numbers "
            "too large for a float, have no JSON form); write a finite number, or quote the value to "
            "make it a string",
            "non_json_number",
        )
    if isinstance(value, str):
        bad = _SURROGATE.search(value)
        if bad:
            raise _syntax(
                text,
                f"string at {where} holds a lone surrogate U+{ord(bad.group()):04X}, which is not "
                "Unicode text; remove it, or write the character it was meant to be",
                "surrogate",
            )


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
            _check_scalar(node, path, text)
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
        if isinstance(key, str):
            _check_scalar(key, path, text)
        elif isinstance(node, dict):
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


def check_json_data(value: Any) -> None:
    """Refuse a value that has no JSON form (NaN, infinities, lone surrogates, non-string keys, cycles).

    Raises:
        EnforcementError: at stage ``"syntax"``; the issue names the value and where it sits.
    """
    _check_tree(value, repr(value)[:1000], max_nodes=1 << 62, max_depth=1 << 30)


def load_yaml(
    text: str,
    *,
    multi_document: bool = False,
    max_chars: int = MAX_CHARS,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
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

    # Strict JSON (which is YAML 1.2) first: the C parser reads it at once, the pure-Python one slowly.
    ok, value = _strict_json(text)
    try:
        docs = [value] if ok else load_nodes(text, max_nodes, max_depth, single=not multi_document)
    except BudgetError as exc:
        mark = exc.mark
        raise _syntax(
            text,
            str(exc),
            exc.kind,
            line=mark.line + 1 if mark is not None else None,
            column=mark.column + 1 if mark is not None else None,
        ) from exc
    except YAMLError as exc:
        raise EnforcementError("syntax", [_yaml_issue(exc)], text) from exc
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

"""Deterministic, named repairs for almost-JSON.

:func:`lenient_parse` reads one JSON value the way models tend to write it — single quotes, trailing
commas, comments, Python literals, raw newlines in strings, a value cut off by the token limit — and returns
the value with the names of the repairs it needed. It is iterative (no recursion, so no RecursionError on
hostile nesting) and never invents content: a cut-off value is closed, an unfinished key/value pair dropped.
:func:`json_candidates` finds the values in a text (inside code fences, among prose, several in a row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NoEquivalent", "ParsedValue", "RepairFailed", "TooDeep", "json_candidates", "lenient_parse"]

#: Repairs, in the order they are reported.
REPAIR_ORDER = (
    "strip_fence",
    "strip_prose",
    "multiple_values",
    "comments",
    "single_quotes",
    "unquoted_keys",
    "python_literals",
    "trailing_comma",
    "missing_comma",
    "unescaped_newline",
    "invalid_escape",
    "truncated",
)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:```|\Z)", re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_WS = " \t\r\n"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS: dict[str, tuple[Any, str | None]] = {
    "true": (True, None),
    "false": (False, None),
    "null": (None, None),
    "True": (True, "python_literals"),
    "False": (False, "python_literals"),
    "None": (None, "python_literals"),
}
_NO_EQUIVALENT = {"NaN", "Infinity", "undefined", "nan", "inf"}
MAX_DEPTH = 100


class RepairFailed(ValueError):
    """The text is not repairable into one JSON value; ``pos`` is where reading stopped."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class TooDeep(RepairFailed):
    """Nesting past :data:`MAX_DEPTH`; scanning the same region further would only find fragments."""


class NoEquivalent(RepairFailed):
    """A literal (NaN, Infinity, undefined) that JSON cannot represent; never guessed into a value."""


@dataclass
class ParsedValue:
    value: Any
    start: int
    end: int
    repairs: set[str] = field(default_factory=set)


def _ordered(repairs: set[str]) -> tuple[str, ...]:
    return tuple(r for r in REPAIR_ORDER if r in repairs)


class _Reader:
    def __init__(self, s: str, pos: int) -> None:
        self.s = s
        self.i = pos
        self.n = len(s)
        self.repairs: set[str] = set()

    def skip(self) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in _WS:
                self.i += 1
            elif (c == "/" and s.startswith("//", self.i)) or c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end + 1
                self.repairs.add("comments")
            elif c == "/" and s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = n if end < 0 else end + 2
                self.repairs.add("comments")
            else:
                return

    def string(self) -> str:
        s, quote = self.s, self.s[self.i]
        if quote == "'":
            self.repairs.add("single_quotes")
        self.i += 1
        out: list[str] = []
        while True:
            j = self.i
            # fast path: copy the run of ordinary characters
            while j < self.n and s[j] not in (quote, "\\", "\n", "\r", "\t") and s[j] >= " ":
                j += 1
            out.append(s[self.i : j])
            self.i = j
            if j >= self.n:
                self.repairs.add("truncated")
                return "".join(out)
            c = s[j]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\":
                if j + 1 >= self.n:
                    self.i = self.n
                    self.repairs.add("truncated")
                    return "".join(out)
                e = s[j + 1]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                    self.i = j + 2
                elif e == "'" and quote == "'":
                    out.append("'")
                    self.i = j + 2
                elif e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[j + 2 : j + 6]):
                    out.append(chr(int(s[j + 2 : j + 6], 16)))
                    self.i = j + 6
                else:
                    out.append("\\")
                    self.repairs.add("invalid_escape")
                    self.i = j + 1
                continue
            # a raw control character inside a string
            out.append(c)
            self.repairs.add("unescaped_newline")
            self.i = j + 1

    def scalar(self) -> Any:
        s, i = self.s, self.i
        c = s[i]
        if c in "\"'":
            return self.string()
        m = _NUMBER.match(s, i)
        if m and m.end() > i:
            self.i = m.end()
            if self.i < self.n and (s[self.i].isalnum() or s[self.i] in "._"):
                raise RepairFailed(f"malformed number {s[i : self.i + 1]!r}", i)
            text = m.group()
            return float(text) if any(ch in text for ch in ".eE") else int(text)
        if c == "-" and s.startswith("-Infinity", i):
            raise NoEquivalent("-Infinity has no JSON equivalent; the model must give a number or null", i)
        m = _IDENT.match(s, i)
        if m:
            word = m.group()
            if word in _LITERALS:
                value, repair = _LITERALS[word]
                if repair:
                    self.repairs.add(repair)
                self.i = m.end()
                return value
            if word in _NO_EQUIVALENT:
                raise NoEquivalent(f"{word} has no JSON equivalent; the model must give a value or null", i)
            raise RepairFailed(f"unexpected word {word!r}", i)
        if i >= self.n:
            raise RepairFailed("unexpected end of text", i)
        raise RepairFailed(f"unexpected character {c!r}", i)

    def key(self) -> str:
        c = self.s[self.i]
        if c in "\"'":
            return self.string()
        m = _IDENT.match(self.s, self.i)
        if m:
            self.i = m.end()
            self.repairs.add("unquoted_keys")
            return m.group()
        raise RepairFailed(f"expected a key, found {c!r}", self.i)

    def value(self) -> Any:
        """One value, iteratively; closes containers left open at the end of the text."""
        self.skip()
        if self.i >= self.n:
            raise RepairFailed("no value found", self.i)
        if self.s[self.i] not in "{[":
            return self.scalar()
        # stack of [container, pending_key]; states are implied by what was last read
        root: Any = None
        stack: list[list[Any]] = []
        expect_value = True
        while True:
            self.skip()
            if self.i >= self.n:  # cut off by a token limit: close what is open
                if not stack:
                    return root
                self.repairs.add("truncated")
                return root
            c = self.s[self.i]
            top = stack[-1] if stack else None
            if expect_value:
                if top is not None and c in "]}":
                    if isinstance(top[0], dict) and top[1] is not None:
                        raise RepairFailed(f"missing value for key {top[1]!r}", self.i)
                    if top[2]:  # a comma came right before
                        self.repairs.add("trailing_comma")
                    expect_value = False
                    continue
                if top is not None and isinstance(top[0], dict) and top[1] is None:
                    key = self.key()
                    self.skip()
                    if self.i >= self.n:
                        self.repairs.add("truncated")
                        return root
                    if self.s[self.i] != ":":
                        raise RepairFailed(f"expected ':' after key {key!r}", self.i)
                    self.i += 1
                    top[1] = key
                    continue
                if c in "{[":
                    if len(stack) >= MAX_DEPTH:
                        raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels", self.i)
                    new: Any = {} if c == "{" else []
                    self.i += 1
                    self._attach(stack, new)
                    if root is None and not stack:
                        root = new
                    stack.append([new, None, False])
                    continue
                val = self.scalar()
                self._attach(stack, val)
                expect_value = False
                continue
            # after a value: ',' or a closer
            assert top is not None
            if c == ",":
                self.i += 1
                top[2] = True
                expect_value = True
                continue
            closer = "}" if isinstance(top[0], dict) else "]"
            if c == closer:
                self.i += 1
                stack.pop()
                if not stack:
                    return root
                continue
            if c in "]}":
                raise RepairFailed(f"expected {closer!r}, found {c!r}", self.i)
            # a value where a comma belongs: "a": 1 "b": 2
            self.repairs.add("missing_comma")
            top[2] = False
            expect_value = True

    @staticmethod
    def _attach(stack: list[list[Any]], val: Any) -> None:
        if not stack:
            return
        top = stack[-1]
        if isinstance(top[0], dict):
            if top[1] in top[0]:
                raise RepairFailed(f"duplicate key {top[1]!r}", 0)
            top[0][top[1]] = val
            top[1] = None
        else:
            top[0].append(val)
        top[2] = False


def lenient_parse(s: str, pos: int = 0) -> ParsedValue:
    """Read one almost-JSON value starting at ``pos``.

    >>> r = lenient_parse("{'a': True, 'b': [1, 2,],}")
    >>> r.value, sorted(r.repairs)
    ({'a': True, 'b': [1, 2]}, ['python_literals', 'single_quotes', 'trailing_comma'])
    """
    reader = _Reader(s, pos)
    reader.skip()
    start = reader.i
    value = reader.value()
    return ParsedValue(value, start, reader.i, reader.repairs)


def json_candidates(text: str, max_values: int = 20) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Values found in ``text`` with the repairs that found them, most conservative first.

    Order: the contents of each code fence, then the whole text; within each, every value among the
    prose in order (several values are tried in turn: the first that validates wins).
    """
    regions: list[tuple[str, tuple[str, ...]]] = [
        (m.group(2), ("strip_fence",)) for m in _FENCE.finditer(text)
    ]
    regions.append((text, ()))
    for region, base in regions:
        values: list[ParsedValue] = []
        pos = 0
        while len(values) < max_values:
            starts = [p for p in (region.find("{", pos), region.find("[", pos)) if p >= 0]
            if not starts:
                break
            start = min(starts)
            try:
                pv = lenient_parse(region, start)
            except TooDeep:
                break
            except RepairFailed:
                pos = start + 1
                continue
            values.append(pv)
            pos = max(pv.end, start + 1)
        prose, last = False, 0
        for pv in values:
            prose = prose or bool(region[last : pv.start].strip())
            last = pv.end
        prose = prose or bool(region[last:].strip())
        for pv in values:
            extra = set(pv.repairs)
            if len(values) > 1:
                extra.add("multiple_values")
            if prose:
                extra.add("strip_prose")
            yield pv.value, base + _ordered(extra)

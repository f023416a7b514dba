"""Deterministic, named repairs for almost-JSON.

:func:`lenient_parse` reads one JSON value the way models tend to write it — single quotes, trailing
commas, comments, Python literals, raw newlines in strings, a value cut off by the token limit — and returns
the value with the names of the repairs it needed. It is iterative (no recursion, so no RecursionError on
hostile nesting) and never invents content: a text cut off inside its value is closed and the root's
unfinished trailing member (a cut-off string or number, or a member whose own value is unfinished) is
dropped, never kept in part; that repair is named ``truncated`` and is accepted only on request.
Numbers out of range (``1e999``), integers past Python's digit limit and lone surrogates are refused.
:mod:`formbound.formats.json.scan` finds the values in a text (code fences, prose, several in a row).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REPAIR_ORDER", "NoEquivalent", "ParsedValue", "RepairFailed", "TooDeep", "lenient_parse"]

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

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_WS = " \t\r\n"
_SKIPPABLE = _WS + "/#"
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


class _Cut(RepairFailed):
    """The text ends inside a scalar or a key: what was read of it is never kept."""


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
                raise _Cut("the text ends inside a string", j)
            c = s[j]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\":
                if j + 1 >= self.n:
                    raise _Cut("the text ends inside a string", j)
                e = s[j + 1]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                    self.i = j + 2
                elif e == "'" and quote == "'":
                    out.append("'")
                    self.i = j + 2
                elif e == "u" and _HEX4.fullmatch(s, j + 2, j + 6):
                    out.append(self._unicode_escape(j))
                else:
                    out.append("\\")
                    self.repairs.add("invalid_escape")
                    self.i = j + 1
                continue
            # a raw control character inside a string
            out.append(c)
            self.repairs.add("unescaped_newline")
            self.i = j + 1

    def _unicode_escape(self, j: int) -> str:
        """The character of ``\\uXXXX`` at ``j`` (a surrogate pair read as one); lone surrogates refused."""
        s = self.s
        cp = int(s[j + 2 : j + 6], 16)
        self.i = j + 6
        if 0xD800 <= cp < 0xDC00 and s.startswith("\\u", j + 6) and _HEX4.fullmatch(s, j + 8, j + 12):
            low = int(s[j + 8 : j + 12], 16)
            if 0xDC00 <= low < 0xE000:
                self.i = j + 12
                return chr(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00))
        if 0xD800 <= cp < 0xE000:
            raise RepairFailed(f"lone surrogate {s[j : j + 6]!r} is not a character (not Unicode)", j)
        return chr(cp)

    def scalar(self) -> Any:
        s, i = self.s, self.i
        c = s[i]
        if c in "\"'":
            return self.string()
        m = _NUMBER.match(s, i) if c in "-0123456789" else None
        if m is not None:
            end = m.end()
            if (end >= self.n or s[end] in ".eE+-") and _NUMBER_TAIL.match(s, end).end() >= self.n:  # type: ignore[union-attr]
                raise _Cut("the text ends inside a number", i)
            self.i = end
            if s[end].isalnum() or s[end] in "._":
                raise RepairFailed(f"malformed number {s[i : end + 1]!r}", i)
            return _number(m.group(), i, m.group(1) is not None or m.group(2) is not None)
        if c == "-" and s.startswith("-Infinity", i):
            raise NoEquivalent("-Infinity has no JSON equivalent; the model must give a number or null", i)
        m = _IDENT.match(s, i)
        if m:
            word = m.group()
            if m.end() >= self.n and any(lit.startswith(word) and lit != word for lit in _LITERALS):
                raise _Cut("the text ends inside a literal", i)
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
            if m.end() >= self.n:
                raise _Cut("the text ends inside a key", self.i)
            self.i = m.end()
            self.repairs.add("unquoted_keys")
            return m.group()
        raise RepairFailed(f"expected a key, found {c!r}", self.i)

    def value(self) -> Any:
        """One value, iteratively; a text cut off inside it is closed and its unfinished member dropped."""
        self.skip()
        if self.i >= self.n:
            raise RepairFailed("no value found", self.i)
        if self.s[self.i] not in "{[":
            return self.scalar()  # a cut-off scalar at the top is never kept (_Cut propagates)
        # stack of [container, pending_key, after_comma]; states are implied by what was last read
        root: Any = None
        stack: list[list[Any]] = []
        member_open = False  # the root's last attached member is a container not closed yet
        try:
            step = self._step
            while True:
                done, member_open = step(stack, member_open)
                if root is None and stack:
                    root = stack[0][0]
                if done:
                    return root
        except _Cut:
            if root is None:
                raise
            self.i = self.n
            self.repairs.add("truncated")
            if member_open:  # never keep a member whose value is unfinished
                if isinstance(root, dict):
                    root.pop(next(reversed(root)))
                else:
                    root.pop()
            return root

    def _step(self, stack: list[list[Any]], member_open: bool) -> tuple[bool, bool]:
        """Read one token; return (the root value is complete, the root's last member is unfinished)."""
        if self.i >= self.n or self.s[self.i] in _SKIPPABLE:
            self.skip()
        if self.i >= self.n:
            raise _Cut("the text ends inside a value", self.i)
        c = self.s[self.i]
        top = stack[-1] if stack else None
        expect_value = top is None or top[3]
        if expect_value:
            if top is not None and c in "]}":
                if isinstance(top[0], dict) and top[1] is not None:
                    raise RepairFailed(f"missing value for key {top[1]!r}", self.i)
                if top[2]:  # a comma came right before
                    self.repairs.add("trailing_comma")
                top[3] = False
                return False, member_open
            if top is not None and isinstance(top[0], dict) and top[1] is None:
                key = self.key()
                self.skip()
                if self.i >= self.n:
                    raise _Cut("the text ends after a key", self.i)
                if self.s[self.i] != ":":
                    raise RepairFailed(f"expected ':' after key {key!r}", self.i)
                self.i += 1
                top[1] = key
                return False, member_open
            if c in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels", self.i)
                new: Any = {} if c == "{" else []
                self.i += 1
                self._attach(stack, new)
                if len(stack) == 1:
                    member_open = True
                stack.append([new, None, False, True])
                return False, member_open
            val = self.scalar()
            self._attach(stack, val)
            assert top is not None  # a scalar root is read by value()
            top[3] = False
            return False, member_open
        # after a value: ',' or a closer
        assert top is not None
        if c == ",":
            self.i += 1
            top[2] = True
            top[3] = True
            return False, member_open
        closer = "}" if isinstance(top[0], dict) else "]"
        if c == closer:
            self.i += 1
            stack.pop()
            if not stack:
                return True, False
            stack[-1][3] = False
            if len(stack) == 1:
                member_open = False
            return False, member_open
        if c in "]}":
            raise RepairFailed(f"expected {closer!r}, found {c!r}", self.i)
        # a value where a comma belongs: "a": 1 "b": 2
        self.repairs.add("missing_comma")
        top[2] = False
        top[3] = True
        return False, member_open

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


def _number(text: str, pos: int, is_float: bool) -> int | float:
    """A JSON number as Python reads it; out-of-range and over-long numbers are refused, never rounded."""
    if is_float:
        value = float(text)
        if not math.isfinite(value):
            raise NoEquivalent(f"number {text[:30]!r} is out of range for a JSON number", pos)
        return value
    try:
        return int(text)
    except ValueError:  # over the interpreter's integer digit limit
        raise RepairFailed(
            f"integer of {len(text.lstrip('-')):,} digits is too long to read; give it as a string",
            pos,
        ) from None

"""Finding the JSON values in a model's text: code fences, prose around a value, several values.

The one rule: a value is taken whole or not at all. Scanning goes left to right and never restarts
inside a value it could not read, so a broken outer value is a syntax error, never one of its pieces.
Prose around the values is dropped only when it holds nothing structured: no bracket left unread, no
``"key":`` or ``value,`` right before a value (which would make the value a member of something larger),
and a double-quoted JSON string in the prose is skipped whole, never searched for brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from formbound.formats.json.repair import REPAIR_ORDER, ParsedValue, RepairFailed, lenient_parse

__all__ = ["Found", "ScanFailed", "json_candidates"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:```|\Z)", re.S)
_NEXT = re.compile(r'[\[{"\]}]')
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_MEMBER_BEFORE = re.compile(r'(?:["\']\s*:|["\d\]}]\s*,)\s*\Z')
_COMMENT_OR_WS = re.compile(r"(?:\s+|//[^\n]*|#[^\n]*|/\*.*?\*/)*\Z", re.S)


@dataclass(frozen=True)
class Found:
    """One value found in a text, with the repairs that found it (in :data:`REPAIR_ORDER`)."""

    value: Any
    repairs: tuple[str, ...]


class ScanFailed(RepairFailed):
    """The text holds structure that is not one readable JSON value; no piece of it is offered."""


def _ordered(repairs: set[str]) -> tuple[str, ...]:
    return tuple(r for r in REPAIR_ORDER if r in repairs)


def _whole(region: str) -> ParsedValue | None:
    """The region read as one value with nothing but whitespace or comments after it, else None."""
    try:
        pv = lenient_parse(region, 0)
    except RepairFailed:
        return None
    return pv if _COMMENT_OR_WS.match(region, pv.end) else None


def _scan(region: str, max_values: int) -> tuple[list[ParsedValue], bool]:
    """Every value among the prose of ``region``, and whether there was prose; raises ScanFailed."""
    whole = _whole(region)
    if whole is not None:
        return [whole], False
    values: list[ParsedValue] = []
    pos = 0
    prose = False
    n = len(region)
    while pos < n:
        m = _NEXT.search(region, pos)
        if m is None:
            prose = prose or bool(region[pos:].strip())
            break
        start = m.start()
        prose = prose or bool(region[pos:start].strip())
        c = region[start]
        if c in "]}":
            raise ScanFailed(f"unmatched {c!r} outside any JSON value", start)
        if c == '"':
            s = _STRING.match(region, start)
            pos = s.end() if s else start + 1  # a string in prose is skipped whole, never dug into
            prose = True
            continue
        if _MEMBER_BEFORE.search(region, max(0, start - 64), start):
            raise ScanFailed("a value follows a key or a comma: it is a piece of a broken value", start)
        try:
            pv = lenient_parse(region, start)
        except RepairFailed as exc:
            raise ScanFailed(f"the value at character {start} cannot be read: {exc}", exc.pos) from exc
        values.append(pv)
        if len(values) > max_values:
            raise ScanFailed(f"more than {max_values} JSON values in one text", start)
        pos = pv.end
    return values, prose


def _gaps(fences: list[re.Match[str]], n: int) -> list[tuple[int, int]]:
    """The spans of the text outside the fences."""
    out, last = [], 0
    for m in fences:
        out.append((last, m.start()))
        last = m.end()
    out.append((last, n))
    return out


def json_candidates(text: str, max_values: int = 20) -> list[Found]:
    """The values in ``text``, in order, each with its repairs.

    Code fences are read first (the text outside them is prose); without a fence (or with fences that
    hold no value) the whole text is scanned. Several values are all returned, each marked
    ``multiple_values``: which one (if any) to take is the caller's decision, with the schema.

    Raises:
        ScanFailed: the text holds a value that cannot be read, or a bracket outside every value.

    >>> [f.value for f in json_candidates('Sure: {"a": 1,} hope it helps')]
    [{'a': 1}]
    """
    fences = list(_FENCE.finditer(text))
    found: list[tuple[ParsedValue, set[str]]] = []
    for m in fences:
        values, prose = _scan(m.group(2), max_values)
        found += [(pv, {"strip_fence", "strip_prose"} if prose else {"strip_fence"}) for pv in values]
    if found:
        # the text around the fences is prose: it may hold nothing unread (a fence inside a broken value,
        # e.g. in one of its strings, is not a fence) and any value it holds is one more value
        outside = "\n".join(text[a:b] for a, b in _gaps(fences, len(text)))
        values, _ = _scan(outside, max_values)
        found += [(pv, {"strip_fence", "strip_prose"}) for pv in values]
    else:
        values, prose = _scan(text, max_values)
        found = [(pv, {"strip_prose"} if prose else set()) for pv in values]
    several = len(found) > 1
    return [
        Found(pv.value, _ordered(pv.repairs | extra | ({"multiple_values"} if several else set())))
        for pv, extra in found
    ]

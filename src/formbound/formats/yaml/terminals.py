"""Terminals of the YAML grammar: regexes (llguidance dialect) for numbers and plain or quoted strings.

Every quoted escape decodes to exactly one character, so string length bounds are exact; a JSON Schema
``pattern`` becomes a full-match regex where the grammar engine can express it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from formbound.formats.yaml.scalars import PLAIN_FIRST, PLAIN_RESERVED, PLAIN_REST

__all__ = ["DEFAULT_DIGITS", "lit", "number_regex", "pattern_regex", "plain_regex", "quoted_regex"]

# Characters a double-quoted scalar holds unescaped: printable, no line breaks (\x85, \u2028, \u2029
# are line breaks to YAML), no BOM/non-characters, not the quote or the backslash.
_DQ_CHAR = r'[^"\\\x00-\x1f\x7f-\x9f\x{2028}\x{2029}\x{feff}\x{fffe}\x{ffff}]'
_DQ_ESCAPE = r'\\["\\\/nt]'
#: Digits of an integer part when the schema gives no magnitude.
DEFAULT_DIGITS = 15


def lit(text: str) -> str:
    """A Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


# Regex features the grammar engine does not have (lookaround, backreferences): such a pattern is left
# to post-validation.
_UNSUPPORTED_REGEX = re.compile(r"\(\?[=!<]|\\[1-9]|\\[pP]\{|\(\?P?<[A-Za-z]")


def pattern_regex(pattern: Any) -> str | None:
    """A JSON Schema ``pattern`` (a search, unanchored unless it says so) as a full-match regex for a
    grammar terminal, or None when the grammar cannot express it."""
    if not isinstance(pattern, str) or not pattern or _UNSUPPORTED_REGEX.search(pattern):
        return None
    try:
        re.compile(pattern)
    except re.error:
        return None
    body = pattern
    anchored_start = body.startswith("^")
    anchored_end = body.endswith("$") and not body.endswith("\\$")
    body = body[1 if anchored_start else 0 : len(body) - 1 if anchored_end else len(body)]
    body = f"(?:{body})"
    if not anchored_start:
        body = ".*" + body
    if not anchored_end:
        body += ".*"
    return body.replace("/", "\\/")


def number_regex(t: str, schema: dict[str, Any]) -> str:
    """An integer (``t == "integer"``) or a number, with as many digits as the schema's bounds need."""
    digits = DEFAULT_DIGITS
    nums = {
        k: v
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        if isinstance(v := schema.get(k), (int, float)) and not isinstance(v, bool)
    }
    lo = nums.get("minimum", nums.get("exclusiveMinimum"))
    hi = nums.get("maximum", nums.get("exclusiveMaximum"))
    if lo is not None and hi is not None and abs(lo) < 1e15 and abs(hi) < 1e15:
        digits = max(1, len(str(int(max(abs(lo), abs(hi))))))
    sign = "" if lo is not None and lo >= 0 else "-?"
    whole = f"(0|[1-9][0-9]{{0,{digits - 1}}})" if digits > 1 else "[0-9]"
    if t == "integer":
        return f"/{sign}{whole}/"
    return f"/{sign}{whole}(\\.[0-9]{{1,{DEFAULT_DIGITS}}})?([eE][-+]?[0-9]{{1,2}})?/"


def quoted_regex(lo: int, hi: int, pattern: str | None = None) -> str:
    """A double-quoted string of ``lo`` to ``hi`` characters; with ``pattern`` (a full-match regex),
    unescaped characters only, whose content matches it."""
    if pattern is None:
        return f'/"({_DQ_CHAR}|{_DQ_ESCAPE}){{{lo},{hi}}}"/'
    return f'/"{_DQ_CHAR}{{{lo},{hi}}}"/ & /"(?:{pattern})"/'


def plain_regex(lo: int, hi: int, pattern: str | None = None) -> str:
    """A plain scalar of ``lo`` to ``hi`` characters that reads back as a string (see :mod:`.scalars`)."""
    reserved = "|".join(PLAIN_RESERVED)
    rest = PLAIN_REST.replace("/", "\\/")
    with_pattern = f" & /{pattern}/" if pattern is not None else ""
    return (
        f"/[{PLAIN_FIRST}][{rest}]{{{max(lo - 1, 0)},{hi - 1}}}/ & /(.*[^ ])?/ & ~/({reserved})/"
        + with_pattern
    )

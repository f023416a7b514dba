"""Strict JSON parsing: the stdlib decoder plus the checks JSON's grammar implies but Python skips."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from formbound.errors import EnforcementError, Issue

__all__ = ["strict_parse", "surrogate_issue"]

_NO_EQUIVALENT = re.compile(r"-?(NaN|Infinity|undefined|nan|inf)\b")


class _DuplicateKey(ValueError):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(dup)
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} has no JSON equivalent")


class _BadNumber(ValueError):
    pass


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"number {text[:30]!r} is out of range for a JSON number (it would be {value})")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # over the interpreter's integer digit limit (sys.get_int_max_str_digits)
        raise _BadNumber(
            f"integer of {len(text.lstrip('-')):,} digits is longer than formbound reads; give it as a string"
        ) from None


#: Built once: ``json.loads`` with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_no_constant, parse_float=_float, parse_int=_int
)
#: A surrogate code point, raw (surrogate-escaped bytes) or escaped (``\ud800``): never Unicode text.
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def surrogate_issue(text: str) -> Issue | None:
    """The issue if ``text`` holds a raw surrogate code point (not Unicode text), else None."""
    m = _RAW_SURROGATE.search(text)
    if m is None:
        return None
    return Issue(
        f"character {m.start()} is a lone surrogate (U+{ord(m.group()):04X}), not Unicode text",
        kind="surrogate",
    )


def _lone_surrogate(value: Any) -> str | None:
    """The first string (or key) in ``value`` holding a surrogate code point; iterative."""
    stack = [value]
    while stack:
        cur = stack.pop()
        if isinstance(cur, str):
            if _RAW_SURROGATE.search(cur):
                return cur
        elif isinstance(cur, dict):
            stack.extend(cur.keys())
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return None


def strict_parse(text: str) -> Any:
    """Parse one JSON value (RFC 8259); raise :class:`EnforcementError` at stage ``"syntax"``.

    Beyond the stdlib decoder: duplicate keys, ``NaN``/``Infinity``, numbers that overflow a float
    (``1e999``), integers past the interpreter's digit limit and lone surrogates (``"\\ud800"``, or
    surrogate-escaped bytes) are syntax errors: none of them is a JSON value that can be written back.
    """
    issue = surrogate_issue(text)
    if issue is not None:
        raise EnforcementError("syntax", [issue], text)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        msg = exc.msg
        m = _NO_EQUIVALENT.match(text, exc.pos)
        if m:
            msg = f"{m.group(1)} has no JSON equivalent; give a value or null"
        raise EnforcementError(
            "syntax", [Issue(msg, kind="json_syntax", line=exc.lineno, column=exc.colno)], text
        ) from None
    except _BadNumber as exc:
        raise EnforcementError("syntax", [Issue(str(exc), kind="number_range")], text) from None
    except _DuplicateKey as exc:
        raise EnforcementError(
            "syntax", [Issue(f"duplicate key {exc.args[0]!r}", kind="duplicate_key")], text
        ) from None
    except ValueError as exc:  # parse_constant
        raise EnforcementError("syntax", [Issue(str(exc), kind="no_json_equivalent")], text) from None
    except RecursionError:
        raise EnforcementError(
            "syntax", [Issue("nesting deeper than the parser allows", kind="too_deep")], text
        ) from None
    if _ESCAPED_SURROGATE.search(text):  # rare: only then walk the value
        bad = _lone_surrogate(value)
        if bad is not None:
            raise EnforcementError(
                "syntax",
                [Issue(f"string {bad[:40]!r} holds a lone surrogate escape (not Unicode)", kind="surrogate")],
                text,
            )
    return value

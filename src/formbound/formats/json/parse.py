"""Strict JSON parsing: the stdlib decoder plus the checks JSON's grammar implies but Python skips."""

from __future__ import annotations

import json
import re
from typing import Any

from formbound.errors import EnforcementError, Issue

__all__ = ["strict_parse"]

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


#: Built once: ``json.loads`` with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_no_constant)


def strict_parse(text: str) -> Any:
    """Parse one JSON value (RFC 8259); raise :class:`EnforcementError` at stage ``"syntax"``."""
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
    return value

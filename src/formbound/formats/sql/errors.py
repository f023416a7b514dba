"""sqlglot's parser errors and warnings, as sentences a user (or a model) can act on.

sqlglot reports ``Required keyword: 'this' missing for <class 'sqlglot.expressions.query.Where'>`` and logs
``'CREATE TABL x' contains unsupported syntax`` to stderr. Inside :func:`quiet_sqlglot` its warnings are
captured instead of printed (only for the calling thread), so they can be folded into the error formbound
raises; :func:`describe_parse_error` turns a parser error into "WHERE has no condition".
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["describe_parse_error", "quiet_sqlglot"]

_LOCAL = threading.local()


class _CaptureFilter(logging.Filter):
    """Swallows sqlglot records of threads inside :func:`quiet_sqlglot`, keeping their messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        captured = getattr(_LOCAL, "captured", None)
        if captured is None:
            return True
        captured.append(record.getMessage())
        return False


_SQLGLOT_LOGGER = logging.getLogger("sqlglot")
_SQLGLOT_LOGGER.addFilter(_CaptureFilter())


@contextmanager
def quiet_sqlglot() -> Iterator[list[str]]:
    """Capture what sqlglot logs while parsing in this thread; yields the list of messages."""
    outer = getattr(_LOCAL, "captured", None)
    captured: list[str] = []
    _LOCAL.captured = captured
    try:
        yield captured
    finally:
        _LOCAL.captured = outer
        if outer is not None:
            outer.extend(captured)


#: What a clause lacks when sqlglot says a required argument of its node is missing.
_MISSING = {
    "Where": "WHERE has no condition",
    "Having": "HAVING has no condition",
    "Qualify": "QUALIFY has no condition",
    "Order": "ORDER BY names no column",
    "Group": "GROUP BY names no column",
    "Limit": "LIMIT has no number",
    "Offset": "OFFSET has no number",
    "Fetch": "FETCH has no number",
    "Join": "JOIN names no table",
    "From": "FROM names no table",
    "Select": "SELECT lists no column",
    "In": "IN has no list",
    "Between": "BETWEEN needs a lower and an upper bound",
    "Case": "CASE has no WHEN branch",
    "If": "WHEN has no THEN",
    "Cast": "CAST names no type",
    "Alias": "AS names no alias",
    "Window": "OVER has no window",
}
_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_EXPECTED_TABLE = re.compile(
    r"Expected table name but got <Token token_type: TokenType\.(\w+), text: (.*?), line"
)
_EXPECTING = re.compile(r"Expecting (.+)")


def describe_parse_error(error: dict[str, Any]) -> str:
    """A sentence for one entry of ``sqlglot.errors.ParseError.errors`` (without the position)."""
    description = str(error.get("description") or "")
    highlight = str(error.get("highlight") or "").strip()
    match = _REQUIRED.search(description)
    if match:
        arg, node = match.groups()
        if node in _MISSING:
            return _MISSING[node]
        return f"{node.upper()} is incomplete: its {arg} is missing"
    match = _EXPECTED_TABLE.search(description)
    if match:
        kind, text = match.groups()
        after = f" after {highlight!r}" if highlight else ""
        if kind == "SENTINEL":
            return f"a table name is missing{after}: the query ends there"
        return f"expected a table name{after}, found {text!r}"
    match = _EXPECTING.fullmatch(description)
    if match:
        after = f" after {highlight!r}" if highlight else ""
        return f"expected {match.group(1)}{after}"
    if description.startswith("Invalid expression / Unexpected token"):
        return f"unexpected {highlight!r} here" if highlight else "unexpected token"
    return description

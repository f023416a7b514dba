"""The ``syntax`` stage of a SQL spec: sqlglot parses the text into statements, with line and column.

Text over ``max_chars`` is refused before parsing, a bare expression (``hello world`` parses as
``hello AS world``) is not a statement, and a tree nested past :data:`MAX_DEPTH` is refused before
anything walks it recursively.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

from formbound.errors import EnforcementError, Issue
from formbound.formats.sql.errors import describe_parse_error, quiet_sqlglot
from formbound.formats.sql.policy import UNSUPPORTED
from formbound.formats.sql.repair import remember_parse

__all__ = ["MAX_CHARS", "MAX_DEPTH", "NODE", "parse_statements"]

#: Longest text checked by default (about 6,000 tokens). A check costs about 23 ms of CPU per 1,000
#: characters, linearly (measured on the hostile inputs of ``tests/adversarial/test_sql_hostile.py``; the
#: slowest, a ``SELECT`` of thousands of expressions, takes 0.40 s at 20,000 characters, 0.59 s at 25,000,
#: 0.70 s at 30,000 and 0.92 s at 40,000), so every text at or under the cap is answered well within a
#: second, with room for a slower machine. Raise ``max_chars`` for longer SQL.
MAX_CHARS = 25_000
#: Root node types that are expressions, not statements ("hello world" parses as ``hello AS world``).
_EXPRESSIONS: tuple[type[exp.Expr], ...] = (
    exp.Condition,
    exp.Alias,
    exp.Identifier,
    exp.Tuple,
    exp.Paren,
    exp.Star,
    exp.Func,
    exp.DataType,
)
#: Base class of sqlglot nodes (``Expr`` since sqlglot 30, ``Expression`` before).
NODE: type[exp.Expr] = getattr(exp, "Expr", None) or exp.Expression
#: Deeper parse trees are rejected: generating SQL from them would exhaust the Python stack.
MAX_DEPTH = 120


def parse_statements(text: str, dialect: str, max_chars: int = MAX_CHARS) -> tuple[exp.Expr, ...]:
    """The statements of ``text`` in ``dialect``.

    Raises:
        EnforcementError: at stage ``syntax``, with the line and column sqlglot reports.
    """
    if len(text) > max_chars:
        raise EnforcementError(
            "syntax",
            [
                Issue(
                    f"the SQL text is {len(text):,} characters, over the limit of {max_chars:,}; "
                    "shorten it or raise max_chars",
                    kind="too_large",
                )
            ],
            text[:1000],
        )
    try:
        with quiet_sqlglot() as warnings:
            parsed = sqlglot.parse(text, read=dialect)
    except ParseError as exc:
        remember_parse(text, dialect, False)
        issues = [
            Issue(
                describe_parse_error(err),
                kind="sql_syntax",
                line=err.get("line"),
                column=err.get("col"),
            )
            for err in exc.errors[:5]
        ] or [Issue(str(exc), kind="sql_syntax")]
        raise EnforcementError("syntax", issues, text) from exc
    except TokenError as exc:
        remember_parse(text, dialect, False)
        line, column = _token_error_position(text, str(exc))
        raise EnforcementError(
            "syntax",
            [
                Issue(
                    f"cannot tokenize the text ({exc}); check quotes and brackets",
                    kind="sql_syntax",
                    line=line,
                    column=column,
                )
            ],
            text,
        ) from exc
    except (SqlglotError, RecursionError) as exc:
        remember_parse(text, dialect, False)
        raise EnforcementError(
            "syntax",
            [Issue(f"cannot parse the text as {dialect} SQL: {exc!s:.200}", kind="sql_syntax")],
            text,
        ) from exc
    remember_parse(text, dialect, True)
    if warnings:
        # sqlglot fell back to an opaque command: keep its reason for the policy stage's message
        for stmt in parsed:
            if isinstance(stmt, exp.Command):
                stmt.meta[UNSUPPORTED] = warnings[0].split(". Falling back")[0]
    statements = tuple(s for s in parsed if s is not None and not isinstance(s, exp.Semicolon))
    if not statements:
        raise EnforcementError("syntax", [Issue("the text holds no SQL statement", kind="empty")], text)
    if any(s is None for s in parsed):
        raise EnforcementError(
            "syntax", [Issue("empty statement: a doubled or stray ';'", kind="empty_statement")], text
        )
    for stmt in statements:
        if isinstance(stmt, _EXPRESSIONS) and not isinstance(stmt, exp.Query):
            raise EnforcementError(
                "syntax",
                [
                    Issue(
                        f"{stmt.sql(dialect=dialect)[:60]!r} is an expression, not a SQL statement; "
                        "write a query such as SELECT …",
                        kind="not_statement",
                    )
                ],
                text,
            )
        if _depth_exceeds(stmt, MAX_DEPTH):
            raise EnforcementError(
                "syntax",
                [Issue(f"the statement nests deeper than {MAX_DEPTH} levels", kind="too_deep")],
                text,
            )
    return statements


def _depth_exceeds(root: exp.Expr, limit: int) -> bool:
    stack: list[tuple[exp.Expr, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return False


def _token_error_position(text: str, message: str) -> tuple[int | None, int | None]:
    """Line and column of a sqlglot TokenError, from the context it quotes ("Error tokenizing '…'")."""
    match = re.search(r"Error tokenizing '(.*)'", message, re.DOTALL)
    if not match:
        return None, None
    context = match.group(1)
    pos = text.find(context)
    if pos < 0:
        return None, None
    offset = pos + len(context)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column

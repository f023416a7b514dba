"""Deterministic repairs of SQL a model wrapped, labelled or padded; each has a name reported in results.

``strip_fence``      the query inside a Markdown code fence
``strip_label``      a leading ``SQL:`` / ``Query:`` label
``semicolon``        doubled (``;;``) or stray semicolons reduced to one at the end
``strip_prose``      prose before the first SELECT/WITH, and after the statement ends
``transpile_quotes`` identifiers quoted in another dialect's style (```a```, ``[a]``) rewritten for this one
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import sqlglot
from sqlglot.errors import SqlglotError

from formbound.formats.base import Candidate

__all__ = ["candidates"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)(?:```|\Z)", re.DOTALL)
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:sql(?:\s+query)?|query)(?:\*\*)?\s*:\s*", re.IGNORECASE)
_START = re.compile(r"\b(select|with)\b", re.IGNORECASE)
#: A statement keyword right after a ';' means a second statement, not prose: never cut it off.
_NEXT_STATEMENT = re.compile(
    r"^\s*(?:\(|select|with|insert|update|delete|drop|create|alter|attach|detach|pragma|replace|vacuum|"
    r"begin|commit|rollback|grant|revoke|truncate|exec|execute|set|use|merge|copy|call|analyze|reindex|"
    r"explain|load|install|declare|values|upsert|lock|unlock|show|describe|savepoint|release)\b",
    re.IGNORECASE,
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?(?:\*/|\Z)|#[^\n]*", re.DOTALL)
_SEMIS = re.compile(r"(?:\s*;)+\s*$")
#: How many trailing lines strip_prose drops at most, one more per candidate.
MAX_PROSE_LINES = 8


def _strip_fence(text: str) -> str | None:
    match = _FENCE.search(text)
    if match is None:
        return None
    body = match.group(2).strip()
    return body or None


def _strip_label(text: str) -> str | None:
    match = _LABEL.match(text)
    return text[match.end() :] if match else None


def _semicolon(text: str) -> str | None:
    body = text.strip()
    fixed = _SEMIS.sub(";", body)
    fixed = re.sub(r";(?:\s*;)+", ";", fixed)
    return fixed if fixed != body else None


def _repeated(text: str) -> str | None:
    """The query when a model wrote the same query again and again (greedy decoding loops), possibly cut
    off by the token limit in a last copy. Only exact repeats qualify, so no other statement — a write
    above all — can hide behind the first one."""
    chunks = [" ".join(c.split()) for c in text.split(";")]
    chunks = [c for c in chunks if c]
    if len(chunks) < 2:
        return None
    first, middle, last = chunks[0], chunks[1:-1], chunks[-1]
    if all(c == first for c in middle) and first.startswith(last):
        return first + ";"
    return None


def _statement_end(text: str) -> int | None:
    """Index just past the first ``;`` outside quotes and comments, or None."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            close = text.find(ch, i + 1)
            if close < 0:
                return None
            i = close + 1
            continue
        if ch == "[":
            close = text.find("]", i + 1)
            i = n if close < 0 else close + 1
            continue
        if text.startswith("--", i):
            eol = text.find("\n", i)
            i = n if eol < 0 else eol + 1
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        if ch == ";":
            return i + 1
        i += 1
    return None


def _parses(text: str, dialect: str) -> bool:
    try:
        sqlglot.parse(text, read=dialect)
    except (SqlglotError, RecursionError):
        return False
    return True


def _prose_variants(text: str, dialect: str) -> Iterator[str]:
    """The statement without prose around it.

    Only for text that does not parse: SQL that parses but breaks the policy (stacked statements, a write
    inside a CTE) must fail, not be cut down to a harmless query. Later SELECT/WITH starts are tried only
    when no cut at an earlier one parses, for the same reason.
    """
    if _parses(text, dialect):
        return
    for match in list(_START.finditer(text))[:3]:
        cuts = list(_prose_cuts(text[match.start() :]))
        yield from cuts
        if any(_parses(cut, dialect) for cut in cuts):
            return


def _prose_cuts(body: str) -> Iterator[str]:
    """Cut at the first ``;`` (unless another statement follows), else drop trailing lines one by one."""
    end = _statement_end(body)
    if end is not None:
        if _NEXT_STATEMENT.match(_COMMENTS.sub(" ", body[end:])):
            return  # stacked statements are for the policy stage to reject, not for a repair to hide
        yield body[:end].strip()
        return
    lines = body.rstrip().splitlines()
    yield body.strip()
    # drop trailing lines only while they read as prose: never cut off a WHERE clause
    for drop in range(1, min(MAX_PROSE_LINES, len(lines))):
        if not _is_prose(lines[-drop]):
            break
        yield "\n".join(lines[:-drop]).strip()
    # a sentence after the query on the same line, e.g. "SELECT … LIMIT 5 This returns …"
    sentence = re.search(r"(?<=\S)\s+(?=(?:This|The|It|Here|Note|That)\b)", lines[0])
    if sentence:
        yield lines[0][: sentence.start()].strip()


_WORD = re.compile(r"[A-Za-z]+")
_SQL_STARTS = frozenset(
    "select from where group order having limit offset join left right inner outer full cross on and or not "
    "union intersect except with as by asc desc case when then else end in is like between exists values "
    "fetch window qualify using natural".split()
)


def _is_prose(line: str) -> bool:
    """A line of natural language: starts with a non-SQL word and ends a sentence or runs on for 3+ words."""
    stripped = line.strip()
    if not stripped:
        return True
    first = _WORD.match(stripped)
    if first is None or first.group(0).lower() in _SQL_STARTS:
        return False
    return stripped[-1] in ".!?:" or bool(re.match(r"[A-Za-z]+\s+[A-Za-z']+\s+[A-Za-z']+", stripped))


def _transpile_quotes(text: str, dialect: str) -> str | None:
    if "`" not in text and "[" not in text and '"' not in text:
        return None
    for source in ("mysql", "tsql", "postgres"):
        if source == dialect:
            continue
        try:
            statements = sqlglot.parse(text, read=source)
        except (SqlglotError, RecursionError):
            continue
        parts = [s for s in statements if s is not None]
        if len(parts) != 1:
            continue
        try:
            out = parts[0].sql(dialect=dialect)
        except (SqlglotError, RecursionError):
            continue
        if out.strip() != text.strip().rstrip(";").strip():
            return out
    return None


def candidates(text: str, dialect: str) -> Iterator[Candidate]:
    """Repaired versions of ``text``, most conservative first; no text is offered twice."""
    seen = {text}

    def fresh(candidate_text: str) -> bool:
        if not candidate_text or candidate_text in seen:
            return False
        seen.add(candidate_text)
        return True

    current: str = text
    repairs: tuple[str, ...] = ()
    for name, step in (
        ("strip_fence", _strip_fence),
        ("strip_label", _strip_label),
        ("semicolon", _semicolon),
        ("repeated_statement", _repeated),
    ):
        fixed = step(current)
        if fixed is not None and fixed != current:
            current, repairs = fixed, (*repairs, name)
            if fresh(current):
                yield Candidate(current, repairs)
    bases: list[tuple[str, tuple[str, ...]]] = [(current, repairs)]
    for variant in _prose_variants(current, dialect):
        cut = _semicolon(variant) or variant
        if fresh(cut):
            bases.append((cut, (*repairs, "strip_prose")))
            yield Candidate(cut, (*repairs, "strip_prose"))
    for base, base_repairs in bases[:3]:
        transpiled = _transpile_quotes(base, dialect)
        if transpiled is not None and fresh(transpiled):
            yield Candidate(transpiled, (*base_repairs, "transpile_quotes"))

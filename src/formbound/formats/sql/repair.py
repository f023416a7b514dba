"""Deterministic repairs of SQL a model wrapped, labelled or padded; each has a name reported in results.

``strip_fence``      the query inside a Markdown code fence (with several fenced blocks: the one block
                    that validates, when exactly one does and no other one is refused by the policy)
``strip_label``      a leading ``SQL:`` / ``Query:`` label
``semicolon``        doubled (``;;``) or stray semicolons reduced to one at the end
``strip_prose``      prose before the first SELECT/WITH, and after the statement ends
``transpile_quotes`` identifiers quoted in another dialect's style (```a```, ``[a]``) rewritten for this one

Every repair is linear in the text: the string scans are single passes, each candidate is parsed once
(through the spec, and only the ones that parse are offered), and the text parsed over all candidates is
bounded by :data:`PARSE_BUDGET` times the length of the input.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot.errors import SqlglotError

from formbound.errors import EnforcementError, Issue
from formbound.formats.base import Candidate
from formbound.formats.sql.errors import quiet_sqlglot

if TYPE_CHECKING:
    from formbound.formats.sql.spec import SqlSpec

__all__ = ["AmbiguousBlocks", "candidates", "remember_parse"]

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
#: Text parsed over all candidates, as a multiple of the input's length.
PARSE_BUDGET = 3
#: Fenced blocks looked at, at most.
MAX_BLOCKS = 4
#: Lines longer than this are never taken for prose (checking them would cost a parse each).
MAX_PROSE_LINE = 400


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
    end = len(body)
    while end and (body[end - 1] == ";" or body[end - 1].isspace()):  # one pass, no regex backtracking
        end -= 1
    fixed = body[:end] + (";" if ";" in body[end:] else "")
    fixed = re.sub(r";(?:[ \t\r\n]*;)+", ";", fixed)
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


class _Budget:
    """Characters that may still be parsed for this text's candidates."""

    def __init__(self, text: str) -> None:
        self.left = PARSE_BUDGET * max(len(text), 1000)

    def take(self, text: str) -> bool:
        if len(text) > self.left:
            return False
        self.left -= len(text)
        return True


#: Whether recent texts parsed, so the repairs do not parse again what the spec's check just parsed.
_RECENT: OrderedDict[tuple[str, str], bool] = OrderedDict()
_RECENT_LOCK = threading.Lock()


def remember_parse(text: str, dialect: str, ok: bool) -> None:
    """Record that ``text`` did (or did not) parse in ``dialect`` (a few recent texts are kept)."""
    with _RECENT_LOCK:
        _RECENT[(dialect, text)] = ok
        _RECENT.move_to_end((dialect, text))
        while len(_RECENT) > 8:
            _RECENT.popitem(last=False)


def _parses(text: str, dialect: str) -> bool:
    with _RECENT_LOCK:
        known = _RECENT.get((dialect, text))
    if known is not None:
        return known
    try:
        with quiet_sqlglot():
            sqlglot.parse(text, read=dialect)
    except (SqlglotError, RecursionError):
        ok = False
    else:
        ok = True
    remember_parse(text, dialect, ok)
    return ok


def _prose_variants(text: str, dialect: str) -> Iterator[str]:
    """The statement without prose around it.

    Only for text that does not parse: SQL that parses but breaks the policy (stacked statements, a write
    inside a CTE) must fail, not be cut down to a harmless query. Later SELECT/WITH starts are tried only
    when the cut at an earlier one does not parse, for the same reason.
    """
    if _parses(text, dialect):
        return
    for match in list(_START.finditer(text, 0, len(text)))[:3]:
        cut = _prose_cut(text[match.start() :], dialect)
        if cut is None:
            continue
        yield cut
        if _parses(cut, dialect):
            return


def _prose_cut(body: str, dialect: str) -> str | None:
    """Cut at the first ``;`` (unless another statement follows), else drop the trailing lines of prose."""
    end = _statement_end(body)
    if end is not None:
        if _NEXT_STATEMENT.match(_COMMENTS.sub(" ", body[end : end + 2000])):
            return None  # stacked statements are for the policy stage to reject, not for a repair to hide
        return body[:end].strip()
    lines = body.rstrip().splitlines()
    keep = len(lines)
    while keep > 1 and _is_prose(lines[keep - 1], dialect):
        keep -= 1
    if keep < len(lines):
        return "\n".join(lines[:keep]).strip()
    # a sentence after the query on the same line, e.g. "SELECT … LIMIT 5 This returns …"
    sentence = re.search(r"(?<=\S)[ \t]+(?=(?:This|The|It|Here|Note|That)\b)", lines[0])
    if sentence and _is_prose(lines[0][sentence.end() :], dialect, sentence_only=True):
        return lines[0][: sentence.start()].strip()
    return body.strip()


_WORD = re.compile(r"[A-Za-z]+")
_SQL_STARTS = frozenset(
    "select from where group order having limit offset join left right inner outer full cross on and or not "
    "union intersect except with as by asc desc case when then else end in is like between exists values "
    "fetch window qualify using natural".split()
)
_THREE_WORDS = re.compile(r"[A-Za-z]+[ \t]+[A-Za-z']+[ \t]+[A-Za-z']+")


def _is_prose(line: str, dialect: str, *, sentence_only: bool = False) -> bool:
    """A line of natural language, never a piece of SQL.

    It starts with a word that does not start a clause, ends a sentence or runs on for 3+ words, and it
    does not parse as an SQL expression: ``name is not 'u45'`` after a WHERE clause is a condition, so
    dropping it would change the query's meaning.
    """
    stripped = line.strip()
    if not stripped:
        return not sentence_only
    if len(stripped) > MAX_PROSE_LINE:
        return False
    first = _WORD.match(stripped)
    if first is None or first.group(0).lower() in _SQL_STARTS:
        return False
    if not (stripped[-1] in ".!?:" or _THREE_WORDS.match(stripped)):
        return False
    return not _parses("SELECT " + stripped, dialect)


def _transpile_quotes(text: str, dialect: str, budget: _Budget) -> str | None:
    if "`" not in text and "[" not in text and '"' not in text:
        return None
    for source in ("mysql", "tsql", "postgres"):
        if source == dialect or not budget.take(text):
            continue
        try:
            with quiet_sqlglot():
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


class AmbiguousBlocks:
    """Several fenced blocks where not exactly one validates; :meth:`SqlSpec.validate` reports them."""

    def __init__(self, found: list[tuple[str, str]]) -> None:
        self.found = found  # (block, what became of it)

    def error(self, text: str) -> EnforcementError:
        listed = "; ".join(f"{i}) {block[:60]!r}: {fate}" for i, (block, fate) in enumerate(self.found, 1))
        return EnforcementError(
            "policy",
            [
                Issue(
                    f"found {len(self.found)} fenced SQL blocks ({listed}); exactly one must be a valid "
                    "query: answer with one block",
                    kind="multiple_candidates",
                )
            ],
            text,
        )


def _pick_block(blocks: list[str], spec: SqlSpec) -> Candidate:
    """The one block that validates, or an :class:`AmbiguousBlocks` candidate naming them all."""
    found: list[tuple[str, str]] = []
    valid: list[tuple[str, Any]] = []
    refused = False
    for block in blocks:
        try:
            statements = spec.parse(block)
            spec.validate(statements, block)
        except EnforcementError as err:
            refused = refused or err.stage != "syntax"
            found.append((block, f"{err.stage} error: {err.errors[0].message[:80]}"))
            continue
        found.append((block, "valid"))
        valid.append((block, statements))
    if len(valid) == 1 and not refused:
        return Candidate(valid[0][0], ("strip_fence",), parsed=valid[0][1])
    return Candidate(blocks[0], ("strip_fence",), parsed=AmbiguousBlocks(found))


def candidates(text: str, spec: SqlSpec) -> Iterator[Candidate]:
    """Repaired versions of ``text`` that parse, most conservative first; no text is offered twice."""
    if len(text) > spec.max_chars:
        return  # refused by the size cap: repairs would parse as much as the cap forbids
    dialect = spec.dialect
    budget = _Budget(text)
    seen = {text.strip()}  # texts that differ only in outer whitespace parse alike: parse one of them

    def offer(candidate_text: str, repairs: tuple[str, ...]) -> Candidate | None:
        key = candidate_text.strip()
        if not key or key in seen or not budget.take(candidate_text):
            return None
        seen.add(key)
        try:
            parsed = spec.parse(candidate_text)
        except EnforcementError:
            return None  # a syntax error never beats the original text's own
        return Candidate(candidate_text, repairs, parsed=parsed)

    blocks = [m.group(2).strip() for m in _FENCE.finditer(text)]
    blocks = [b for b in blocks if b][: MAX_BLOCKS + 1]
    if len(blocks) > 1:
        yield _pick_block(blocks[:MAX_BLOCKS], spec)
        return
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
            cand = offer(current, repairs)
            if cand is not None:
                yield cand
    bases: list[tuple[str, tuple[str, ...]]] = [(current, repairs)]
    for variant in _prose_variants(current, dialect):
        cut = _semicolon(variant) or variant
        cand = offer(cut, (*repairs, "strip_prose"))
        bases.append((cut, (*repairs, "strip_prose")))
        if cand is not None:
            yield cand
    for base, base_repairs in bases[:3]:
        transpiled = _transpile_quotes(base, dialect, budget)
        if transpiled is not None:
            cand = offer(transpiled, (*base_repairs, "transpile_quotes"))
            if cand is not None:
                yield cand

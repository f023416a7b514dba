"""Execution-verified SQL synthesis: question/query pairs from a task set's schema and rows.

The SQL counterpart of template substitution, with the database as the oracle. Queries are built from
the schema (:class:`~formbound.formats.sql.schema.SqlSchema`) and real column values: filters,
aggregates, joins along foreign keys, ``GROUP BY``/``HAVING``, ``ORDER BY``/``LIMIT`` without ties and
anti-joins. A pair is kept only when its query

* passes the spec (``enforce(repair=False)``),
* runs read-only through the one executor (:func:`formbound.formats.sql.execute.run_query`) and returns
  rows, not only ``NULL``,
* is not equivalent to a test item's gold, by normalised text or by result set (a multiset of rows).

Questions come from templates; a teacher model, when given, paraphrases them (a paraphrase that drops a
quoted value or a number is discarded and the template question kept).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError, EnforcementError
from formbound.escalate._taskset import items_of, normalize_input, spec_of

__all__ = ["SqlPair", "SqlSynthesis", "sql_candidates", "synthesize_sql"]


@dataclass(frozen=True)
class SqlPair:
    """A synthesized question, its query and the template kind that made it."""

    question: str
    query: str
    kind: str


@dataclass
class SqlSynthesis:
    """Verified pairs and what happened to the others (counts per reason)."""

    pairs: list[SqlPair]
    counts: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------- wording
def _words(name: str) -> str:
    return name.replace("_", " ").lower()


def _singular(name: str) -> str:
    w = _words(name)
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith("ses"):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class _Table:
    name: str
    display: str
    pk: str | None
    categorical: list[tuple[str, list[Any]]]  # low-cardinality columns and their values
    unique_text: list[tuple[str, list[str]]]  # e.g. names: a few values
    numeric: list[tuple[str, list[float]]]  # values sorted
    dates: list[tuple[str, list[str]]]
    fks: list[tuple[str, str, str]]


def _profile(conn: sqlite3.Connection, schema: Any, max_values: int) -> dict[str, _Table]:
    out = {}
    for t in schema.tables:
        if t.view:
            continue
        cols = t.column_names
        fk_cols = {fk[0] for fk in t.foreign_keys}
        pk = "id" if "id" in cols else None
        text_cols = [c.name for c in t.columns if "CHAR" in c.type.upper() or "TEXT" in c.type.upper()]
        display = "name" if "name" in cols else (pk or (text_cols[0] if text_cols else cols[0]))
        prof = _Table(t.name, display, pk, [], [], [], [], list(t.foreign_keys))
        n_rows = conn.execute(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]
        for c in t.columns:
            if c.name in fk_cols or c.name == pk:
                continue
            values = [
                r[0] for r in conn.execute(f'SELECT "{c.name}" FROM "{t.name}" WHERE "{c.name}" IS NOT NULL')
            ]
            if not values:
                continue
            distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
            if all(isinstance(v, str) for v in values):
                if all(_DATE.match(v) for v in values):
                    prof.dates.append((c.name, sorted(values)))
                elif len(distinct) <= max(2, n_rows // 3):
                    counts = Counter(values)
                    prof.categorical.append((c.name, [v for v, _ in counts.most_common(max_values)]))
                else:
                    step = max(1, len(distinct) // max_values)
                    prof.unique_text.append((c.name, distinct[::step][:max_values]))
            elif all(isinstance(v, (int, float)) for v in values):
                prof.numeric.append((c.name, sorted(float(v) for v in values)))
        out[t.name] = prof
    return out


def _thresholds(values: list[float]) -> list[float | int]:
    picks = []
    for q in (0.25, 0.5, 0.75):
        v = values[min(len(values) - 1, int(q * len(values)))]
        picks.append(int(v) if float(v).is_integer() else round(v))
    return sorted(set(picks))


# ------------------------------------------------------------------------------ templates
def _single_table(t: _Table) -> Iterator[SqlPair]:
    n, d, s = t.name, t.display, _singular(t.name)
    tw = _words(n)
    for col, values in t.categorical:
        cw = _words(col)
        for v in values:
            yield SqlPair(
                f"Which {tw} have {cw} {_lit(v)}? Give their {_words(d)}.",
                f"SELECT {d} FROM {n} WHERE {col} = {_lit(v)}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have {cw} {_lit(v)}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} = {_lit(v)}",
                "aggregate",
            )
            for num, _ in t.numeric:
                yield SqlPair(
                    f"What is the average {_words(num)} of {tw} with {cw} {_lit(v)}, to two decimals?",
                    f"SELECT ROUND(AVG({num}), 2) FROM {n} WHERE {col} = {_lit(v)}",
                    "aggregate",
                )
        for v in values[:4]:
            for num, nvalues in t.numeric:
                x = _thresholds(nvalues)[0]
                yield SqlPair(
                    f"Which {tw} with {cw} {_lit(v)} have a {_words(num)} above {x}? Give their {_words(d)}.",
                    f"SELECT {d} FROM {n} WHERE {col} = {_lit(v)} AND {num} > {x}",
                    "filter",
                )
        yield SqlPair(f"List the distinct {cw} values of {tw}.", f"SELECT DISTINCT {col} FROM {n}", "filter")
        yield SqlPair(
            f"How many {tw} are there for each {cw}?",
            f"SELECT {col}, COUNT(*) FROM {n} GROUP BY {col}",
            "group_by",
        )
        for k in (1, 2, 3):
            yield SqlPair(
                f"Which {cw} values occur in more than {k} {tw}? Give the {cw} and the count.",
                f"SELECT {col}, COUNT(*) FROM {n} GROUP BY {col} HAVING COUNT(*) > {k}",
                "having",
            )
        for num, _ in t.numeric:
            yield SqlPair(
                f"What is the total {_words(num)} of {tw} for each {cw}?",
                f"SELECT {col}, SUM({num}) FROM {n} GROUP BY {col}",
                "group_by",
            )
    for col, values in t.unique_text:
        for v in values:
            for other in [c for c, _ in t.categorical + t.numeric + t.dates + t.unique_text if c != col][:3]:
                yield SqlPair(
                    f"What is the {_words(other)} of the {s} whose {_words(col)} is {_lit(v)}?",
                    f"SELECT {other} FROM {n} WHERE {col} = {_lit(v)}",
                    "filter",
                )
    for num, values in t.numeric:
        nw = _words(num)
        for x in _thresholds(values):
            yield SqlPair(
                f"Which {tw} have a {nw} greater than {x}? Give the {_words(d)} and {nw}.",
                f"SELECT {d}, {num} FROM {n} WHERE {num} > {x}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have a {nw} below {x}?",
                f"SELECT COUNT(*) FROM {n} WHERE {num} < {x}",
                "aggregate",
            )
        for fn, word in (("MIN", "lowest"), ("MAX", "highest"), ("SUM", "total")):
            yield SqlPair(
                f"What is the {word} {nw} over all {tw}?", f"SELECT {fn}({num}) FROM {n}", "aggregate"
            )
        for k in (1, 2, 3, 4, 5):
            for order, word in (("DESC", "highest"), ("ASC", "lowest")):
                q = (
                    f"Which {s} has the {word} {nw}?"
                    if k == 1
                    else f"What are the {k} {tw} with the {word} {nw}? "
                    f"Give the {_words(d)} and {nw}, {word} first."
                )
                sel = d if k == 1 else f"{d}, {num}"
                yield SqlPair(q, f"SELECT {sel} FROM {n} ORDER BY {num} {order} LIMIT {k}", "order_limit")
    for col, values in t.dates:
        cw = _words(col)
        for v in (values[len(values) // 4], values[len(values) // 2], values[3 * len(values) // 4]):
            yield SqlPair(
                f"Which {tw} have a {cw} before {v}? Give their {_words(d)}.",
                f"SELECT {d} FROM {n} WHERE {col} < {_lit(v)}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have a {cw} on or after {v}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} >= {_lit(v)}",
                "aggregate",
            )
        for year in sorted({v[:4] for v in values}):
            yield SqlPair(
                f"How many {tw} have a {cw} in {year}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} LIKE '{year}-%'",
                "aggregate",
            )


def _joins(child: _Table, tables: dict[str, _Table]) -> Iterator[SqlPair]:
    c, cw, cs = child.name, _words(child.name), _singular(child.name)
    for fk, parent_name, ref in child.fks:
        p = tables.get(parent_name)
        if p is None:
            continue
        pn, pw, ps, pd = p.name, _words(p.name), _singular(p.name), p.display
        on = f"JOIN {c} AS c ON c.{fk} = p.{ref}"
        for col, values in p.categorical + p.unique_text:
            for v in values:
                what = child.display if child.display != fk else child.pk or child.display
                yield SqlPair(
                    f"List the {cw} of {pw} whose {_words(col)} is {_lit(v)}. Give the {cs} {_words(what)}.",
                    f"SELECT c.{what} FROM {pn} AS p {on} WHERE p.{col} = {_lit(v)}",
                    "join",
                )
        for col, values in child.categorical:
            for v in values:
                yield SqlPair(
                    f"Which {pw} have at least one {cs} with {_words(col)} {_lit(v)}? "
                    f"List each {_words(pd)} once.",
                    f"SELECT DISTINCT p.{pd} FROM {pn} AS p {on} WHERE c.{col} = {_lit(v)}",
                    "join",
                )
                yield SqlPair(
                    f"Which {pw} have no {cs} with {_words(col)} {_lit(v)}?",
                    f"SELECT p.{pd} FROM {pn} AS p WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {c} AS c WHERE c.{fk} = p.{ref} AND c.{col} = {_lit(v)})",
                    "anti_join",
                )
        for col, values in p.categorical + p.unique_text:
            for v in values[:6]:
                yield SqlPair(
                    f"How many {cw} belong to the {ps} whose {_words(col)} is {_lit(v)}?",
                    f"SELECT COUNT(*) FROM {pn} AS p {on} WHERE p.{col} = {_lit(v)}",
                    "join",
                )
        yield SqlPair(
            f"Which {pw} have no {cw} at all?",
            f"SELECT p.{pd} FROM {pn} AS p WHERE NOT EXISTS (SELECT 1 FROM {c} AS c WHERE c.{fk} = p.{ref})",
            "anti_join",
        )
        yield SqlPair(
            f"How many {cw} does each {ps} have? Give the {ps} {_words(pd)} and the count.",
            f"SELECT p.{pd}, COUNT(*) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd}",
            "group_by",
        )
        for k in (1, 2, 3, 4):
            yield SqlPair(
                f"Which {pw} have more than {k} {cw}? Give the {_words(pd)} and the number of {cw}.",
                f"SELECT p.{pd}, COUNT(*) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd} HAVING COUNT(*) > {k}",
                "having",
            )
        for num, _ in child.numeric:
            yield SqlPair(
                f"What is the total {_words(num)} of {cw} for each {ps}? "
                f"Give the {_words(pd)} and the total.",
                f"SELECT p.{pd}, SUM(c.{num}) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd}",
                "group_by",
            )
            yield SqlPair(
                f"Which {ps} has the largest total {_words(num)} of {cw}?",
                f"SELECT p.{pd} FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd} "
                f"ORDER BY SUM(c.{num}) DESC LIMIT 1",
                "order_limit",
            )


def sql_candidates(schema: Any, conn: sqlite3.Connection, *, max_values: int = 10) -> list[SqlPair]:
    """Every templated pair for a schema and the rows behind ``conn`` (unverified), deduplicated by query."""
    tables = _profile(conn, schema, max_values)
    seen: set[str] = set()
    out = []
    for t in tables.values():
        for pair in (*_single_table(t), *_joins(t, tables)):
            key = _norm_sql(pair.query)
            if key not in seen:
                seen.add(key)
                out.append(pair)
    return out


# ------------------------------------------------------------------------------ verification
def _norm_sql(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").lower()


def _norm_rows(rows: Sequence[Sequence[Any]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(round(v, 6) + 0.0 if isinstance(v, float) else v for v in r) for r in rows)


def _has_tie(conn: sqlite3.Connection, query: str) -> bool:
    m = re.search(r"ORDER BY (.+?) (ASC|DESC) LIMIT (\d+)$", query)
    if not m:
        return False
    k = int(m.group(3))
    head = query[: m.start()]
    keys = conn.execute(
        head.replace("SELECT ", f"SELECT {m.group(1)} AS _k, ", 1) + f"ORDER BY {m.group(1)} {m.group(2)} "
        f"LIMIT {k + 1}"
    ).fetchall()
    return len(keys) > k and keys[k - 1][0] == keys[k][0]


def synthesize_sql(
    task_set: Any,
    *,
    limit: int | None = None,
    teacher: Any = None,
    workers: int = 4,
    execute: Callable[[Path, str], list[tuple[Any, ...]]] | None = None,
) -> SqlSynthesis:
    """Verified question/query pairs for a SQL task set with a database.

    Args:
        task_set: A SQL task set whose ``database`` is a SQLite file (e.g. the bundled ``shop_sql``).
        limit: Keep at most this many pairs (default: all).
        teacher: A :class:`~formbound.models.Model` that paraphrases the template questions.
        workers: Queries verified at once (each runs in its own process).
        execute: The executor (default :func:`formbound.formats.sql.execute.run_query`).

    Raises:
        ConfigError: the task set is not SQL or has no database.
    """
    from formbound.enforce import enforce
    from formbound.formats.sql.execute import run_query
    from formbound.formats.sql.schema import sqlite_readonly

    spec = spec_of(task_set)
    database = getattr(task_set, "database", None)
    schema = getattr(spec, "schema", None)
    if database is None or schema is None or getattr(spec, "format", None) not in (None, "sql"):
        raise ConfigError(
            "SQL synthesis needs a SQL task set with a database; "
            f"{getattr(task_set, 'name', task_set)!r} has none"
        )
    run = execute or (lambda db, sql: run_query(db, sql, timeout_s=10.0))
    counts: Counter[str] = Counter()
    conn = sqlite_readonly(Path(database))
    try:
        candidates = sql_candidates(schema, conn)
        counts["offered"] = len(candidates)
        test = [it for it in items_of(task_set) if it.split != "train" and isinstance(it.gold, str)]
        test_texts = {_norm_sql(it.gold) for it in test}
        test_inputs = {normalize_input(it.input) for it in test}
        test_rows = [_norm_rows(conn.execute(it.gold).fetchall()) for it in test]
        screened: list[tuple[SqlPair, str, Counter[tuple[Any, ...]]]] = []
        for pair in candidates:
            try:
                text = enforce(pair.query, spec, repair=False).text
            except EnforcementError:
                counts["invalid"] += 1
                continue
            try:
                rows = conn.execute(pair.query).fetchall()
                tie = _has_tie(conn, pair.query)
            except sqlite3.Error:
                counts["failed"] += 1
                continue
            reason = (
                "empty"
                if not rows or all(v is None for r in rows for v in r)
                else "tie"
                if tie
                else "test_equivalent"
                if _norm_sql(text) in test_texts
                or _norm_sql(pair.query) in test_texts
                or _norm_rows(rows) in test_rows
                or normalize_input(pair.question) in test_inputs
                else None
            )
            if reason:
                counts[reason] += 1
                continue
            screened.append((pair, text, _norm_rows(rows)))
    finally:
        conn.close()
    if limit is not None:
        screened = screened[:limit]

    def verify(item: tuple[SqlPair, str, Counter[tuple[Any, ...]]]) -> bool:
        try:
            return _norm_rows(run(Path(database), item[1])) == item[2]
        except ConfigError:
            return False

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        ok = list(pool.map(verify, screened))
    kept = [(p, t) for (p, t, _), good in zip(screened, ok, strict=True) if good]
    counts["executor_failed"] = len(screened) - len(kept)
    pairs = [SqlPair(p.question, t, p.kind) for p, t in kept]
    if teacher is not None:
        from formbound.escalate.teacher import paraphrase

        pairs, n_para = paraphrase(teacher, pairs)
        counts["paraphrased"] = n_para
    counts["kept"] = len(pairs)
    return SqlSynthesis(pairs, dict(counts), dict(Counter(p.kind for p in pairs)))

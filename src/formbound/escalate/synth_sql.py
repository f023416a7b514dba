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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, EnforcementError
from formbound.escalate.quality import normalize_input

if TYPE_CHECKING:
    from formbound.measure.tasks import TaskSet

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


def sql_candidates(schema: Any, conn: sqlite3.Connection, *, max_values: int = 10) -> list[SqlPair]:
    """Every templated pair for a schema and the rows behind ``conn`` (unverified), deduplicated by query."""
    from formbound.escalate._sql_templates import profile, table_pairs

    tables = profile(conn, schema, max_values)
    seen: set[str] = set()
    out = []
    for t in tables.values():
        for pair in table_pairs(t, tables):
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
    task_set: TaskSet,
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

    spec = task_set.spec
    database = task_set.database
    schema = getattr(spec, "schema", None)
    if database is None or schema is None or spec.format != "sql":
        raise ConfigError(f"SQL synthesis needs a SQL task set with a database; {task_set.name!r} has none")
    run = execute or (lambda db, sql: run_query(db, sql, timeout_s=10.0))
    counts: Counter[str] = Counter()
    conn = sqlite_readonly(Path(database))
    try:
        candidates = sql_candidates(schema, conn)
        counts["offered"] = len(candidates)
        test = [it for it in task_set.tasks if it.split != "train" and isinstance(it.gold, str)]
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

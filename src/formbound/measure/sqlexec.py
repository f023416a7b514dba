"""Execution accuracy for SQL: run predicted and gold queries read-only and compare their results."""

from __future__ import annotations

import functools
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError

__all__ = ["execution_match", "run_query"]

#: SQLite virtual-machine steps allowed per query (a runaway cross join is stopped, not waited for).
MAX_STEPS = 20_000_000
#: Rows fetched at most per query.
MAX_ROWS = 100_000


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) + 0.0  # -0.0 -> 0.0
    return value


def run_query(database: str | Path, sql: str, *, max_steps: int = MAX_STEPS) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on ``database``, opened read-only; floats rounded to 6 decimals.

    Raises:
        ConfigError: the query fails (the SQLite message is kept), runs past ``max_steps`` or returns
            more than :data:`MAX_ROWS` rows.
    """
    uri = f"{Path(database).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    steps = [0]

    def tick() -> int:
        steps[0] += 1000
        return 1 if steps[0] > max_steps else 0

    conn.set_progress_handler(tick, 1000)
    try:
        cur = conn.execute(sql)
        rows = cur.fetchmany(MAX_ROWS + 1)
    except sqlite3.Error as exc:
        if steps[0] > max_steps:
            raise ConfigError(f"query ran past {max_steps:,} steps and was stopped: {sql[:200]!r}") from exc
        raise ConfigError(f"query failed: {exc}") from exc
    finally:
        conn.close()
    if len(rows) > MAX_ROWS:
        raise ConfigError(f"query returned more than {MAX_ROWS:,} rows")
    return [tuple(_norm(v) for v in row) for row in rows]


def execution_match(database: str | Path, pred_sql: str, gold_sql: str) -> tuple[bool, str | None]:
    """Whether ``pred_sql`` returns the same multiset of rows as ``gold_sql`` on ``database``.

    Column names and row order are ignored (multisets of row tuples are compared), so ``ORDER BY``
    differences do not count against an answer.

    Returns:
        ``(match, problem)`` where ``problem`` says why the predicted query could not be compared
        (it failed or ran away), else ``None``.

    Raises:
        ConfigError: the gold query itself fails — the task set is broken.
    """
    gold_rows = _gold_rows(str(database), gold_sql)
    try:
        pred_rows = run_query(database, pred_sql)
    except ConfigError as exc:
        return False, str(exc)
    return Counter(pred_rows) == Counter(gold_rows), None


@functools.lru_cache(maxsize=1024)
def _gold_rows(database: str, sql: str) -> tuple[tuple[Any, ...], ...]:
    return tuple(run_query(database, sql))

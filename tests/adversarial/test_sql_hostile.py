"""Hostile SQL inputs: each one finishes, or is refused with a clear error, within a generous bound.

Sizes go both far over the SQL size cap (refused before parsing) and right up to it (parsed and repaired,
which must stay linear). The bound is wall-clock time on a shared machine, so it is generous.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.formats.sql import SqlSpec
from formbound.formats.sql.spec import MAX_CHARS

BOUND_S = 2.0
DDL = "CREATE TABLE users (id INTEGER, name TEXT);"
MB = 1_000_000

_TEXTS = {
    "semicolons": "SELECT 1" + ";" * MB,
    "spaced_semicolons": "SELECT 1" + " ;" * MB,
    "spaces": "SELECT 1" + " " * MB + "x",
    "prose_lines": "SELECT id FROM users\n" + ("This is prose about the query. " * 40 + "\n") * 400,
    "prose_one_line": "SELECT id FROM users " + "The " * 250_000,
    "short_prose_lines": "SELECT id FROM users\n" + "This is prose.\n" * 70_000,
    "valid_query": "SELECT id FROM users WHERE " + " OR ".join(f"id = {i}" for i in range(90_000)),
    "wide_select": "SELECT " + ", ".join(f"id + {i}" for i in range(90_000)) + " FROM users",
    "open_fence": "```sql\n" + "SELECT 1\n" * 120_000,
    "many_fences": "```sql\nSELECT id FROM users\n```\n" * 30_000,
    "open_quote": "SELECT id FROM users WHERE name = '" + "x" * MB,
    "open_parens": "SELECT " + "(" * MB,
    "nested_parens": "SELECT " + "(" * 5_000 + "1" + ")" * 5_000,
    "nested_subqueries": "SELECT * FROM " + "(SELECT * FROM " * 2_000 + "users" + ") AS t" * 2_000,
    "labels": "SQL: " * 200_000 + "SELECT 1",
    "repeated_query": "SELECT id FROM users; " * 45_000,
    "comments": "SELECT 1 " + "/* c */ " * 120_000,
    "dash_comments": "SELECT 1\n" + "-- comment\n" * 90_000,
}
CASES = [
    pytest.param(text[:size], id=f"{name}-{label}")
    for name, text in _TEXTS.items()
    for label, size in (("1MB", MB), ("at_cap", MAX_CHARS))
]


def _timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    try:
        fn(*args)  # type: ignore[operator]
    except EnforcementError as err:
        assert err.errors and err.errors[0].message  # refused with a message, not a crash
    return time.perf_counter() - started


@pytest.mark.parametrize("text", CASES)
def test_hostile_sql_text_is_bounded(text: str) -> None:
    spec = SqlSpec(ddl=DDL, allowed_tables=["users"])
    assert _timed(enforce, text, spec) < BOUND_S


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT zeroblob(900000000)",
        "SELECT printf('%.*c', 900000000, 'x')",
        "SELECT length(replace(hex(zeroblob(400000000)), '0', '00'))",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT max(length(s)) FROM r",
        "SELECT count(*) FROM users a, users b, users c, users d, users e, users f, users g",
    ],
)
def test_hostile_sqlite_execution_is_bounded(sql: str) -> None:
    spec = SqlSpec(ddl=DDL, execute_check=True, timeout_s=0.5)
    assert _timed(enforce, sql, spec) < BOUND_S


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT length(repeat('x', 1000000000)) FROM users",
        "SELECT count(*) FROM range(10000000000) t(i) WHERE i % 7 = 0",
        "SELECT length(string_agg(repeat('x', 1000000), '')) FROM range(3000)",
    ],
)
def test_hostile_duckdb_execution_is_bounded(sql: str, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    conn.close()
    spec = SqlSpec(database=path, dialect="duckdb", execute_check=True, timeout_s=0.5)
    # a child process starts (and imports DuckDB) for each check: allow for that
    assert _timed(enforce, sql, spec) < BOUND_S + 2.0

"""SQL repairs: several candidates, prose that is really a condition, size cap, readable parser errors."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formbound.enforce import enforce
from formbound.errors import ConfigError, EnforcementError, SpecError
from formbound.formats.sql import SqlSpec
from formbound.formats.sql.execute import Executor, execution_match, run_query

DDL = "CREATE TABLE users (id INTEGER, name TEXT, token TEXT);"


@pytest.fixture
def spec() -> SqlSpec:
    return SqlSpec(ddl=DDL)


# ------------------------------------------------------------------ several candidates
def test_two_fenced_blocks_with_a_write_are_an_error_naming_both(spec: SqlSpec) -> None:
    text = "```sql\nSELECT id FROM users\n```\nor\n```sql\nDELETE FROM users\n```"
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec)
    issue = info.value.errors[0]
    assert issue.kind == "multiple_candidates"
    assert "SELECT id FROM users" in issue.message and "DELETE FROM users" in issue.message


def test_two_valid_fenced_blocks_are_an_error(spec: SqlSpec) -> None:
    text = "```sql\nSELECT id FROM users\n```\n```sql\nSELECT name FROM users\n```"
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec)
    assert info.value.errors[0].kind == "multiple_candidates"


def test_the_one_valid_block_among_broken_ones_is_taken(spec: SqlSpec) -> None:
    text = "```sql\nSELECT id FROM users\n```\nOutput:\n```\n| id |\n|----|\n| 1 |\n```"
    result = enforce(text, spec)
    assert result.text == "SELECT id FROM users"
    assert result.repairs == ("strip_fence",)


def test_stacked_statements_are_an_error_naming_them(spec: SqlSpec) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce("SELECT id FROM users; DELETE FROM users", spec)
    assert "SELECT, DELETE" in info.value.errors[0].message


# ------------------------------------------------------------------ prose
@pytest.mark.parametrize(
    "tail",
    [
        "name is not 'u45'",
        "name is not 'u45' and token like 'x%'",
        "or name = 'Ada Lovelace'",
        "and id in (1, 2, 3)",
        "name between 'a' and 'm'",
    ],
)
def test_strip_prose_never_drops_a_condition(spec: SqlSpec, tail: str) -> None:
    text = f"SELECT id FROM users WHERE id > 10\n{tail}"
    try:
        result = enforce(text, spec)
    except EnforcementError:
        return  # refusing is fine; cutting the condition off is not
    assert tail.split()[-1].strip("'%)") in result.text


@given(
    column=st.sampled_from(["id", "name", "token"]),
    op=st.sampled_from(["=", "<>", "<", ">=", "is not", "like"]),
    value=st.from_regex(r"'[a-z0-9 ]{0,8}'|[0-9]{1,4}", fullmatch=True),
)
@settings(max_examples=60, deadline=None)
def test_a_trailing_condition_line_is_kept_or_refused(column: str, op: str, value: str) -> None:
    spec = SqlSpec(ddl=DDL)
    text = f"SELECT id FROM users WHERE id > 10\n{column} {op} {value}"
    try:
        result = enforce(text, spec)
    except EnforcementError:
        return
    assert result.text != "SELECT id FROM users WHERE id > 10"
    assert "strip_prose" not in result.repairs


def test_real_prose_after_a_query_is_still_stripped(spec: SqlSpec) -> None:
    text = "SELECT id FROM users WHERE id > 10\nThis query returns the ids of users above ten."
    result = enforce(text, spec)
    assert result.text == "SELECT id FROM users WHERE id > 10"
    assert result.repairs == ("strip_prose",)


# ------------------------------------------------------------------ size cap
def test_sql_over_max_chars_is_refused_with_a_clear_error(spec: SqlSpec) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce("SELECT id FROM users" + " " * 40_000, spec)
    assert info.value.errors[0].kind == "too_large"
    assert "max_chars" in info.value.errors[0].message
    assert enforce("SELECT id FROM users" + " " * 40_000, SqlSpec(ddl=DDL, max_chars=50_000)).text


def test_default_cap_takes_a_long_real_query_and_refuses_one_over_it() -> None:
    from formbound.formats.sql.spec import MAX_CHARS

    assert MAX_CHARS >= 25_000  # long generated reports and migrations fit
    spec = SqlSpec(ddl=DDL)
    names = ", ".join(f"'user {i}'" for i in range(3_000))
    query = f"SELECT id, name FROM users WHERE name IN ({names}"
    query = query[: query.rindex(", ", 0, MAX_CHARS - 1)] + ")"
    assert MAX_CHARS - 40 < len(query) <= MAX_CHARS
    assert enforce(query, spec).text.startswith("SELECT id, name FROM users WHERE")
    with pytest.raises(EnforcementError) as info:
        enforce(query + " " * (MAX_CHARS - len(query) + 1), spec)
    assert info.value.errors[0].kind == "too_large"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_max_chars_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(SpecError, match="max_chars"):
        SqlSpec(max_chars=bad)  # type: ignore[arg-type]


def test_new_options_round_trip_and_keep_old_hashes() -> None:
    plain = SqlSpec(ddl=DDL)
    assert "max_chars" not in plain.describe() and "allowed_functions" not in plain.describe()
    custom = SqlSpec(ddl=DDL, max_chars=1000, allowed_functions=["my_udf"])
    again = SqlSpec.from_description({k: v for k, v in custom.describe().items() if k != "format"}, Path("."))
    assert again == custom and again.allowed_functions == ("my_udf",)


# ------------------------------------------------------------------ parser errors
@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("SELECT * FROM users WHERE", "WHERE has no condition", 25),
        ("SELECT * FROM users ORDER BY", "ORDER BY names no column", 28),
        ("SELECT * FROM users LIMIT", "LIMIT has no number", 25),
        ("SELECT * FROM", "a table name is missing after 'FROM'", 13),
        ("SELECT (1", "expected )", 9),
    ],
)
def test_parser_errors_read_as_sentences(spec: SqlSpec, text: str, message: str, column: int) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec, repair=False)
    issue = info.value.errors[0]
    assert message in issue.message
    assert "<class" not in issue.message and "Required keyword" not in issue.message
    assert (issue.line, issue.column) == (1, column)


def test_sqlglot_does_not_log_before_the_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with pytest.raises(SpecError, match="unsupported syntax"):
        SqlSpec(ddl="CREATE TABL x (a INT)")
    with pytest.raises(EnforcementError) as info:
        enforce("CREATE TABL x", SqlSpec(read_only=False))
    assert "unsupported syntax" in info.value.errors[0].message
    assert not [r for r in caplog.records if r.name.startswith("sqlglot")]


# ------------------------------------------------------------------ executor limits
@pytest.mark.parametrize(
    "sql",
    ["SELECT zeroblob(900000000)", "SELECT length(zeroblob(900000000))", "SELECT hex(zeroblob(600000000))"],
)
def test_sqlite_check_refuses_huge_values(sql: str) -> None:
    spec = SqlSpec(ddl=DDL, execute_check=True)
    with pytest.raises(EnforcementError) as info:
        enforce(sql, spec)
    assert info.value.stage == "semantic"
    assert info.value.errors[0].kind == "too_big"


def test_sqlite_printf_cannot_build_a_huge_string() -> None:
    # SQLite's printf loops 900M times inside one call (no progress handler runs): the child is killed
    issues = Executor(database=None, ddl_sqlite=DDL, timeout_s=0.3).run(
        "SELECT printf('%.*c', 900000000, 'x')"
    )
    assert [i.kind for i in issues] == ["timeout"]
    assert "raise timeout_s" in issues[0].message


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.executescript(DDL + "INSERT INTO users VALUES (1, 'a', 's1'), (2, 'b', 's2');")
    conn.commit()
    conn.close()
    return path


def test_measurements_use_the_authorized_executor(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert run_query(db, "SELECT id FROM users ORDER BY id") == [(1,), (2,)]
    assert execution_match(db, "SELECT id FROM users", "SELECT id FROM users ORDER BY id DESC") == (
        True,
        None,
    )
    ok, problem = execution_match(db, "SELECT zeroblob(900000000)", "SELECT 1")
    assert not ok and problem is not None and "too big" in problem
    with pytest.raises(ConfigError, match=r"not authorized"):
        run_query(db, "ATTACH DATABASE ':memory:' AS other")


def test_gold_rows_are_not_cached_across_database_changes(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert execution_match(db, "SELECT 2", "SELECT count(*) FROM users")[0]
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO users VALUES (3, 'c', 's3')")
    conn.commit()
    conn.close()
    assert execution_match(db, "SELECT 3", "SELECT count(*) FROM users")[0]


def _duckdb_file(tmp_path: Path) -> Path:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'a')")
    conn.close()
    return path


def test_duckdb_check_bounds_memory_and_refuses_file_access(tmp_path: Path) -> None:
    path = _duckdb_file(tmp_path)
    spec = SqlSpec(database=path, dialect="duckdb", execute_check=True, allowed_functions=["glob"])
    assert enforce("SELECT id FROM users", spec).text
    with pytest.raises(EnforcementError) as info:
        enforce("SELECT length(repeat('x', 1000000000)) FROM users", spec)
    assert info.value.stage == "semantic" and info.value.errors[0].kind == "too_big"
    with pytest.raises(EnforcementError) as info:
        enforce("SELECT * FROM glob('/*')", spec)  # allowed by name, still no file access at run time
    assert info.value.stage == "semantic"

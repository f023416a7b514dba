"""The SQL policy stage: read-only by allowlist on every dialect, allowed_tables per scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.formats.sql import SqlSpec

DIALECTS = ("sqlite", "postgres", "duckdb", "mysql", "tsql", "oracle")

#: Calls that read files, reach the network, sleep, lock or write, per dialect.
HOSTILE = [
    ("sqlite", "SELECT load_extension('x')"),
    ("sqlite", "SELECT readfile('/etc/passwd')"),
    ("sqlite", "SELECT writefile('/tmp/x', 'y')"),
    ("sqlite", "SELECT \"load_extension\"('x')"),
    ("postgres", 'SELECT "pg_sleep"(10)'),
    ("postgres", "SELECT pg_sleep(10)"),
    ("postgres", "SELECT query_to_xml('DELETE FROM t', true, true, '')"),
    ("postgres", "SELECT lo_from_bytea(0, 'x')"),
    ("postgres", "SELECT pg_advisory_lock(1)"),
    ("postgres", "SELECT dblink_exec('c', 'DELETE FROM t')"),
    ("postgres", "SELECT * FROM dblink('c', 'SELECT 1') AS t(a int)"),
    ("postgres", "SELECT pg_notify('a', 'b')"),
    ("postgres", "SELECT nextval('s')"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')"),
    ("postgres", "SELECT set_config('a', 'b', false)"),
    ("postgres", "SELECT public.pg_sleep(1)"),
    ("duckdb", "SELECT * FROM glob('/*')"),
    ("duckdb", "SELECT * FROM sniff_csv('/etc/passwd')"),
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')"),
    ("duckdb", "SELECT * FROM read_parquet('x.parquet')"),
    ("duckdb", "SELECT * FROM read_text('/etc/passwd')"),
    ("duckdb", "SELECT * FROM read_json_auto('x.json')"),
    ("duckdb", "SELECT * FROM sqlite_scan('x.db', 't')"),
    ("duckdb", "SELECT * FROM query('SELECT 1')"),
    ("duckdb", "SELECT * FROM 'x.csv'"),
    ("duckdb", "SELECT * FROM '/etc/passwd'"),
    ("duckdb", "SELECT getenv('HOME')"),
    ("mysql", "SELECT GET_LOCK('a', 10)"),
    ("mysql", "SELECT SLEEP(5)"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')"),
    ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))"),
    ("tsql", "SELECT * FROM OPENQUERY(srv, 'SELECT 1')"),
    ("tsql", "SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'y')"),
    ("tsql", "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'x')"),
    ("oracle", "SELECT utl_http.request('http://x') FROM dual"),
    ("oracle", "SELECT dbms_lock.sleep(5) FROM dual"),
    ("oracle", "SELECT utl_file.fopen('d', 'f', 'r') FROM dual"),
]

#: Ordinary read-only queries that must keep passing.
PURE = [
    (
        d,
        q,
    )
    for d in DIALECTS
    for q in (
        "SELECT COUNT(*), SUM(x), AVG(x), MIN(x), MAX(x) FROM t",
        "SELECT LOWER(a), UPPER(a), COALESCE(a, 'n'), LENGTH(a), ABS(x), ROUND(x, 2) FROM t",
        "SELECT CASE WHEN x > 1 THEN 'a' ELSE 'b' END FROM t",
        "SELECT a, ROW_NUMBER() OVER (PARTITION BY a ORDER BY x) FROM t",
        "SELECT a, SUM(x) OVER (ORDER BY x) FROM t",
        "SELECT CAST(x AS INT), NULLIF(a, b) FROM t",
        "WITH c AS (SELECT a FROM t) SELECT a FROM c",
    )
] + [
    ("sqlite", "SELECT date('now'), strftime('%Y', d), julianday(d), datetime(d), printf('%d', x) FROM t"),
    ("sqlite", "SELECT substr(a, 1, 2), instr(a, 'b'), ifnull(a, 1), typeof(a), total(x) FROM t"),
    ("postgres", "SELECT date_trunc('month', d), EXTRACT(year FROM d), NOW(), to_char(d, 'YYYY') FROM t"),
    ("postgres", "SELECT string_agg(a, ','), array_agg(a), age(d), split_part(a, ',', 1) FROM t"),
    ("duckdb", "SELECT strftime(d, '%Y'), date_diff('day', d, e), median(x), arg_max(a, x) FROM t"),
    ("duckdb", "SELECT * FROM range(10)"),
    ("mysql", "SELECT DATE_FORMAT(d, '%Y'), IFNULL(a, 1), CONCAT(a, b), DATEDIFF(d, e), NOW() FROM t"),
    ("mysql", "SELECT GROUP_CONCAT(a), IF(x > 1, 1, 2), YEAR(d), MONTH(d) FROM t"),
    ("tsql", "SELECT TOP 5 ISNULL(a, 1), GETDATE(), DATEADD(day, 1, d), DATEDIFF(day, d, e), LEN(a) FROM t"),
    ("oracle", "SELECT NVL(a, 1), TO_CHAR(d, 'YYYY'), TRUNC(d), INSTR(a, 'b'), SUBSTR(a, 1, 2) FROM t"),
]


@pytest.mark.parametrize(("dialect", "sql"), HOSTILE)
def test_read_only_refuses_side_effect_calls_on_every_dialect(dialect: str, sql: str) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce(sql, SqlSpec(dialect=dialect))
    assert info.value.stage == "policy"
    assert info.value.errors[0].kind in ("side_effect", "write")


@pytest.mark.parametrize(("dialect", "sql"), PURE)
def test_read_only_keeps_ordinary_pure_queries(dialect: str, sql: str) -> None:
    assert enforce(sql, SqlSpec(dialect=dialect)).text


@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{2,12}", fullmatch=True),
    quoted=st.booleans(),
    dialect=st.sampled_from(DIALECTS),
)
@settings(max_examples=60, deadline=None)
def test_unknown_functions_are_refused_unless_allowed_by_name(name: str, quoted: bool, dialect: str) -> None:
    call = f'"{name}"(1)' if quoted and dialect not in ("mysql",) else f"{name}(1)"
    spec = SqlSpec(dialect=dialect)
    try:
        statement = spec.parse(f"SELECT {call}")[0]
    except EnforcementError:
        return  # a keyword that does not parse as a call
    from sqlglot import exp

    func = statement.find(exp.Func)
    if func is None or not isinstance(func, exp.Anonymous):
        return  # a typed function sqlglot knows: covered by the allowlist tables
    from formbound.formats.sql.functions import PURE_BY_DIALECT

    if name in PURE_BY_DIALECT[dialect] and not quoted:
        return
    with pytest.raises(EnforcementError) as info:
        enforce(f"SELECT {call}", spec)
    assert info.value.errors[0].kind == "side_effect"
    assert f"allowed_functions=[{name!r}]" in info.value.errors[0].message
    assert enforce(f"SELECT {call}", SqlSpec(dialect=dialect, allowed_functions=[name])).text


def test_read_only_off_does_not_check_functions() -> None:
    assert enforce("SELECT pg_sleep(1)", SqlSpec(dialect="postgres", read_only=False)).text


# ------------------------------------------------------------------ allowed_tables


SHADOWING = [
    "SELECT token FROM secret WHERE EXISTS (WITH secret AS (SELECT 1) SELECT 1 FROM secret)",
    "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret",
    "SELECT * FROM users WHERE id IN (SELECT id FROM secret)",
    "SELECT * FROM (WITH secret AS (SELECT 1 AS id) SELECT id FROM secret) AS s JOIN secret ON 1 = 1",
    "WITH x AS (SELECT * FROM users) SELECT * FROM x, (WITH secret AS (SELECT 1) SELECT 1) AS y, secret",
    "SELECT * FROM otherdb.main.users",
    "SELECT * FROM other.users",
    "SELECT * FROM temp.users",
]


@pytest.mark.parametrize("sql", SHADOWING)
def test_allowed_tables_resolve_each_reference_in_its_scope(sql: str) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce(sql, SqlSpec(allowed_tables=["users"]))
    assert info.value.stage == "policy"
    assert {e.kind for e in info.value.errors} == {"table_not_allowed"}


@pytest.mark.parametrize(
    "sql",
    [
        "WITH secret AS (SELECT id FROM users) SELECT id FROM secret",
        "SELECT * FROM users WHERE EXISTS (WITH secret AS (SELECT 1) SELECT 1 FROM secret)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r, users",
        "SELECT * FROM main.users",
        "SELECT * FROM USERS",
    ],
)
def test_allowed_tables_keep_ctes_in_scope_and_the_default_schema(sql: str) -> None:
    assert enforce(sql, SqlSpec(allowed_tables=["users"])).text


@given(cte=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), depth=st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_a_cte_never_unlocks_a_table_outside_its_scope(cte: str, depth: int) -> None:
    """``secret`` read in the outer query stays forbidden whatever CTE named ``secret`` sits deeper."""
    inner = f"WITH secret AS (SELECT 1 AS {cte}) SELECT 1 FROM secret"
    for _ in range(depth):
        inner = f"SELECT 1 FROM users WHERE EXISTS ({inner})"
    sql = f"SELECT * FROM secret WHERE EXISTS ({inner})"
    spec = SqlSpec(allowed_tables=["users"])
    try:
        spec.parse(sql)
    except EnforcementError:
        return  # the random alias is a keyword
    with pytest.raises(EnforcementError) as info:
        enforce(sql, spec)
    assert any(e.kind == "table_not_allowed" and "secret" in e.message for e in info.value.errors)


def test_quoted_identifiers_follow_the_dialect_case_rules() -> None:
    pg = SqlSpec(dialect="postgres", allowed_tables=["users"])
    assert enforce('SELECT * FROM "users"', pg).text
    assert enforce("SELECT * FROM USERS", pg).text
    with pytest.raises(EnforcementError):
        enforce('SELECT * FROM "USERS"', pg)  # a different table in PostgreSQL
    lite = SqlSpec(dialect="sqlite", allowed_tables=["users"])
    assert enforce('SELECT * FROM "USERS"', lite).text  # SQLite names are case-insensitive


def test_qualified_allowed_table_needs_the_same_qualifier() -> None:
    spec = SqlSpec(dialect="postgres", allowed_tables=["sales.orders"])
    assert enforce("SELECT * FROM sales.orders", spec).text
    with pytest.raises(EnforcementError):
        enforce("SELECT * FROM orders", spec)
    with pytest.raises(EnforcementError):
        enforce("SELECT * FROM hr.orders", spec)


def test_schema_and_grammar_do_not_import_each_other() -> None:
    import ast

    def imports(module: str) -> set[str]:
        tree = ast.parse((Path(__file__).parents[1] / f"src/formbound/formats/sql/{module}.py").read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert "formbound.formats.sql.grammar" not in imports("schema")
    assert "formbound.formats.sql.identifiers" in imports("schema") & imports("grammar")

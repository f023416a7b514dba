"""SQL specs: parsing, the policy guard, schema resolution, execution checks, repairs, descriptions."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from formbound.enforce import Result, enforce
from formbound.errors import EnforcementError, SpecError
from formbound.formats import get_format
from formbound.formats.sql import SQL_DIALECTS, SqlSpec
from formbound.spec import Spec

FIXTURES = Path(__file__).parent / "fixtures" / "sql"
DDL = (FIXTURES / "shop.sql").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def spec() -> SqlSpec:
    return SqlSpec(ddl=DDL)


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(DDL)
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)", [(1, "Ada", "London", 1), (2, "Bo", "Oslo", 2)]
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)", [(1, 1, 10.5, "2024-01-01"), (2, 2, 99.0, None)]
    )
    conn.commit()
    conn.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fail(text: str, spec: Spec, **kwargs: object) -> EnforcementError:
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec, **kwargs)  # type: ignore[arg-type]
    return info.value


# ------------------------------------------------------------------ construction
def test_factory_registry_and_stages() -> None:
    spec = Spec.sql(dialect="postgres")
    assert isinstance(spec, SqlSpec)
    assert get_format("sql") is SqlSpec
    assert spec.format == "sql"
    assert spec.stages == ("syntax", "policy", "schema", "semantic")


def test_dialect_typo_suggests_the_closest() -> None:
    with pytest.raises(SpecError, match="did you mean 'sqlite'"):
        SqlSpec(dialect="sqllite")
    with pytest.raises(SpecError, match="did you mean 'postgres'"):
        SqlSpec(dialect="postgress")


@pytest.mark.parametrize(
    "dialect", ["sqlite", "postgres", "mysql", "duckdb", "tsql", "bigquery", "snowflake"]
)
def test_known_dialects_parse_a_query(dialect: str) -> None:
    assert dialect in SQL_DIALECTS
    spec = SqlSpec(dialect=dialect, ddl=DDL if dialect == "sqlite" else None)
    assert enforce("SELECT name FROM customers WHERE id = 1", spec).text.startswith(
        "SELECT name FROM customers"
    )


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE t (a INT, b", "does not parse"),
        ("CREATE TABLE t (a INT,, b INT)", "does not run in SQLite"),
        ("INSERT INTO t VALUES (1)", "only hold CREATE TABLE"),
        ("CREATE INDEX i ON t(a)", "declares no table"),
        ("CREATE TABLE t (a INT); CREATE TABLE T (b INT);", "declared twice"),
        ("CREATE TABLE t (a INT, A TEXT)", "declared twice"),
        ("   ", "ddl is empty"),
        ("missing_file.sql", "does not exist"),
    ],
)
def test_broken_ddl_fails_at_construction(ddl: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        SqlSpec(ddl=ddl)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allowed_tables": ["custmers"], "ddl": DDL}, "did you mean 'customers'"),
        ({"allowed_tables": "customers"}, "list of table names"),
        ({"allowed_tables": []}, "allowed_tables is empty"),
        ({"execute_check": True}, "execute_check=True needs database="),
        ({"execute_check": True, "ddl": "CREATE TABLE t (a INT)", "dialect": "postgres"}, "dialect='sqlite'"),
        ({"timeout_s": 0}, "positive number"),
        ({"read_only": "yes"}, "True or False"),
        ({"database": "no/such/file.db"}, "does not exist"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        SqlSpec(**options)  # type: ignore[arg-type]


def test_ddl_and_database_together_are_refused(shop_db: Path) -> None:
    with pytest.raises(SpecError, match="not both"):
        SqlSpec(ddl=DDL, database=shop_db)


def test_ddl_from_a_file_path() -> None:
    spec = SqlSpec(ddl=FIXTURES / "shop.sql")
    assert spec.schema is not None
    assert spec.schema.table_names == ("customers", "orders", "products")
    assert spec.schema.table("ORDERS").foreign_keys == (("customer_id", "customers", "id"),)  # type: ignore[union-attr]


# ------------------------------------------------------------------------ syntax
def test_syntax_error_has_line_and_column(spec: SqlSpec) -> None:
    err = _fail("SELECT name\nFROM customers WHERE", spec, repair=False)
    assert err.stage == "syntax"
    assert err.errors[0].line == 2
    assert err.errors[0].column is not None and err.errors[0].column > 1
    assert err.errors[0].kind == "sql_syntax"


def test_unterminated_string_is_a_syntax_error_with_position(spec: SqlSpec) -> None:
    err = _fail("SELECT name FROM customers\nWHERE city = 'Osl", spec)
    assert err.stage == "syntax"
    assert err.errors[0].line == 2


@pytest.mark.parametrize("text", ["hello world", "42", "COUNT(*)"])
def test_an_expression_is_not_a_statement(spec: SqlSpec, text: str) -> None:
    err = _fail(text, spec)
    assert err.stage == "syntax"
    assert err.errors[0].kind == "not_statement"


def test_deep_nesting_fails_cleanly(spec: SqlSpec) -> None:
    for depth in (150, 3000):
        text = "SELECT " + "(" * depth + "1" + ")" * depth
        err = _fail(text, spec)
        assert err.stage == "syntax"


def test_value_is_the_sqlglot_expression_and_text_is_normalized(spec: SqlSpec) -> None:
    result = enforce("select  NAME\n from customers   where id=1", spec)
    assert isinstance(result.value, exp.Select)
    assert result.text == "SELECT NAME FROM customers WHERE id = 1"
    assert result.repairs == ()


def test_comments_never_reach_the_normalized_text(spec: SqlSpec) -> None:
    result = enforce("SELECT name FROM customers -- ; DROP TABLE customers", spec)
    assert "DROP" not in result.text
    mysql = SqlSpec(dialect="mysql")
    assert "DROP" not in enforce("SELECT name FROM customers /*! ; DROP TABLE customers */", mysql).text


def test_dump_accepts_what_parse_returns(spec: SqlSpec) -> None:
    statements = spec.parse("SELECT id FROM orders")
    assert spec.dump(statements) == "SELECT id FROM orders"
    assert spec.dump(spec.validate(statements, "SELECT id FROM orders")) == "SELECT id FROM orders"


# ------------------------------------------------------------------------ policy
REJECTS = json.loads((FIXTURES / "rejects.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", REJECTS, ids=[c["text"][:40] for c in REJECTS])
def test_policy_rejects_writes_and_injections(case: dict[str, str]) -> None:
    spec = SqlSpec(dialect=case.get("dialect", "sqlite"))
    err = _fail(case["text"], spec)  # with repairs on: no repair may launder an injection
    assert err.stage == case["stage"]
    assert case["kind"] in {issue.kind for issue in err.errors}


def test_read_write_spec_still_allows_one_statement_only() -> None:
    spec = SqlSpec(ddl=DDL, read_only=False)
    assert isinstance(enforce("INSERT INTO orders (id, total) VALUES (3, 1.5)", spec).value, exp.Insert)
    assert _fail("INSERT INTO orders (id) VALUES (3); DELETE FROM orders", spec).stage == "policy"


def test_allowed_tables_limit_reads() -> None:
    spec = SqlSpec(ddl=DDL, allowed_tables=["customers", "orders"])
    assert enforce("SELECT name FROM main.customers", spec).text == "SELECT name FROM main.customers"
    err = _fail("SELECT title FROM products", spec)
    assert err.stage == "policy"
    assert err.errors[0].kind == "table_not_allowed"
    ok = "WITH products AS (SELECT id FROM orders) SELECT id FROM products"  # a CTE, not the table
    assert enforce(ok, spec).value is not None


def test_allowed_tables_without_schema_block_system_tables_and_table_functions() -> None:
    spec = SqlSpec(allowed_tables=["customers"])
    err = _fail("SELECT sql FROM sqlite_master", spec)
    assert err.stage == "policy"
    assert _fail("SELECT * FROM pragma_table_info('customers')", spec).stage == "policy"
    assert _fail("SELECT * FROM custmers", spec).errors[0].suggestion == "customers"


# ------------------------------------------------------------------------ schema
SCHEMA_ERRORS = [
    ("SELECT nme FROM customers", "unknown_column", "name"),
    ("SELECT c.nam FROM customers c", "unknown_column", "name"),
    ("SELECT * FROM custmers", "unknown_table", "customers"),
    ("SELECT x.name FROM customers c", "unknown_table", "c"),
    ("SELECT id FROM customers JOIN orders ON customers.id = orders.customer_id", "ambiguous_column", None),
    ("SELECT id, name FROM customers UNION SELECT id FROM orders", "set_arity", None),
    ("SELECT * FROM customers EXCEPT SELECT sku FROM products", "set_arity", None),
    ("SELECT t.ss FROM (SELECT SUM(total) AS s FROM orders) t", "unknown_column", "s"),
    (
        "WITH big AS (SELECT customer_id, SUM(total) AS s FROM orders GROUP BY customer_id) "
        "SELECT ss FROM big",
        "unknown_column",
        "s",
    ),
    (
        "SELECT name FROM customers WHERE id IN (SELECT customer_idd FROM orders)",
        "unknown_column",
        "customer_id",
    ),
    ("SELECT name FROM customers UNION SELECT title FROM products ORDER BY nam", "unknown_column", "name"),
    ('SELECT name FROM customers WHERE name = "Ada"', "unknown_column", None),
]


@pytest.mark.parametrize(
    ("text", "kind", "suggestion"), SCHEMA_ERRORS, ids=[c[0][:40] for c in SCHEMA_ERRORS]
)
def test_schema_errors_name_the_closest_valid_name(
    spec: SqlSpec, text: str, kind: str, suggestion: str | None
) -> None:
    err = _fail(text, spec, repair=False)
    assert err.stage == "schema"
    issue = err.errors[0]
    assert issue.kind == kind
    assert issue.suggestion == suggestion


SCHEMA_OK = [
    "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 10)",
    "WITH big AS (SELECT customer_id, SUM(total) AS s FROM orders GROUP BY customer_id) "
    "SELECT name, s FROM customers JOIN big ON big.customer_id = customers.id",
    "SELECT t.s FROM (SELECT SUM(total) AS s FROM orders) AS t",
    "SELECT id FROM customers JOIN orders USING (id)",
    "SELECT name AS n FROM customers ORDER BY n",
    'SELECT rowid, "order" FROM customers',
    'SELECT * FROM customers UNION SELECT id, name, city, "order" FROM customers ORDER BY name',
    "SELECT * FROM (SELECT id FROM customers UNION SELECT sku FROM products) AS x WHERE x.id > 1",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT COUNT(*) FROM r",
    "SELECT CUSTOMERS.NAME FROM Customers",
    "SELECT city, COUNT(*) FROM customers GROUP BY city HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 3",
]


@pytest.mark.parametrize("text", SCHEMA_OK, ids=[t[:40] for t in SCHEMA_OK])
def test_valid_queries_pass_the_schema_stage(spec: SqlSpec, text: str) -> None:
    assert enforce(text, spec, repair=False).repairs == ()


# --------------------------------------------------------------------- databases
def test_schema_from_a_sqlite_database(shop_db: Path) -> None:
    spec = SqlSpec(database=shop_db)
    assert spec.schema is not None and spec.schema.table_names == ("customers", "orders", "products")
    assert "CREATE TABLE customers" in spec.render_schema()
    assert _fail("SELECT nme FROM customers", spec).errors[0].suggestion == "name"


def test_execute_check_reports_runtime_errors_at_semantic(shop_db: Path) -> None:
    spec = SqlSpec(database=shop_db, execute_check=True)
    assert enforce("SELECT name FROM customers ORDER BY id", spec).text
    # read-only: an unknown function is refused before it runs (it is not on the pure allowlist)
    assert _fail("SELECT no_such_function(name) FROM customers", spec).stage == "policy"
    allowed = SqlSpec(database=shop_db, execute_check=True, allowed_functions=["no_such_function"])
    err = _fail("SELECT no_such_function(name) FROM customers", allowed)
    assert err.stage == "semantic"
    assert "no_such_function" in err.errors[0].message.lower()


def test_execute_check_stops_slow_queries(shop_db: Path) -> None:
    spec = SqlSpec(database=shop_db, execute_check=True, timeout_s=0.2)
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    err = _fail(endless, spec)
    assert err.stage == "semantic"
    assert err.errors[0].kind == "timeout"


def test_execute_check_never_modifies_the_database(shop_db: Path) -> None:
    before = _digest(shop_db)
    spec = SqlSpec(database=shop_db, execute_check=True, read_only=False)
    for text in (
        "DELETE FROM customers",
        "UPDATE orders SET total = 0",
        "DROP TABLE orders",
        "INSERT INTO products VALUES ('x', 'y', 1)",
        "CREATE TABLE evil (a INT)",
    ):
        assert _fail(text, spec).stage == "semantic"
    assert _digest(shop_db) == before
    conn = sqlite3.connect(shop_db)
    assert conn.execute("SELECT COUNT(*) FROM customers").fetchone() == (2,)
    conn.close()


def test_execute_check_against_an_in_memory_copy_of_the_ddl() -> None:
    spec = SqlSpec(ddl=DDL, execute_check=True)
    assert enforce("SELECT COUNT(*) FROM orders", spec).text == "SELECT COUNT(*) FROM orders"
    err = _fail("SELECT name FROM customers WHERE SUM(id) > 1", spec)
    assert err.stage == "semantic"


def test_duckdb_database(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "shop.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
    conn.execute("INSERT INTO customers VALUES (1, 'Ada')")
    conn.close()
    spec = SqlSpec(database=path, dialect="duckdb", execute_check=True)
    assert enforce("SELECT name FROM customers", spec).text == "SELECT name FROM customers"
    assert _fail("SELECT nam FROM customers", spec).errors[0].suggestion == "name"
    before = _digest(path)
    writer = SqlSpec(database=path, dialect="duckdb", execute_check=True, read_only=False)
    assert _fail("DELETE FROM customers", writer).stage == "semantic"
    assert _digest(path) == before


# ----------------------------------------------------------------------- repairs
REPAIRS = json.loads((FIXTURES / "repairs.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", REPAIRS, ids=[c["broken"][:40] for c in REPAIRS])
def test_broken_to_fixed(case: dict[str, object]) -> None:
    spec = SqlSpec(ddl=DDL, dialect=str(case.get("dialect", "sqlite")))
    result = enforce(str(case["broken"]), spec)
    assert result.text == case["fixed"]
    assert list(result.repairs) == case["repairs"]
    assert result.raw == case["broken"]


def test_repairs_are_only_tried_when_needed(spec: SqlSpec) -> None:
    with pytest.raises(EnforcementError):
        enforce("SQL: SELECT name FROM customers", spec, repair=False)
    assert enforce("SELECT name FROM customers;", spec).repairs == ()


# ---------------------------------------------------------- description and prompts
def test_describe_round_trips(shop_db: Path) -> None:
    for spec in (
        SqlSpec(ddl=DDL, allowed_tables=["customers"], execute_check=True, timeout_s=1.5),
        SqlSpec(dialect="postgres", read_only=False),
        SqlSpec(database=shop_db),
    ):
        description = json.loads(json.dumps(spec.describe()))
        assert description["format"] == "sql"
        rebuilt = Spec.from_dict(description)
        assert rebuilt == spec
        assert rebuilt.hash == spec.hash


def test_from_dict_resolves_files_against_base_dir(shop_db: Path) -> None:
    spec = Spec.from_dict({"format": "sql", "ddl": "shop.sql"}, base_dir=FIXTURES)
    assert isinstance(spec, SqlSpec) and spec.schema is not None
    from_db = Spec.from_dict({"format": "sql", "database": shop_db.name}, base_dir=shop_db.parent)
    assert isinstance(from_db, SqlSpec) and from_db.database == shop_db
    with pytest.raises(SpecError, match="did you mean 'dialect'"):
        Spec.from_dict({"format": "sql", "dialekt": "sqlite"}, base_dir=FIXTURES)


def test_spec_load_reads_a_ddl_file() -> None:
    spec = Spec.load(FIXTURES / "shop.sql")
    assert isinstance(spec, SqlSpec) and spec.schema is not None


def test_render_schema_is_compact_ddl() -> None:
    text = SqlSpec(ddl=DDL).render_schema()
    assert text.count("CREATE TABLE") == 3
    assert '"order" INTEGER' in text and "FOREIGN KEY (customer_id) REFERENCES customers(id)" in text
    limited = SqlSpec(ddl=DDL, allowed_tables=["orders"]).render_schema()
    assert "orders" in limited and "products" not in limited
    assert "no schema" in SqlSpec().render_schema()


def test_constraint_is_a_lark_grammar_with_its_limits() -> None:
    with_schema = SqlSpec(ddl=DDL).constraint()
    assert with_schema.kind == "lark"
    assert "customer_id" in with_schema.value and "DELETE" not in with_schema.value
    assert "table and column names" not in with_schema.unenforced
    generic = SqlSpec(execute_check=False).constraint()
    assert "table and column names" in generic.unenforced
    assert "runtime errors" in SqlSpec(ddl=DDL, execute_check=True).unenforced


# ------------------------------------------------------------------------ fuzzing
SQL_WORDS = st.sampled_from(
    "SELECT FROM WHERE customers orders name id * , ; ( ) ' \" ` -- /* */".split()
    + "JOIN ON = 1 UNION WITH x AS DROP ``` SQL:".split()
    + ["\n", " "]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(SQL_WORDS, max_size=25).map(" ".join)))
def test_fuzz_enforce_returns_a_result_or_raises_enforcement_error(text: str) -> None:
    spec = SqlSpec(ddl=DDL)
    try:
        result = enforce(text, spec)
    except EnforcementError as err:
        assert err.errors
        return
    assert isinstance(result, Result)
    assert isinstance(result.value, exp.Query)


def test_a_query_repeated_until_the_token_limit_is_repaired_to_one() -> None:
    from formbound import Spec, enforce

    spec = Spec.sql(ddl="CREATE TABLE t (a INTEGER, b TEXT);")
    r = enforce("SELECT a FROM t WHERE b = 'x';\nSELECT a FROM t WHERE b = 'x';\nSELECT a FROM t WH", spec)
    assert r.repairs == ("repeated_statement",)
    assert r.text == "SELECT a FROM t WHERE b = 'x'"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT a FROM t; DROP TABLE t",
        "SELECT a FROM t; SELECT a FROM t; DROP TABLE t",
        "SELECT a FROM t; SELECT b FROM t",
        "SELECT a FROM t; DELETE FROM t; SELECT a FROM t",
    ],
)
def test_repeat_repair_never_hides_another_statement(text: str) -> None:
    from formbound import EnforcementError, Spec, enforce

    spec = Spec.sql(ddl="CREATE TABLE t (a INTEGER, b TEXT);")
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec)
    assert info.value.stage == "policy"

"""The SQL decoding grammar: whatever a model picks under it, the query parses, is read-only and names only
what the schema has."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from _tiny import random_walk, tiny_tokenizer
from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.formats.sql import SqlSpec

llguidance = pytest.importorskip("llguidance")
llguidance_hf = pytest.importorskip("llguidance.hf")

DDL = (Path(__file__).parent / "fixtures" / "sql" / "shop.sql").read_text(encoding="utf-8")
# No foreign keys: every pair of tables is joinable, columns shared by both (id) must be qualified.
DDL_NO_FK = 'CREATE TABLE a (id INTEGER, x TEXT, "group" REAL);\nCREATE TABLE b (id INTEGER, y TEXT);'


def _grammar(spec: SqlSpec) -> str:
    return llguidance.LLMatcher.grammar_from_lark(spec.constraint().value)


@functools.lru_cache(maxsize=1)
def _lltok() -> Any:
    return llguidance_hf.from_tokenizer(tiny_tokenizer())


def _accepts(spec: SqlSpec, text: str) -> bool:
    """Whether the grammar can produce exactly ``text`` (then end)."""
    tok = _lltok()
    matcher = llguidance.LLMatcher(tok, _grammar(spec))
    tokens = tok.tokenize_str(text)
    if matcher.validate_tokens(tokens) != len(tokens):
        return False
    matcher.consume_tokens(tokens)
    return matcher.is_accepting()


SPECS = {
    "sqlite+fk": {"ddl": DDL},
    "sqlite+execute": {"ddl": DDL, "execute_check": True},
    "no-fk pairs": {"ddl": DDL_NO_FK},
    "allowed subset": {"ddl": DDL, "allowed_tables": ["orders", "customers"]},
    "postgres": {"ddl": DDL, "dialect": "postgres"},
    "mysql": {"ddl": DDL, "dialect": "mysql"},
    "tsql": {"ddl": DDL, "dialect": "tsql"},
    "oracle": {"ddl": DDL, "dialect": "oracle"},
    "generic": {},
    "generic allowed": {"allowed_tables": ["t1", "t2"]},
}


@pytest.mark.parametrize("name", list(SPECS))
def test_every_sampled_query_passes_enforce(name: str) -> None:
    spec = SqlSpec(**SPECS[name])  # type: ignore[arg-type]
    samples = random_walk(_grammar(spec), n=40, seed=7, max_tokens=250)
    finished = [text for text, done in samples if done]
    assert len(finished) >= 20
    for text in finished:
        try:
            result = enforce(text, spec, repair=False)
        except EnforcementError as err:  # pragma: no cover - the failure message is the point
            pytest.fail(f"grammar produced {text!r}, which fails: {err}")
        assert result.repairs == ()


def test_samples_cover_the_query_subset() -> None:
    spec = SqlSpec(ddl=DDL)
    texts = [t for t, done in random_walk(_grammar(spec), n=150, seed=3, max_tokens=300) if done]
    joined = "\n".join(texts)
    for clause in (" JOIN ", " WHERE ", " GROUP BY ", " ORDER BY ", " LIMIT ", " AS "):
        assert clause in joined, clause


@pytest.mark.parametrize(
    "text",
    [
        "SELECT name FROM customers",
        "SELECT customers.name, COUNT(*) AS n FROM customers JOIN orders "
        "ON orders.customer_id = customers.id WHERE total > 10 GROUP BY customers.name "
        "HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC LIMIT 5;",
        "SELECT a.x, b.y FROM b LEFT JOIN a ON b.id = a.id",
        "SELECT DISTINCT city FROM customers WHERE city IS NOT NULL AND name LIKE 'A%'",
        "SELECT SUM(total) FROM orders WHERE total BETWEEN 1 AND 100 OR id IN (1, 2, 3)",
        'SELECT "order" FROM customers',
    ],
)
def test_grammar_accepts_ordinary_queries(text: str) -> None:
    spec = SqlSpec(ddl=DDL_NO_FK if "a.x" in text else DDL)
    assert _accepts(spec, text)
    enforce(text, spec, repair=False)


@pytest.mark.parametrize(
    "text",
    [
        "DELETE FROM customers",
        "SELECT name FROM customers; DROP TABLE customers",
        "SELECT nme FROM customers",  # unknown column
        "SELECT total FROM customers",  # a column of another table
        "SELECT name FROM products",  # products has no name
        "SELECT * FROM sqlite_master",
        "SELECT id FROM customers JOIN orders ON orders.customer_id = customers.id",  # ambiguous id
        "SELECT name FROM customers -- comment",
        "SELECT name  FROM customers",  # runaway whitespace
        "SELECT name FROM customers AS select",
    ],
)
def test_grammar_rejects_what_would_fail(text: str) -> None:
    assert not _accepts(SqlSpec(ddl=DDL), text)


def test_allowed_tables_shape_the_grammar() -> None:
    spec = SqlSpec(ddl=DDL, allowed_tables=["orders"])
    assert _accepts(spec, "SELECT total FROM orders")
    assert not _accepts(spec, "SELECT name FROM customers")
    generic = SqlSpec(allowed_tables=["t1"])
    assert _accepts(generic, "SELECT anything FROM t1")
    assert not _accepts(generic, "SELECT anything FROM t2")

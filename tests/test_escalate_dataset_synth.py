"""Synthetic fine-tuning data: execution-verified SQL on shop_sql, schema-driven JSON/YAML values."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from formbound.enforce import enforce
from formbound.escalate.dataset import build_dataset, load_records
from formbound.escalate.quality import QualityOptions, normalize_input
from formbound.escalate.synth_schema import leaf_schema, sample_values, synthesize_from_schema
from formbound.escalate.synth_sql import SqlPair, synthesize_sql
from formbound.formats.sql.execute import run_query
from formbound.measure import load_task_set
from formbound.models.base import Generation, Model


@pytest.fixture(scope="module")
def shop() -> Any:
    return load_task_set("shop_sql")


@pytest.fixture(scope="module")
def shop_synth(shop: Any) -> tuple[Any, dict[str, list[tuple[Any, ...]]]]:
    """The full synthesis, with the rows the real executor returned for every verified query."""
    seen: dict[str, list[tuple[Any, ...]]] = {}

    def execute(db: Path, sql: str) -> list[tuple[Any, ...]]:
        rows = run_query(db, sql, timeout_s=10.0)
        seen[sql] = rows
        return rows

    return synthesize_sql(shop, execute=execute), seen


def test_sql_synthesis_reaches_300_verified_pairs_of_every_kind(shop_synth: Any) -> None:
    result, _ = shop_synth
    assert len(result.pairs) >= 300
    assert set(result.kinds) >= {
        "filter",
        "aggregate",
        "join",
        "group_by",
        "having",
        "order_limit",
        "anti_join",
    }
    assert len({p.query for p in result.pairs}) == len(result.pairs)


def test_every_generated_query_executes_and_returns_rows(shop: Any, shop_synth: Any) -> None:
    result, seen = shop_synth
    for pair in result.pairs:
        assert pair.query in seen, pair.query  # verified through the one executor
        rows = seen[pair.query]
        assert rows and any(v is not None for r in rows for v in r), pair
        enforce(pair.query, shop.spec, repair=False)


def test_no_generated_query_equals_a_test_gold(shop: Any, shop_synth: Any) -> None:
    result, seen = shop_synth
    test = shop.split("test")
    gold_rows = [Counter(run_query(shop.database, it.gold)) for it in test]
    gold_text = {" ".join(it.gold.lower().split()) for it in test}
    test_inputs = {normalize_input(it.input) for it in test}
    for pair in result.pairs:
        assert Counter(seen[pair.query]) not in gold_rows, pair
        assert " ".join(pair.query.lower().split()) not in gold_text
        assert normalize_input(pair.question) not in test_inputs
    assert result.counts["test_equivalent"] > 0  # the check did fire on this set


def test_order_by_limit_pairs_have_no_ties(shop: Any, shop_synth: Any) -> None:
    import sqlite3

    result, _ = shop_synth
    conn = sqlite3.connect(shop.database.resolve().as_uri() + "?mode=ro", uri=True)
    for pair in (p for p in result.pairs if p.kind == "order_limit"):
        head, _, k = pair.query.rpartition(" LIMIT ")
        order = head.rpartition(" ORDER BY ")[2].rsplit(" ", 1)[0]
        keyed = head.replace("SELECT ", f"SELECT {order} AS _k, ", 1)
        rows = conn.execute(f"{keyed} LIMIT {int(k) + 1}").fetchall()
        assert len(rows) <= int(k) or rows[int(k) - 1][0] != rows[int(k)][0], pair
    conn.close()


class Paraphraser(Model):
    name = "para"

    def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
        out: list[Generation] = []
        for p in prompts:
            q = p[-1]["content"].rsplit("Question: ", 1)[1]
            # drops the literals of every other question: those must keep the template
            text = "Please tell me: " + q if len(out) % 2 == 0 else "Something else entirely?"
            out.append(Generation(text, 5, 5, 0.0, "stop"))
        return out


def test_teacher_paraphrases_keep_every_literal() -> None:
    from formbound.escalate.teacher import paraphrase

    pairs = [
        SqlPair(
            f"Which products cost more than {k}?", f"SELECT name FROM products WHERE price > {k}", "filter"
        )
        for k in (10, 20, 30)
    ]
    out, n = paraphrase(Paraphraser(), pairs)
    assert n == 2
    assert [p.question for p in out] == [
        "Please tell me: Which products cost more than 10?",
        "Which products cost more than 20?",
        "Please tell me: Which products cost more than 30?",
    ]


def test_build_dataset_with_sql_synthesis(shop: Any, tmp_path: Path) -> None:
    quality = QualityOptions(min_cap=40, cap_ratio=1)
    card = build_dataset(shop, tmp_path / "train.jsonl", synthesize=60, quality=quality)
    synth = card.sources["sql_synth"]
    assert synth["kept"] == 40 and synth["capped"] == 20
    records = load_records(tmp_path / "train.jsonl") + load_records(tmp_path / "dev.jsonl")
    assert Counter(r["source"] for r in records)["sql_synth"] == 40
    assert card.dev is not None and card.dev["records"] == 4


# ------------------------------------------------------------------------------------ JSON / YAML
@pytest.mark.parametrize("name", ["contacts", "events", "products", "service_config"])
def test_schema_synthesis_answers_validate(name: str) -> None:
    ts = load_task_set(name)
    items, counts = synthesize_from_schema(ts, ts.split("train"), 30, seed=1)
    assert len(items) >= 20, counts
    train_inputs = {normalize_input(it.input) for it in ts.tasks}
    for it in items:
        enforce(ts.spec.dump(it.gold), ts.spec, repair=False)
        assert normalize_input(it.input) not in train_inputs
    again, _ = synthesize_from_schema(ts, ts.split("train"), 30, seed=1)
    assert [(i.input, i.gold) for i in again] == [(i.input, i.gold) for i in items]


def test_sampled_values_satisfy_enums_patterns_and_bounds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "env": {"enum": ["dev", "prod"]},
            "port": {"type": "integer", "minimum": 1024, "maximum": 2048},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    }
    for path, check in [
        (("env",), lambda v: v in ("dev", "prod")),
        (("port",), lambda v: 1024 <= v <= 2048),
        (("code",), lambda v: len(v) == 3),
    ]:
        node = leaf_schema(schema, path)
        assert node is not None
        values = sample_values(node, 20, seed=3)
        assert values and all(check(v) for v in values)


class Writer(Model):
    name = "writer"

    def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
        out: list[Generation] = []
        for p in prompts:
            value = json.loads(p[-1]["content"].rsplit("\n\n", 1)[1])
            text = "Person " + value["name"] + f" aged {value['age']}"
            out.append(Generation(text, 5, 5, 0.0, "stop"))
        return out


def test_teacher_writes_inputs_for_sampled_values(tmp_path: Path) -> None:
    from tests._measure_fakes import write_task_set

    ts = load_task_set(str(write_task_set(tmp_path / "p")))
    items, counts = synthesize_from_schema(ts, ts.split("train"), 10, seed=0, teacher=Writer())
    assert items, counts
    for it in items:
        assert it.input == f"Person {it.gold['name']} aged {it.gold['age']}"
        enforce(json.dumps(it.gold), ts.spec, repair=False)

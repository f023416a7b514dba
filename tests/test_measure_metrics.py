"""Metrics math: Wilson intervals, percentiles, field scores, causes of wrong values, taxonomy, summaries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formbound.measure.metrics import (
    Rate,
    StrategyMetrics,
    classify_wrong,
    error_taxonomy,
    field_name,
    field_scores,
    leaves,
    percentile,
    same_value,
    summarise,
    wilson,
)
from formbound.measure.records import Record


def _wilson_reference(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    # Textbook form: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    p = k / n
    a = p + z * z / (2 * n)
    b = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    c = 1 + z * z / n
    return (a - b) / c, (a + b) / c


@pytest.mark.parametrize(("k", "n"), [(0, 10), (18, 20), (5, 5), (7, 30), (1, 1)])
def test_wilson_matches_textbook_formula(k: int, n: int) -> None:
    lo, hi = wilson(k, n)
    ref_lo, ref_hi = _wilson_reference(k, n)
    assert lo == pytest.approx(max(0.0, ref_lo), abs=1e-4)
    assert hi == pytest.approx(min(1.0, ref_hi), abs=1e-4)


def test_wilson_known_value_zero_of_ten() -> None:
    # The classic "rule of three"-like case: 0/10 has an upper bound of about 0.278.
    assert wilson(0, 10)[1] == pytest.approx(0.2775, abs=5e-4)
    assert wilson(0, 10)[0] == 0.0


@given(st.integers(min_value=1, max_value=500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_is_symmetric(kn: tuple[int, int]) -> None:
    k, n = kn
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo2, hi2 = wilson(n - k, n)
    assert lo == pytest.approx(1 - hi2, abs=1e-9)
    assert hi == pytest.approx(1 - lo2, abs=1e-9)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        wilson(3, 2)


def test_rate_string_and_roundtrip() -> None:
    r = Rate(9, 10)
    assert str(r).startswith("90% [")
    assert Rate.from_dict(r.to_dict()) == r
    assert r.to_dict()["low"] == pytest.approx(wilson(9, 10)[0])
    assert str(Rate(0, 0)) == "–"
    assert Rate(0, 0).value is None


def test_percentile_interpolates() -> None:
    xs = [4.0, 1.0, 3.0, 2.0]
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 4.0
    assert percentile(xs, 50) == pytest.approx(2.5)
    assert percentile(xs, 95) == pytest.approx(3 + 0.85)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(xs, 101)


def test_leaves_and_field_names() -> None:
    value = {"a": {"b": 1}, "c": [{"d": "x"}, {"d": "y"}], "e/f": None, "g": {}}
    assert leaves(value) == {"/a/b": 1, "/c/0/d": "x", "/c/1/d": "y", "/e~1f": None, "/g": {}}
    assert leaves(5) == {"": 5}
    assert field_name("/c/1/d") == "/c/*/d"


@pytest.mark.parametrize(
    ("pred", "gold", "same"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (1, True, False),
        (False, False, True),
        (" Ada ", "Ada", True),
        ("ada", "Ada", False),
        (None, None, True),
        ("1", 1, False),
        ([], [], True),
    ],
)
def test_same_value(pred: object, gold: object, same: bool) -> None:
    assert same_value(pred, gold) is same


def test_field_scores_missing_extra_and_nested() -> None:
    gold = {"name": "Ada", "phone": None, "tags": ["a", "b"], "company": {"name": "X", "role": "CEO"}}
    pred = {"name": "Ada", "tags": ["a", "c", "d"], "company": {"name": "X", "role": "cto"}, "extra": "zz"}
    scores = field_scores(pred, gold)
    assert scores == {
        "/name": True,
        "/phone": True,  # omitted optional field matches a gold null
        "/tags/0": True,
        "/tags/1": False,
        "/company/name": True,
        "/company/role": False,
        "/tags/2": False,  # extra array item
        "/extra": False,  # invented key
    }


def test_field_scores_type_mismatch_is_wrong() -> None:
    assert field_scores({"a": {"x": 1}}, {"a": None}) == {"/a": False}
    assert field_scores({"a": None}, {"a": {"x": 1}}) == {"/a/x": False}
    assert field_scores({"a": 1, "b": None}, {"a": 1}) == {"/a": True}


@pytest.mark.parametrize(
    ("gold", "text", "cause"),
    [
        ("Ada Lovelace", "Contact: ADA   Lovelace.", "behaviour"),
        ("ada@example.com", "mail ada@example.com today", "behaviour"),
        (1200, "budget of 1,200 euros", "behaviour"),
        (12.0, "costs 12 dollars", "behaviour"),
        ("+44 20 7946 0000", "Ada, London", "missing_information"),
        (42, "no numbers here", "missing_information"),
        (52, "Dee is 52.", "behaviour"),
        ("a.b@x.org", "Mail a.b@x.org.", "behaviour"),
        (None, "anything", "behaviour"),
        (True, "anything", "behaviour"),
        ("Zürich", "based in ZÜRICH", "behaviour"),
    ],
)
def test_classify_wrong(gold: object, text: str, cause: str) -> None:
    assert classify_wrong(gold, text) == cause


def _rec(strategy: str = "raw", task: str = "t1", **kw: object) -> Record:
    base: dict[str, object] = {
        "strategy": strategy,
        "task_id": task,
        "key": f"{strategy}-{task}",
        "texts": ["x"],
        "finish_reasons": ["stop"],
        "prompt_tokens": 10,
        "generated_tokens": 5,
        "seconds": 1.0,
    }
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


def test_error_taxonomy_counts_and_examples() -> None:
    records = [
        _rec(task="a", error={"stage": "syntax", "kind": "json_syntax", "message": "m1"}, texts=["{"]),
        _rec(task="b", error={"stage": "syntax", "kind": "json_syntax", "message": "m2"}),
        _rec(task="c", error={"stage": "schema", "kind": "required", "message": "m3"}),
        _rec(task="d", schema_valid=True, syntax_valid=True),
    ]
    rows = error_taxonomy(records)
    assert [(r.stage, r.kind, r.count) for r in rows] == [
        ("syntax", "json_syntax", 2),
        ("schema", "required", 1),
    ]
    assert rows[0].example_task == "a"
    assert rows[0].example_message == "m1"
    assert rows[0].example_text == "{"


def test_summarise_hand_made_records() -> None:
    records = [
        _rec(
            task="a",
            syntax_valid=True,
            schema_valid=True,
            correct=True,
            fields={"/x": True, "/y": True},
            seconds=1.0,
            generated_tokens=10,
        ),
        _rec(
            task="b",
            syntax_valid=True,
            schema_valid=True,
            correct=False,
            fields={"/x": True, "/y": False},
            wrong=[{"path": "/y", "gold": "q", "pred": "r", "cause": "behaviour"}],
            seconds=2.0,
            generated_tokens=10,
        ),
        _rec(
            task="c",
            syntax_valid=True,
            error={"stage": "schema", "kind": "type", "message": "bad"},
            correct=False,
            fields={"/x": False, "/y": False},
            seconds=3.0,
            generated_tokens=20,
            reasks=2,
        ),
        _rec(
            task="d",
            error={"stage": "syntax", "kind": "json_syntax", "message": "cut"},
            finish_reasons=["length"],
            correct=False,
            fields={"/x": False, "/y": False},
            seconds=4.0,
            generated_tokens=40,
        ),
    ]
    m = summarise("reask", records, raw_mean_seconds=1.25)
    assert (m.n, m.syntax_valid.k, m.schema_valid.k, m.correct.k, m.truncated.k) == (4, 3, 2, 1, 1)
    assert m.field_accuracy == pytest.approx(3 / 8)
    assert m.per_field["/y"] == Rate(1, 4)
    assert m.reasks == 2
    assert m.latency_p50 == pytest.approx(2.5)
    assert m.latency_p95 == pytest.approx(percentile([1.0, 2.0, 3.0, 4.0], 95))
    assert m.tokens_per_second == pytest.approx(80 / 10)
    assert m.mean_seconds == pytest.approx(2.5)
    assert m.overhead_vs_raw == pytest.approx(2.5 / 1.25)
    assert m.wrong_causes == {"missing_information": 0, "behaviour": 1}
    assert m.wrong_examples["behaviour"]["task"] == "b"
    assert [e.kind for e in m.errors] == ["json_syntax", "type"] or [e.kind for e in m.errors] == [
        "type",
        "json_syntax",
    ]
    again = StrategyMetrics.from_dict(m.to_dict())
    assert again.to_dict() == m.to_dict()


def test_summarise_sql_has_no_field_accuracy_and_no_raw_overhead() -> None:
    m = summarise("raw", [_rec(schema_valid=True, syntax_valid=True, correct=True)])
    assert m.field_accuracy is None
    assert m.overhead_vs_raw is None
    assert m.correct == Rate(1, 1)

"""Budget-aware constrained decoding on the tiny random model: any budget at or above the schema's
minimal cost gives output that parses and validates, closed by the model or forced near the limit."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.constraints import Constraint
from formbound.constraints.bounds import budget_bucket, budget_schema, minimal_instance

pytest.importorskip("llguidance")

RUNAWAY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
        "email": {"type": "string", "minLength": 3},
    },
    "required": ["items", "email"],
    "additionalProperties": False,
}
SCHEMAS: dict[str, Any] = {
    "runaway": RUNAWAY,
    "nested": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {"first": {"type": "string"}, "tags": {"type": "array", "minItems": 2}},
                "required": ["first", "tags"],
            },
            "note": {"type": ["string", "null"]},
        },
        "required": ["person", "note"],
    },
    "top_array": {"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 1},
    "enum_and_bool": {
        "type": "object",
        "properties": {"level": {"enum": ["low", "medium", "high"]}, "ok": {"type": "boolean"}},
        "required": ["level", "ok"],
    },
}


def _minimal_cost(model: Any, constraint: Constraint) -> int:
    compiled = model.compiler.compile(constraint, 10_000)
    assert compiled.closer is not None
    plan = compiled.closer.plan(compiled.artefact)
    assert plan is not None
    return len(plan)


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(SCHEMAS)),
    extra=st.integers(0, 24),
    seed=st.integers(0, 10_000),
    repeat=st.booleans(),
)
def test_any_budget_at_or_above_the_minimal_cost_validates(
    shared_tiny_model: Any, name: str, extra: int, seed: int, repeat: bool
) -> None:
    """With and without the repetition guard (it narrows the mask before the budget guard does)."""
    schema = SCHEMAS[name]
    c = Constraint("json_schema", schema, repetition_guard=repeat)
    budget = _minimal_cost(shared_tiny_model, c) + extra
    gens = shared_tiny_model.generate(
        ["Give JSON", "x"], constraint=c, max_new_tokens=budget, temperature=1.5, seed=seed
    )
    for g in gens:
        assert g.finish_reason == "stop", (budget, g.text)
        assert g.generated_tokens <= budget
        jsonschema.validate(json.loads(g.text), schema)
        assert isinstance(g.extra["forced_close"], bool)


def test_runaway_is_forced_closed_and_visible(shared_tiny_model: Any) -> None:
    c = Constraint("json_schema", RUNAWAY)
    gens = []
    for seed in range(4):
        gens += shared_tiny_model.generate(
            ["x", "y"], constraint=c, max_new_tokens=40, temperature=1.5, seed=seed
        )
    assert all(g.finish_reason == "stop" for g in gens)
    assert any(g.extra["forced_close"] for g in gens)  # the random model never closes by itself in time
    for g in gens:
        jsonschema.validate(json.loads(g.text), RUNAWAY)


def test_without_a_budget_guard_the_same_runs_out(shared_tiny_model: Any) -> None:
    """The guard is what makes the difference: the same generations through a guard-less processor."""
    c = Constraint("json_schema", RUNAWAY)
    compiled = shared_tiny_model.compiler.compile(c, 40)
    closer, compiled.closer = compiled.closer, None
    try:
        gens = []
        for seed in range(4):
            gens += shared_tiny_model.generate(
                ["x", "y"], constraint=c, max_new_tokens=40, temperature=1.5, seed=seed
            )
    finally:
        compiled.closer = closer
    assert any(g.finish_reason == "length" for g in gens)
    assert not any(g.extra["forced_close"] for g in gens)


def test_budget_bounds_never_go_below_what_the_schema_requires() -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 30}
    bounded, base = budget_schema(schema, 16, lambda text: len(text))
    assert bounded["maxItems"] == 30 and base == len(json.dumps(minimal_instance(schema)))
    kept, _ = budget_schema({"type": "array", "maxItems": 2}, 1024, len)
    assert kept["maxItems"] == 2  # a smaller bound of the spec stays
    loose, _ = budget_schema({"type": "array", "items": {"type": "integer"}}, 64, len)
    assert 1 <= loose["maxItems"] <= 64


def test_budget_buckets() -> None:
    assert [budget_bucket(n) for n in (1, 16, 17, 96, 4095, 4096, None)] == [
        16,
        16,
        32,
        128,
        4096,
        None,
        None,
    ]


def test_constraint_dialects() -> None:
    assert Constraint("lark", "start: x").dialect == "lark-llguidance"
    assert Constraint("json_schema", {}).dialect == "json_schema"
    assert Constraint("lark", "start: x", dialect="lark").key != Constraint("lark", "start: x").key
    with pytest.raises(ValueError, match="does not hold a regex"):
        Constraint("regex", "a", dialect="lark")


def test_llguidance_lark_is_refused_visibly_by_other_backends(tiny_model: Any) -> None:
    pytest.importorskip("outlines_core")
    from formbound.errors import GenerationError

    tiny_model.compiler.backends = ("outlines_core",)
    with pytest.raises(GenerationError, match="does not take the lark-llguidance dialect"):
        tiny_model.compiler.compile(Constraint("lark", 'start: "a"'))

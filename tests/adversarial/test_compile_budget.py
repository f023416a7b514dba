"""Every grammar compile is bounded in time, and no schema crashes the fallback chain."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.constraints import Constraint
from formbound.errors import GenerationError
from formbound.models import backends
from formbound.models.backends import CompileTimeout, run_with_budget

pytest.importorskip("llguidance")


def test_a_compile_past_its_budget_is_abandoned() -> None:
    start = time.perf_counter()
    with pytest.raises(CompileTimeout, match=r"compile budget of 0\.2 s"):
        run_with_budget(lambda: time.sleep(3), 0.2, "slow")
    assert time.perf_counter() - start < 2


def test_a_slow_backend_gives_way_to_the_next_route(tiny_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = backends.compile_with

    def slow_outlines_core(tokenizers: Any, backend: str, *args: Any, **kwargs: Any) -> Any:
        if backend == "outlines_core":
            budget = args[3] if len(args) > 3 else kwargs.get("budget_s")
            return run_with_budget(lambda: time.sleep(5), budget, backend)
        return real(tokenizers, backend, *args, **kwargs)

    monkeypatch.setattr("formbound.models.constrained.compile_with", slow_outlines_core)
    tiny_model.compiler.backends = ("outlines_core", "llguidance")
    tiny_model.compiler.compile_budget_s = 0.3
    start = time.perf_counter()
    compiled = tiny_model.compiler.compile(Constraint("regex", "[a-z]{3}"))
    assert time.perf_counter() - start < 2.5
    assert compiled.route == "llguidance"
    assert compiled.failures[0][0] == "outlines_core" and "compile budget" in compiled.failures[0][1]


_LEAF = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "integer", "number", "boolean", "null", "object", "array", 5]),
        "pattern": st.sampled_from(["^a", "(?=x)y", "[", "\\d{2,}"]),
        "format": st.sampled_from(["email", "date", "uri", "nope"]),
        "minLength": st.integers(-1, 5),
        "maxItems": st.integers(-1, 3),
        "enum": st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
        "not": st.just({"type": "string"}),
        "dependencies": st.just({"a": ["b"]}),
        "uniqueItems": st.booleans(),
    },
)
_SCHEMA = st.recursive(
    _LEAF,
    lambda inner: st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.dictionaries(st.sampled_from("abc"), inner, max_size=3)},
        optional={
            "required": st.lists(st.sampled_from("abcd"), max_size=3),
            "anyOf": st.lists(inner, max_size=2),
        },
    ),
    max_leaves=6,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(schema=_SCHEMA)
def test_no_schema_crashes_the_chain(shared_tiny_model: Any, schema: dict[str, Any]) -> None:
    start = time.perf_counter()
    try:
        compiled = shared_tiny_model.compiler.compile(Constraint("json_schema", schema), 64)
    except GenerationError:
        return  # refused with every route named: allowed
    assert compiled.route
    assert time.perf_counter() - start < 10  # each route is bounded by the 2 s compile budget

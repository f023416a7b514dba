"""Constrained decoding on the tiny random model: whatever the weights do, output is valid or "length"."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jsonschema
import pytest

from formbound.constraints import Constraint
from formbound.constraints.relax import SILENTLY_IGNORED, relax_schema
from formbound.errors import ConfigError, GenerationError

pytest.importorskip("outlines_core")
pytest.importorskip("llguidance")

PROMPTS = ["Extract the fields as JSON.", "name: Ada", "SELECT", "The quick brown fox"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "flat": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 6},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "active": {"type": "boolean"},
        },
        "required": ["name", "age", "active"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "first": {"type": "string", "maxLength": 4},
                    "id": {"type": "integer", "maximum": 9},
                },
                "required": ["first", "id"],
                "additionalProperties": False,
            },
            "note": {"type": ["string", "null"], "maxLength": 4},
        },
        "required": ["person"],
        "additionalProperties": False,
    },
    "arrays_enums": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"enum": ["math", "poetry", "x"]}, "maxItems": 3},
            "level": {"enum": ["low", "high", 3, None]},
        },
        "required": ["tags", "level"],
        "additionalProperties": False,
    },
    "top_level_array": {
        "type": "array",
        "items": {"type": "number", "minimum": -5, "maximum": 5},
        "maxItems": 4,
    },
}

REGEX = r"(SELECT|select) [a-z]{1,6}(, [a-z]{1,6}){0,2} FROM [a-z]{1,8};"
LARK = r"""
start: "SELECT " cols " FROM " TABLE
cols: COL | COL ", " cols
COL: /[a-z]{1,5}/
TABLE: "customers" | "orders"
"""
LARK_CHECK = re.compile(r"SELECT [a-z]{1,5}(, [a-z]{1,5})* FROM (customers|orders)")


def _sample(model: Any, constraint: Constraint, *, seeds: range, tokens: int = 64) -> list[Any]:
    out = []
    for seed in seeds:
        out += model.generate(
            PROMPTS, constraint=constraint, max_new_tokens=tokens, temperature=1.5, seed=seed
        )
    return out


def _valid_or_length(generations: list[Any], check: Any) -> int:
    """Assert every generation is valid or cut by the limit; return how many were complete."""
    complete = 0
    for g in generations:
        assert g.finish_reason in ("stop", "length")
        assert 0 < g.generated_tokens
        if g.finish_reason == "stop":
            check(g.text)
            complete += 1
    return complete


@pytest.mark.parametrize("backend", ["llguidance", "outlines_core"])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_output_always_validates(shared_tiny_model: Any, backend: str, name: str) -> None:
    schema = SCHEMAS[name]
    shared_tiny_model.compiler.backends = (backend,)
    try:
        gens = _sample(shared_tiny_model, Constraint("json_schema", schema), seeds=range(3))
    finally:
        shared_tiny_model.compiler.backends = ("llguidance", "outlines_core", "xgrammar")
    assert {g.route for g in gens} == {backend}
    # What the backend says it does not enforce is left to post-validation; the rest must hold.
    ignored = SILENTLY_IGNORED.get(backend, ())
    enforced, unenforced = relax_schema(schema, ignored)
    assert {tuple(g.extra.get("unenforced", ())) for g in gens} == {unenforced}

    def check(text: str) -> None:
        jsonschema.validate(json.loads(text), enforced)
        assert "  " not in text and "\n" not in text  # whitespace is bounded to one space

    complete = _valid_or_length(gens, check)
    assert complete >= 1, [g.text for g in gens]  # the property was exercised on finished outputs


def test_regex_output_always_matches(shared_tiny_model: Any) -> None:
    gens = _sample(shared_tiny_model, Constraint("regex", REGEX), seeds=range(3), tokens=48)
    complete = _valid_or_length(gens, lambda text: re.fullmatch(REGEX, text) or pytest.fail(text))
    assert complete >= 1


def test_lark_output_always_parses(shared_tiny_model: Any) -> None:
    gens = _sample(shared_tiny_model, Constraint("lark", LARK), seeds=range(3), tokens=48)
    assert {g.route for g in gens} == {"llguidance"}
    complete = _valid_or_length(gens, lambda text: LARK_CHECK.fullmatch(text) or pytest.fail(text))
    assert complete >= 1


def test_random_walk_of_the_same_grammar_also_validates() -> None:
    """Cross-check with llguidance's own sampler from tests/_tiny.py (no model involved)."""
    import llguidance

    from _tiny import random_walk

    schema = SCHEMAS["nested"]
    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides={"whitespace_pattern": r"[ ]?"})
    finished = [text for text, done in random_walk(grammar, n=20, seed=1) if done]
    assert finished
    for text in finished:
        jsonschema.validate(json.loads(text), schema)


def test_length_is_reported_when_the_budget_runs_out(shared_tiny_model: Any) -> None:
    c = Constraint(
        "json_schema", {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    )
    (g,) = shared_tiny_model.generate(["x"], constraint=c, max_new_tokens=3)
    assert g.finish_reason == "length"
    assert g.generated_tokens == 3


def test_grammar_complete_at_the_limit_counts_as_stop(shared_tiny_model: Any) -> None:
    (g,) = shared_tiny_model.generate(["x"], constraint=Constraint("regex", "x"), max_new_tokens=1)
    assert (g.text, g.finish_reason, g.generated_tokens) == ("x", "stop", 1)
    (g,) = shared_tiny_model.generate(["x"], constraint=Constraint("regex", "x"), max_new_tokens=5)
    assert (g.text, g.finish_reason, g.generated_tokens) == ("x", "stop", 2)  # "x" and end-of-sequence


@pytest.mark.parametrize("constrained", [False, True])
def test_batch_gives_the_same_result_as_one_by_one(shared_tiny_model: Any, constrained: bool) -> None:
    prompts: list[Any] = ["hello there, how are you", "x", [{"role": "user", "content": "Give JSON"}]]
    c = Constraint("json_schema", SCHEMAS["flat"]) if constrained else None
    batch = shared_tiny_model.generate(prompts, constraint=c, max_new_tokens=24)
    single = [shared_tiny_model.generate([p], constraint=c, max_new_tokens=24)[0] for p in prompts]
    assert [(g.text, g.finish_reason, g.generated_tokens, g.prompt_tokens) for g in batch] == [
        (g.text, g.finish_reason, g.generated_tokens, g.prompt_tokens) for g in single
    ]
    assert len({g.prompt_tokens for g in batch}) == 3  # per-item counts, not the padded width


def test_compiled_grammar_is_cached_and_reused(tiny_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    compiler = tiny_model.compiler
    calls: list[str] = []
    original = compiler._compile_one

    def counting(backend: str, kind: str, value: Any) -> Any:
        calls.append(backend)
        return original(backend, kind, value)

    monkeypatch.setattr(compiler, "_compile_one", counting)
    c = Constraint("json_schema", SCHEMAS["arrays_enums"])
    first = tiny_model.generate(["a"], constraint=c, max_new_tokens=8)
    assert (compiler.compiles, calls) == (1, ["llguidance"])
    start = time.perf_counter()
    again = compiler.compile(
        Constraint("json_schema", SCHEMAS["arrays_enums"]), 8
    )  # equal constraint, new object, same budget bucket
    hit_seconds = time.perf_counter() - start
    second = tiny_model.generate(["a"], constraint=c, max_new_tokens=8)
    assert (compiler.compiles, calls, compiler.cached) == (1, ["llguidance"], 1)
    assert again.seconds == first[0].extra["compile_seconds"] == second[0].extra["compile_seconds"]
    assert hit_seconds < again.seconds  # a cache hit is cheaper than the compile it saves
    assert first[0].text == second[0].text  # state was reset between calls
    compiler.compile(c, 12)  # 12 and 8 share the smallest budget bucket
    assert compiler.compiles == 1
    compiler.compile(c, 100)  # another bucket: compiled once more, then cached
    compiler.compile(c, 90)
    assert (compiler.compiles, compiler.cached) == (2, 2)


def test_seeded_sampling_is_reproducible_and_leaves_global_rng_alone(shared_tiny_model: Any) -> None:
    import torch

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = shared_tiny_model.generate(PROMPTS, max_new_tokens=12, temperature=1.0, seed=7)
    b = shared_tiny_model.generate(PROMPTS, max_new_tokens=12, temperature=1.0, seed=7)
    assert torch.rand(1) == expected_next
    c = shared_tiny_model.generate(PROMPTS, max_new_tokens=12, temperature=1.0, seed=8)
    assert [g.text for g in a] == [g.text for g in b]
    assert [g.text for g in a] != [g.text for g in c]


def test_greedy_is_deterministic_without_seed(shared_tiny_model: Any) -> None:
    a = shared_tiny_model.generate(PROMPTS[:2], max_new_tokens=10)
    b = shared_tiny_model.generate(PROMPTS[:2], max_new_tokens=10)
    assert [g.text for g in a] == [g.text for g in b]
    assert all(g.route is None and g.seconds > 0 for g in a)


def test_unsupported_schema_falls_back_to_a_relaxed_route(tiny_model: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]{1,4}$"}},
        "required": ["code"],
        "additionalProperties": False,
    }
    gens = tiny_model.generate(["a", "b"], constraint=Constraint("json_schema", schema), max_new_tokens=24)
    assert {g.route for g in gens} == {"relaxed:llguidance"}
    assert gens[0].extra["dropped"] == ["pattern"]
    compiled = tiny_model.compiler.compile(Constraint("json_schema", schema))
    # every llguidance relaxation (lenient, then keywords dropped) comes before the slower strict backends
    routes = [route for route, _ in compiled.failures]
    assert routes == ["llguidance", "relaxed:llguidance"]
    for g in gens:
        if g.finish_reason == "stop":  # the relaxed grammar still keeps the structure
            assert set(json.loads(g.text)) == {"code"}


def test_lenient_route_names_the_keywords_it_ignores(tiny_model: Any) -> None:
    tiny_model.compiler.backends = ("llguidance",)
    schema = {"type": "object", "properties": {"a": {"not": {"type": "string"}}}}
    compiled = tiny_model.compiler.compile(Constraint("json_schema", schema))
    assert (compiled.route, compiled.dropped) == ("relaxed:llguidance", ("not",))


def test_next_backend_is_used_when_the_first_is_missing(tiny_model: Any) -> None:
    pytest.importorskip("outlines_core")
    try:
        import xgrammar  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("xgrammar is installed here")
    tiny_model.compiler.backends = ("xgrammar", "llguidance")
    compiled = tiny_model.compiler.compile(Constraint("regex", "[a-z]{3}"))
    assert compiled.route == "llguidance"
    assert compiled.failures[0][0] == "xgrammar" and "not installed" in compiled.failures[0][1]


def test_prerelaxed_constraint_is_reported_as_relaxed(tiny_model: Any) -> None:
    c = Constraint("json_schema", {"type": "object"}, relaxed=True)
    (g,) = tiny_model.generate(["a"], constraint=c, max_new_tokens=4)
    assert g.route == "relaxed:llguidance"


@pytest.mark.parametrize(
    "constraint",
    [Constraint("regex", "(?=a)b"), Constraint("lark", "start: undefined_rule")],
    ids=["regex", "lark"],
)
def test_uncompilable_regex_or_grammar_raises_with_every_route(
    tiny_model: Any, constraint: Constraint
) -> None:
    with pytest.raises(GenerationError, match=r"cannot compile the .* constraint .*llguidance"):
        tiny_model.generate(["a"], constraint=constraint, max_new_tokens=4)


def test_backend_typo_is_a_config_error(tiny_tokenizer: Any) -> None:
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel

    with pytest.raises(ConfigError, match="did you mean 'llguidance'"):
        TransformersModel(tiny_model(), tiny_tokenizer, backend="llguidence")


def test_relax_schema_keeps_property_names() -> None:
    schema = {
        "type": "object",
        "properties": {"format": {"type": "string", "format": "date"}, "xs": {"items": {"pattern": "a"}}},
        "anyOf": [{"not": {"required": ["format"]}}, {"required": ["xs"]}],
    }
    relaxed, dropped = relax_schema(schema, ["format", "pattern", "not"])
    assert dropped == ("format", "not", "pattern")
    assert relaxed == {
        "type": "object",
        "properties": {"format": {"type": "string"}, "xs": {"items": {}}},
        "anyOf": [{}, {"required": ["xs"]}],
    }
    assert schema["properties"]["format"]["format"] == "date"  # the input is not modified


def test_apply_bitmask_masks_exactly_the_zero_bits() -> None:
    import torch

    from formbound.models.masking import apply_bitmask

    scores = torch.zeros((2, 40))
    bitmask = torch.zeros((2, 1), dtype=torch.int32)
    bitmask[0, 0] = 0b101  # tokens 0 and 2; tokens >= 32 are outside the mask
    out = apply_bitmask(scores, bitmask, skip=[1])
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [0, 2]
    assert torch.isfinite(out[1]).all()  # skipped row untouched


def test_lenient_llguidance_comes_before_other_strict_backends(tiny_model: Any) -> None:
    # uniqueItems is refused by strict llguidance; lenient llguidance compiles it in milliseconds, while
    # outlines_core would take seconds and ignore the keyword anyway
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 3}
    compiled = tiny_model.compiler.compile(Constraint("json_schema", schema))
    assert compiled.route == "relaxed:llguidance"
    assert [route for route, _ in compiled.failures] == ["llguidance"]

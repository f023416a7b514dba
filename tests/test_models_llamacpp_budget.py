"""The budget guard on the llama.cpp route: the llama-cpp-python logits processor over a fake vocabulary
(the tiny tokenizer's, no GGUF needed), then the embedded GGUF under a budget where it runs away."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.constraints import Constraint

pytest.importorskip("llguidance")
np = pytest.importorskip("numpy")

from test_models_budget import RUNAWAY, SCHEMAS  # noqa: E402  (the same schemas as the transformers route)


class _FakeLlama:
    """What :class:`LlamaCppGrammars` reads from a ``llama_cpp.Llama``: tokenize (for the budget bounds)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def tokenize(self, data: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(self.tokenizer(data.decode(), add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="module")
def grammars(tiny_tokenizer: Any) -> Any:
    import llguidance.hf

    from formbound.models.llamacpp_constrained import LlamaCppGrammars

    eos = [tiny_tokenizer.eos_token_id]
    g = LlamaCppGrammars(_FakeLlama(tiny_tokenizer), eos)
    g._tokenizer = llguidance.hf.from_tokenizer(tiny_tokenizer)
    return g


def _drive(
    grammars: Any, constraint: Constraint, budget: int | None, limit: int, seed: int, repeat: bool = False
) -> Any:
    """Generate as ``LlamaCppModel._one`` does, with random logits instead of a model.

    Returns ``(text, stopped, forced_close, tokens)``.
    """
    compiled = grammars.compile(constraint, budget)
    vocab = grammars.tokenizer.vocab_size
    eos = grammars.eos_tokens
    prompt = [5, 6, 7]
    mask = compiled.mask(len(prompt), vocab, eos, budget, greedy=True, repetition_guard=repeat)
    rng = np.random.default_rng(seed)
    ids: list[int] = []
    while len(ids) < limit:
        logits = rng.normal(size=vocab).astype(np.float32)
        for token in eos:
            logits[token] = -5.0  # a model that does not want to stop
        out = mask(np.array(prompt + ids, dtype=np.intc), logits)
        mask.raise_error()
        ids.append(int(np.argmax(out)))
        if ids[-1] in eos:
            break
    stopped = bool(ids) and ids[-1] in eos
    if not stopped:
        mask.feed(ids[mask.consumed :])
        stopped = mask.complete()
    text = grammars.tokenizer.decode_bytes([t for t in ids if t not in eos]).decode("utf-8", "replace")
    return text, stopped, mask.forced_close, len(ids)


def test_the_llamacpp_mask_forces_a_valid_close_near_the_budget(grammars: Any) -> None:
    c = Constraint("json_schema", RUNAWAY)
    forced = 0
    for seed in range(4):
        text, stopped, was_forced, n = _drive(grammars, c, 40, 40, seed)
        assert stopped and n <= 40, (seed, text)
        jsonschema.validate(json.loads(text), RUNAWAY)
        forced += was_forced
    assert forced >= 1  # random logits never close by themselves in time


def test_without_the_budget_the_same_llamacpp_generations_run_out(grammars: Any) -> None:
    c = Constraint("json_schema", RUNAWAY)
    runs = [_drive(grammars, c, None, 40, seed) for seed in range(4)]
    assert any(not stopped for _, stopped, _, _ in runs)
    assert not any(forced for _, _, forced, _ in runs)


def test_budget_bounds_are_cached_per_bucket(grammars: Any) -> None:
    c = Constraint("json_schema", RUNAWAY)
    small, again, large = grammars.compile(c, 40), grammars.compile(c, 60), grammars.compile(c, 100)
    assert small is again and small.bucket == 64 and large.bucket == 128 and small is not large
    assert small.closer is not None and small.min_cost > 1
    unbounded = grammars.compile(c)
    assert unbounded.bucket is None and unbounded.mask(3, 400, grammars.eos_tokens).guard is None


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(SCHEMAS)),
    extra=st.integers(0, 24),
    seed=st.integers(0, 10_000),
    repeat=st.booleans(),
)
def test_any_budget_at_or_above_the_minimal_cost_validates_on_llamacpp(
    grammars: Any, name: str, extra: int, seed: int, repeat: bool
) -> None:
    schema = SCHEMAS[name]
    c = Constraint("json_schema", schema)
    unbounded = grammars.compile(c, 10_000)
    assert unbounded.closer is not None
    plan = unbounded.closer.plan(unbounded.matcher)
    assert plan is not None
    budget = len(plan) + extra
    text, stopped, _, n = _drive(grammars, c, budget, budget, seed, repeat)
    assert stopped and n <= budget, (budget, text)
    jsonschema.validate(json.loads(text), schema)


# ------------------------------------------------------------------------------------ real model
# llama_model: the embedded GGUF on llama.cpp (tests/conftest.py)

ORDER = RUNAWAY["properties"]["items"]


@pytest.mark.real_model
def test_the_default_gguf_is_forced_closed_instead_of_running_away(llama_model: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"customer": {"type": "string"}, "items": ORDER},
        "required": ["customer", "items"],
        "additionalProperties": False,
    }
    msgs = [
        {"role": "system", "content": "Answer with JSON only. Schema: " + json.dumps(schema)},
        {"role": "user", "content": "Customer Cy wants 4 HAT-7 and 1 HAT-8 and 2 HAT-9."},
    ]
    (g,) = llama_model.generate([msgs], constraint=Constraint("json_schema", schema), max_new_tokens=24)
    assert g.finish_reason == "stop" and g.extra["forced_close"] is True, g.text
    assert g.generated_tokens <= 24
    jsonschema.validate(json.loads(g.text), schema)

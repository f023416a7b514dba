"""Prefix reuse on the transformers path: the same greedy text as re-reading every prompt."""

from __future__ import annotations

from typing import Any

import pytest

from formbound.constraints import Constraint

SYSTEM = "The quick brown fox jumps over the lazy dog. Extract the fields as JSON. " * 3
QUESTIONS = ["name: Ada", "age: 36", "items:\n  - a\n  - b", "SELECT name FROM customers;"]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def _model(tiny_tokenizer: Any, *, reuse: bool) -> Any:
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel

    return TransformersModel(
        tiny_model(seed=3), tiny_tokenizer, name="tiny", device="cpu", prefix_reuse=reuse
    )


def _conversation(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


@pytest.mark.parametrize("constraint", [None, Constraint("json_schema", SCHEMA)], ids=["plain", "json"])
def test_prefix_reuse_gives_the_same_greedy_text(tiny_tokenizer: Any, constraint: Any) -> None:
    plain = _model(tiny_tokenizer, reuse=False)
    reusing = _model(tiny_tokenizer, reuse=True)
    for question in QUESTIONS:
        (want,) = plain.generate([_conversation(question)], constraint=constraint, max_new_tokens=12)
        (got,) = reusing.generate([_conversation(question)], constraint=constraint, max_new_tokens=12)
        assert (got.text, got.finish_reason, got.generated_tokens, got.prompt_tokens) == (
            want.text,
            want.finish_reason,
            want.generated_tokens,
            want.prompt_tokens,
        )
    assert "prefix_tokens" not in want.extra
    assert got.extra["prefix_tokens"] >= 40  # the shared system prompt was not re-read
    assert reusing.prefix is not None and reusing.prefix.reused_tokens >= 3 * 40


def test_a_reask_reuses_the_previous_answer(tiny_tokenizer: Any) -> None:
    """A conversation that extends the last prompt and its answer reuses both."""
    plain = _model(tiny_tokenizer, reuse=False)
    reusing = _model(tiny_tokenizer, reuse=True)
    first = _conversation("name: Ada")
    (answer,) = reusing.generate([first], max_new_tokens=10)
    follow = [*first, {"role": "assistant", "content": answer.text}, {"role": "user", "content": "again"}]
    (want,) = plain.generate([follow], max_new_tokens=10)
    (got,) = reusing.generate([follow], max_new_tokens=10)
    assert got.text == want.text
    assert got.extra["prefix_tokens"] > answer.prompt_tokens - 1


def test_unrelated_prompts_and_adapter_switches_start_afresh(tiny_tokenizer: Any) -> None:
    model = _model(tiny_tokenizer, reuse=True)
    model.generate([_conversation("name: Ada")], max_new_tokens=4)
    (other,) = model.generate(["0123456789 abcdefghijklmnopqrstuvwxyz"], max_new_tokens=4)
    assert "prefix_tokens" not in other.extra
    model.generate([_conversation("name: Ada")], max_new_tokens=4)
    model.set_adapter(None)  # any adapter change drops the stored states
    (again,) = model.generate([_conversation("age: 36")], max_new_tokens=4)
    assert "prefix_tokens" not in again.extra


@pytest.mark.parametrize("constraint", [None, Constraint("json_schema", SCHEMA)], ids=["plain", "json"])
def test_a_batch_prefills_its_shared_prefix_once(tiny_tokenizer: Any, constraint: Any) -> None:
    """The rows of a batch share their common prefix (and the next call reuses it): same greedy text."""
    plain = _model(tiny_tokenizer, reuse=False)
    reusing = _model(tiny_tokenizer, reuse=True)
    prompts = [_conversation(q) for q in QUESTIONS]
    want = [plain.generate([p], constraint=constraint, max_new_tokens=10)[0] for p in prompts]
    got = reusing.generate(prompts, constraint=constraint, max_new_tokens=10)
    assert [(g.text, g.finish_reason, g.generated_tokens) for g in got] == [
        (w.text, w.finish_reason, w.generated_tokens) for w in want
    ]
    shared = got[0].extra["prefix_tokens"]
    assert shared >= 40 and all(g.extra["prefix_tokens"] == shared for g in got)
    # the prefix cache counted the shared prefix it prefilled once, and nothing past it
    assert reusing.prefix is not None
    assert (reusing.prefix.prefilled_tokens, reusing.prefix.reused_tokens) == (shared, 0)
    assert all("prefix_tokens" not in g.extra for g in plain.generate(prompts, max_new_tokens=2))
    (again,) = reusing.generate([_conversation("name: Bob")], constraint=constraint, max_new_tokens=10)
    assert again.extra["prefix_tokens"] >= shared  # kept for the next call
    assert (
        again.text
        == plain.generate([_conversation("name: Bob")], constraint=constraint, max_new_tokens=10)[0].text
    )


def test_a_batch_without_a_shared_prefix_leaves_the_cache_alone(tiny_tokenizer: Any) -> None:
    model = _model(tiny_tokenizer, reuse=True)
    model.generate([_conversation("name: Ada")], max_new_tokens=4)
    gens = model.generate(
        ["0123456789 abcdefghijklmnopqrstuvwxyz", _conversation("age: 36")], max_new_tokens=4
    )
    assert all("prefix_tokens" not in g.extra for g in gens)
    (after,) = model.generate([_conversation("age: 36")], max_new_tokens=4)
    assert after.extra["prefix_tokens"] >= 40  # still the single prompt's cache


def test_a_failed_generation_forgets_the_cache(tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tiny_tokenizer, reuse=True)
    model.generate([_conversation("name: Ada")], max_new_tokens=4)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(model.model, "forward", boom)
    with pytest.raises(RuntimeError):
        model.generate([_conversation("age: 36")], max_new_tokens=4)
    monkeypatch.undo()
    (after,) = model.generate([_conversation("age: 36")], max_new_tokens=4)
    assert "prefix_tokens" not in after.extra


def test_common_prefix_and_short_prefixes() -> None:
    from formbound.models.prefix_cache import MIN_PREFIX_TOKENS, common_prefix

    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2]) == 2
    assert MIN_PREFIX_TOKENS > 1

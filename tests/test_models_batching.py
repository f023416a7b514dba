"""Batches that drop finished rows: rows leave the batch as they end, output equals each prompt alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from formbound.constraints import Constraint

SYSTEM = "The quick brown fox jumps over the lazy dog. Extract the fields as JSON. " * 2
QUESTIONS = ["name: Ada", "age: 36", "items:\n  - a\n  - b", "SELECT name FROM customers;", "x", "fox"]
STEPS = 16


def _model(tiny_tokenizer: Any, hf: Any = None, *, reuse: bool = False) -> Any:
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel

    hf = hf if hf is not None else tiny_model(seed=5)
    return TransformersModel(hf, tiny_tokenizer, name="tiny", device="cpu", prefix_reuse=reuse)


def _tiny_llama(tiny_tokenizer: Any) -> Any:
    """A 2-layer Llama (rotary positions, grouped KV heads): the default model's architecture."""
    from _tiny import tiny_llama

    return tiny_llama(tiny_tokenizer)


def _prompts() -> list[Any]:
    chats = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}] for q in QUESTIONS]
    return [*chats, "0123456789", "The quick brown fox jumps over the lazy dog and runs"]


def _reference(model: Any, prompt: Any, eos: Sequence[int]) -> list[int]:
    """transformers' own greedy generate on the prompt alone (the oracle)."""
    import torch

    ids = model._encode(prompt)
    with torch.inference_mode():
        out = model.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
            max_new_tokens=STEPS,
            do_sample=False,
            eos_token_id=list(eos),
            pad_token_id=model.tokenizer.pad_token_id,
        )
    new: list[int] = out[0, len(ids) :].tolist()
    for pos, token in enumerate(new):
        if token in eos:
            return new[: pos + 1]
    return new


def _end_rows_early(model: Any, prompts: list[Any]) -> list[list[int]]:
    """Declare one more end-of-sequence id, chosen so that rows end after different numbers of steps
    (a random tiny model almost never emits its real one); return each prompt's reference ids."""
    eos = model._eos_ids()
    free = [_reference(model, p, eos) for p in prompts]
    best, spread = None, 0
    for token in sorted({t for row in free for t in row[1:]}):
        ends = [row.index(token) if token in row else None for row in free]
        early = {e for e in ends if e is not None and e >= 1}
        if None in ends and len(early) > spread:
            best, spread = token, len(early)
    assert best is not None and spread >= 2, "the tiny model gives no token that ends rows at different steps"
    model.model.generation_config.eos_token_id = [*eos, best]
    return [_reference(model, p, model._eos_ids()) for p in prompts]


def _widths(model: Any) -> list[int]:
    """Rows in each forward pass of the wrapped Hugging Face model, recorded from now on."""
    seen: list[int] = []
    model.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    return seen


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_finished_rows_leave_the_batch_and_outputs_match_single_prompts(
    tiny_tokenizer: Any, arch: str
) -> None:
    model = _model(tiny_tokenizer, _tiny_llama(tiny_tokenizer) if arch == "llama" else None)
    prompts = _prompts()
    want = _end_rows_early(model, prompts)
    lengths = [len(w) for w in want]
    assert min(lengths) < STEPS and max(lengths) == STEPS  # some rows end early, one runs to the limit
    widths = _widths(model)
    got = model.generate(prompts, max_new_tokens=STEPS)
    tok = model.tokenizer
    eos = model._eos_ids()
    for g, w in zip(got, want, strict=True):
        assert g.generated_tokens == len(w)
        assert g.finish_reason == ("stop" if w[-1] in eos else "length")
        assert g.text == tok.decode(w[:-1] if w[-1] in eos else w, skip_special_tokens=True)
    # after the prefill, step s computes only the rows still running: those longer than s tokens
    assert widths == [len(prompts)] + [sum(n > s for n in lengths) for s in range(1, STEPS)]
    singles = [model.generate([p], max_new_tokens=STEPS)[0] for p in prompts]
    assert [(g.text, g.finish_reason) for g in got] == [(s.text, s.finish_reason) for s in singles]


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 6},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 3},
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "constraint",
    [Constraint("json_schema", SCHEMA), Constraint("regex", r"(a|bb|ccc|[0-9]{1,8})")],
    ids=["json", "regex"],
)
def test_constrained_rows_keep_their_grammar_state_as_rows_leave(
    tiny_tokenizer: Any, constraint: Any
) -> None:
    """Per-row matchers and budget guards follow their rows: the same output as each prompt alone."""
    model = _model(tiny_tokenizer)
    prompts = _prompts()
    widths = _widths(model)
    got = model.generate(prompts, constraint=constraint, max_new_tokens=24)
    lengths = [g.generated_tokens for g in got]
    assert len(set(lengths)) > 1 and widths[-1] < len(prompts)  # rows did leave at different steps
    assert widths == [len(prompts)] + [sum(n > s for n in lengths) for s in range(1, max(lengths))]
    singles = [model.generate([p], constraint=constraint, max_new_tokens=24)[0] for p in prompts]
    fields = ("text", "finish_reason", "generated_tokens")
    assert [[getattr(g, f) for f in fields] + [g.extra["forced_close"]] for g in got] == [
        [getattr(s, f) for f in fields] + [s.extra["forced_close"]] for s in singles
    ]
    assert all(g.finish_reason == "stop" for g in got)


def test_sampled_batches_follow_the_seed(tiny_tokenizer: Any) -> None:
    model = _model(tiny_tokenizer)
    prompts = _prompts()[:4]
    c = Constraint("regex", r"[a-z]{1,12}")
    a = model.generate(prompts, constraint=c, max_new_tokens=16, temperature=1.0, seed=3)
    b = model.generate(prompts, constraint=c, max_new_tokens=16, temperature=1.0, seed=3)
    assert [g.text for g in a] == [g.text for g in b]
    assert all(g.text.isalpha() and g.text.islower() and g.finish_reason == "stop" for g in a)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_shared_prefix_is_prefilled_once_for_the_batch(tiny_tokenizer: Any, arch: str) -> None:
    """Rows continue after a prefix prefilled once (padding between prefix and rest): same greedy text."""
    hf = _tiny_llama(tiny_tokenizer) if arch == "llama" else None
    plain = _model(tiny_tokenizer, hf)
    sharing = _model(tiny_tokenizer, _tiny_llama(tiny_tokenizer) if arch == "llama" else None, reuse=True)
    prompts = _prompts()[:6]  # all of them start with the system prompt
    want = [plain.generate([p], max_new_tokens=STEPS)[0].text for p in prompts]
    widths = _widths(sharing)
    got = sharing.generate(prompts, max_new_tokens=STEPS)
    assert [g.text for g in got] == want
    assert widths[:2] == [1, len(prompts)]  # the prefix for one row, then the rest for every row
    assert got[0].extra["prefix_tokens"] >= 30

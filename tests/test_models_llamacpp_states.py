"""Saved KV states on llama.cpp (formbound.models.llamacpp_states), on the embedded GGUF."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.real_model

# llama_model: the embedded GGUF on llama.cpp (tests/conftest.py)


def _last_logits(llama: Any) -> np.ndarray:
    import llama_cpp

    row = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
    return np.ctypeslib.as_array(row, shape=(llama.n_vocab(),)).copy()


def _evaluated(llama: Any, tokens: list[int]) -> None:
    llama.reset()
    llama.eval(tokens)


def _conversation(model: Any, question: str, answer: str) -> list[int]:
    return list(model.encode([{"role": "user", "content": question}])) + list(
        model.llama.tokenize(answer.encode("utf-8"), add_bos=False)
    )


def test_a_restored_state_continues_like_a_fresh_evaluation(llama_model: Any) -> None:
    from formbound.models.llamacpp_states import MIN_GAIN_TOKENS, SequenceStates

    llama = llama_model.llama
    states = SequenceStates(llama, 64 * 2**20)
    long = _conversation(llama_model, "Name three rainbow colours.", "Red, orange and yellow, of seven.")
    other = list(llama_model.encode([{"role": "user", "content": "What is two plus two?"}]))
    _evaluated(llama, long)
    fresh = _last_logits(llama)

    kept = len(long) - 4
    _evaluated(llama, long[:kept])
    states.save(None)
    _evaluated(llama, other)  # the live cache now holds another sequence
    live = next(i for i, (x, y) in enumerate(zip(other, long, strict=False)) if x != y)  # shared
    reused = states.restore(None, long)
    assert reused == kept - live >= MIN_GAIN_TOKENS
    assert llama.n_tokens == kept and list(llama.input_ids[:kept]) == long[:kept]
    assert (states.restores, states.reused_tokens) == (1, reused)
    llama.eval(long[kept:])
    restored = _last_logits(llama)
    assert int(restored.argmax()) == int(fresh.argmax())
    assert np.corrcoef(restored, fresh)[0, 1] > 0.999
    assert np.abs(restored - fresh).max() < 0.05 * np.abs(fresh).max()


def test_extended_sequences_replace_their_prefixes_and_the_store_stays_in_bounds(llama_model: Any) -> None:
    from formbound.models.llamacpp_states import SequenceStates

    llama = llama_model.llama
    first = _conversation(llama_model, "Spell cat.", "C, A, T. That is how you spell it.")
    second = _conversation(llama_model, "Spell dog backwards.", "G, O, D.")
    states = SequenceStates(llama, 64 * 2**20)
    _evaluated(llama, first[:-6])
    states.save(None)
    llama.eval(first[-6:])  # the same sequence, extended
    states.save(None)
    assert len(states) == 1  # the shorter one can serve nothing the longer one cannot
    states.save("adapter-a")  # the same tokens under other weights are another state
    assert len(states) == 2
    _evaluated(llama, second)
    assert states.restore("adapter-b", first) == 0  # no state of that adapter
    assert states.restore(None, first) > 0 and llama.n_tokens == len(first)

    one = states.bytes // 2  # the size of one saved state of `first`
    small = SequenceStates(llama, int(one * 1.5))
    _evaluated(llama, first)
    small.save(None)
    _evaluated(llama, second)
    small.save(None)
    assert len(small) == 1 and 0 < small.bytes <= small.capacity  # the least recently used went
    assert small.restore(None, first) == 0
    none = SequenceStates(llama, 0)
    none.save(None)
    assert len(none) == 0 and none.restore(None, second) == 0


def test_generate_restores_the_answer_a_reask_extends(llama_model: Any) -> None:
    from formbound.models.llamacpp import LlamaCppModel

    model = LlamaCppModel(llama_model.llama, name="default", state_bytes=64 * 2**20)
    ask = [{"role": "user", "content": "Give a JSON object with a name and an age for Ada Lovelace."}]
    (answer,) = model.generate([ask], max_new_tokens=24)
    hello = [{"role": "user", "content": "Say hello."}]
    model.generate([hello], max_new_tokens=4)
    assert model.states.restores == 0
    reask = [*ask, {"role": "assistant", "content": answer.text}, {"role": "user", "content": "Only JSON."}]
    (again,) = model.generate([reask], max_new_tokens=8)
    assert model.states.restores == 1
    # the question (beyond the template's start, which the live "Say hello." sequence shared) and the
    # answer were not evaluated again
    ask_ids, hello_ids = model.encode(ask), model.encode(hello)
    shared = next(i for i, (x, y) in enumerate(zip(ask_ids, hello_ids, strict=False)) if x != y)
    assert model.states.reused_tokens >= len(ask_ids) - shared + answer.generated_tokens // 2
    assert again.generated_tokens > 0 and again.prompt_tokens == len(model.encode(reask))

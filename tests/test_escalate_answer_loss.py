"""The answer-only training loss equals the model's own loss, on both tiny architectures, with and
without a LoRA wrapper, and steps aside where the shortcut does not apply."""

from __future__ import annotations

from typing import Any

import pytest

from _tiny import tiny_llama
from _tiny import tiny_model as tiny_gpt2
from formbound.escalate.answer_loss import answer_only_loss
from formbound.escalate.training import collate, encode_example

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _llama(tok: Any) -> Any:
    return tiny_llama(tok, seed=5)


def _batch(tok: Any) -> dict[str, Any]:
    rows = [
        [{"role": "user", "content": "name?"}, {"role": "assistant", "content": '{"name": "Ana"}'}],
        [
            {"role": "user", "content": "a much longer question about a person and her company"},
            {"role": "assistant", "content": '{"name": "Bo", "company": {"name": "Acme", "role": "CEO"}}'},
        ],
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "[]"}],
    ]
    encoded = [encode_example(tok, r, 256) for r in rows]
    return collate([{"input_ids": i, "labels": lab} for i, lab in encoded], tok.pad_token_id)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_equals_the_models_own_loss_and_gradients(tiny_tokenizer: Any, arch: str) -> None:
    model = tiny_gpt2() if arch == "gpt2" else _llama(tiny_tokenizer)
    batch = _batch(tiny_tokenizer)
    assert (batch["labels"] == -100).any() and (batch["attention_mask"] == 0).any()  # prompts and padding
    model.eval()  # no dropout: both losses see the same forward pass
    ours = answer_only_loss(model, batch)
    assert ours is not None
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    theirs = model(**batch).loss
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    for name, p in model.named_parameters():
        if p.grad is not None and name in grads:
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-6)


def test_through_a_peft_wrapper(tiny_tokenizer: Any) -> None:
    peft = pytest.importorskip("peft")
    model = _llama(tiny_tokenizer).eval()
    wrapped = peft.get_peft_model(
        model,
        peft.LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    batch = _batch(tiny_tokenizer)
    ours = answer_only_loss(wrapped, batch)
    assert ours is not None and ours.item() == pytest.approx(wrapped(**batch).loss.item(), rel=1e-5)


def test_steps_aside_where_it_does_not_apply(tiny_tokenizer: Any) -> None:
    tiny_model = tiny_gpt2()
    batch = _batch(tiny_tokenizer)
    wrapper = torch.nn.Module()  # e.g. a DDP wrapper: no get_base_model, no config
    wrapper.module = tiny_model
    assert answer_only_loss(wrapper, batch) is None
    tiny_model.config.model_type = "gemma2"  # logits soft-capped in its forward: not a plain head
    assert answer_only_loss(tiny_model, batch) is None
    tiny_model.config.model_type = "gpt2"
    assert answer_only_loss(tiny_model, {k: v for k, v in batch.items() if k != "labels"}) is None

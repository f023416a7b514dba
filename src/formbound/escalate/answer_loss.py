"""The training loss over answer tokens only, with the output head applied to those positions alone.

A causal LM's own loss computes logits for every position (prompt and padding included) and then
ignores those labelled ``-100``. Training examples here are a prompt followed by a short answer, and
the vocabulary head is a large share of a small model's compute (SmolLM2-135M: 49,152 × 576, about a
fifth of the forward pass), so :func:`answer_only_loss` runs the decoder, keeps the hidden states of
the positions that predict an answer token, and applies the head to those alone. The loss is the same
mean cross-entropy (a test checks it against the model's own loss).

Only for architectures whose logits are the head applied to the last hidden state, nothing else
(:data:`PLAIN_HEADS`; no logit scaling or soft-capping), and only for a model that is not wrapped for
distributed training (going around a DDP/FSDP wrapper would skip its gradient synchronisation).
Anything else gets ``None``, and the caller uses the model's own loss.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PLAIN_HEADS", "answer_only_loss"]

#: ``config.model_type`` values whose forward is ``logits = lm_head(decoder(...).last_hidden_state)``.
PLAIN_HEADS = frozenset({"llama", "mistral", "qwen2", "qwen3", "gpt2"})


def answer_only_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """Mean cross-entropy of the answer tokens in ``inputs`` (``input_ids``, ``labels``, ``attention_mask``).

    ``model`` is a causal LM or a PEFT model around one. Returns ``None`` when the shortcut does not
    apply (see the module docstring).
    """
    import torch

    lm = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model
    if getattr(getattr(lm, "config", None), "model_type", None) not in PLAIN_HEADS:
        return None
    body = getattr(lm, "base_model", None)
    head = lm.get_output_embeddings() if callable(getattr(lm, "get_output_embeddings", None)) else None
    if body is None or body is lm or head is None or "labels" not in inputs:
        return None
    out = body(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
    hidden = out.last_hidden_state
    target = inputs["labels"][:, 1:]
    keep = target != -100
    logits = head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), target[keep])

"""Setting up a Hugging Face model for generation: torch present, device and dtype, special tokens, prompts.

Used by :mod:`formbound.models.transformers` (and the default model's loader); nothing here generates.
"""

from __future__ import annotations

from typing import Any

from formbound.errors import ConfigError, DependencyError
from formbound.models.base import Prompt, chat_messages

__all__ = ["fix_special_tokens", "render_prompt", "require_torch", "resolve_device", "resolve_dtype"]

_DTYPES = ("float32", "bfloat16", "float16")


def require_torch() -> Any:
    """The ``torch`` module; a :class:`DependencyError` naming the extra when torch/transformers is absent."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "Hugging Face models need torch and transformers: pip install 'formbound[models]'"
        ) from exc
    return torch


def resolve_device(device: str | None) -> str:
    """``device`` as given, else ``"cuda"`` when available, else ``"cpu"``."""
    torch = require_torch()
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def resolve_dtype(dtype: Any, device: str) -> Any:
    """``dtype`` (a torch dtype or its name), else bfloat16 on CUDA and float32 elsewhere."""
    torch = require_torch()
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return getattr(torch, dtype)
    raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)} or 'auto'")


def fix_special_tokens(
    tokenizer: Any, model: Any = None, *, switch_eos: bool = True, chatml: bool = False
) -> list[str]:
    """Make end-of-sequence and padding match the token that ends an assistant turn.

    Some GGUF tokenizers (the default model's, with some transformers versions) come back with
    ``<|im_start|>`` as end-of-sequence and no pad token, while ChatML models end their turns with
    ``<|im_end|>``: generation then never stops and a constrained decoder waits for the wrong token.
    With ``switch_eos`` this replaces exactly that wrong eos (``<|im_start|>``, or none at all) by
    ``<|im_end|>`` when the vocabulary has it, and mirrors the ids into the model's config and
    generation config; a tokenizer with a real eos (``<|endoftext|>``, ``</s>`` …) is left alone. It is
    applied to GGUF checkpoints only; ``chatml=True`` (a model known to end its turns with ``<|im_end|>``,
    like the default model) switches any other eos too. A tokenizer without a pad token gets pad = eos.

    Returns:
        What was changed, for logs (empty when nothing was).
    """
    changes: list[str] = []
    vocab = tokenizer.get_vocab()
    end = "<|im_end|>"
    wrong_id: int | None = None
    wrong = tokenizer.eos_token in (None, "<|im_start|>") or (chatml and tokenizer.eos_token != end)
    if switch_eos and end in vocab and wrong:
        changes.append(f"eos {tokenizer.eos_token!r} -> {end!r}")
        old_eos = tokenizer.eos_token
        wrong_id = tokenizer.eos_token_id
        tokenizer.eos_token = end
        if tokenizer.pad_token is None or tokenizer.pad_token == old_eos:
            tokenizer.pad_token = end
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        changes.append(f"pad None -> {tokenizer.eos_token!r}")
        tokenizer.pad_token = tokenizer.eos_token
    eos_id = tokenizer.eos_token_id
    if model is not None and eos_id is not None:
        for config in (getattr(model, "config", None), getattr(model, "generation_config", None)):
            if config is None:
                continue
            # Keep other end-of-sequence ids a model declares (e.g. end-of-text and end-of-turn);
            # drop only the wrong one replaced above, and make sure the tokenizer's is there.
            current = getattr(config, "eos_token_id", None)
            ids = (
                list(current) if isinstance(current, (list, tuple)) else [] if current is None else [current]
            )
            ids = [i for i in ids if i != wrong_id]
            if eos_id not in ids:
                ids.insert(0, eos_id)
            config.eos_token_id = ids[0] if len(ids) == 1 else ids
            if getattr(config, "pad_token_id", None) is None:
                config.pad_token_id = tokenizer.pad_token_id
    return changes


def render_prompt(tokenizer: Any, prompt: Prompt) -> tuple[str, bool]:
    """The text a model sees for ``prompt``, and whether it is chat-templated.

    A string is returned as it is (already templated: it is never wrapped again). A message list goes
    through the tokenizer's chat template with the generation prompt; a tokenizer without a template
    gets ``"role: content"`` lines and a final ``"assistant:"``.
    """
    if isinstance(prompt, str):
        return prompt, False
    messages = chat_messages(prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text), True
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "assistant:"]), True

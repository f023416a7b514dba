"""Tiny models and tokenizers built inside the tests (no downloads).

``tiny_tokenizer()`` is a byte-level BPE tokenizer trained on a few lines of JSON, YAML, SQL and prose,
so every string is encodable; ``tiny_model()`` is a 2-layer GPT-2 with random weights over it.
``random_walk()`` samples from a grammar by picking random allowed tokens — what a model with arbitrary
weights could do under the constraint — to test that constrained output always parses and validates.
"""

from __future__ import annotations

import functools
import random
from typing import Any

CORPUS = [
    '{"name": "Ada Lovelace", "age": 36, "tags": ["math", "poetry"], "active": true, "note": null}',
    "name: Ada\nage: 36\nitems:\n  - a\n  - b\nnested:\n  key: value\n",
    "SELECT name, COUNT(*) FROM customers JOIN orders ON customers.id = orders.customer_id "
    "WHERE total > 10 GROUP BY name ORDER BY 2 DESC LIMIT 5;",
    "The quick brown fox jumps over the lazy dog. Extract the fields as JSON.",
    "0123456789 -+.eE {}[]:,\"' \t\n abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ _-/@#",
]
EOS = "<|im_end|>"
SPECIALS = ["<|endoftext|>", "<|im_start|>", EOS]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token=EOS,
        pad_token=EOS,
        unk_token="<|endoftext|>",
    )
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return fast


def tiny_model(seed: int = 0) -> Any:
    """A 2-layer GPT-2 with random weights over :func:`tiny_tokenizer`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.eval()
    return model


def tiny_llama(tok: Any, seed: int = 11) -> Any:
    """A 2-layer Llama (rotary positions, grouped KV heads: the default model's architecture) over ``tok``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config).eval()


def random_walk(grammar: str, *, n: int = 20, seed: int = 0, max_tokens: int = 200) -> list[tuple[str, bool]]:
    """Sample ``n`` texts from an llguidance grammar (``llguidance.LLMatcher.grammar_from_*``).

    Returns (text, finished) pairs; ``finished`` is False when ``max_tokens`` ran out first. Tokens are
    picked at random among those the grammar allows, with EOS taken as soon as it is allowed in half
    the steps, so both short and long outputs occur.
    """
    import llguidance
    import llguidance.hf
    import numpy as np

    tok = tiny_tokenizer()
    lltok = llguidance.hf.from_tokenizer(tok)
    rng = random.Random(seed)
    out: list[tuple[str, bool]] = []
    eos = tok.eos_token_id
    for _ in range(n):
        m = llguidance.LLMatcher(lltok, grammar)
        if m.is_error():
            raise ValueError(m.get_error())
        ids: list[int] = []
        finished = False
        for _step in range(max_tokens):
            if m.is_stopped():
                finished = True
                break
            mask = np.frombuffer(m.compute_bitmask(), dtype=np.uint32)
            bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[: lltok.vocab_size]
            allowed = np.flatnonzero(bits).tolist()
            if not allowed:
                raise AssertionError(f"grammar allows no token after {tok.decode(ids)!r}")
            if eos in allowed and (len(allowed) == 1 or rng.random() < 0.5):
                finished = True
                break
            choice = rng.choice([a for a in allowed if a != eos])
            if not m.consume_token(choice):
                raise AssertionError(m.get_error())
            ids.append(choice)
        out.append((tok.decode(ids), finished))
    return out

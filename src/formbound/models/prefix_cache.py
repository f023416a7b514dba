"""Prefix reuse for Hugging Face generation: keep the last sequence's KV cache, reuse its shared prefix.

A measurement run asks one prompt after another that share a long prefix (system prompt, format
instructions, few-shot examples), and a re-ask extends the previous conversation. Re-reading that prefix
costs a full prefill per item. :class:`PrefixCache` keeps the KV cache of the last generated sequence
(prompt and answer) together with its token ids; for the next prompt it cuts the cache back to the
longest common token prefix and hands it to ``generate``, which then only prefills the rest. This is
what llama.cpp does with its own KV cache between calls.

Only single-prompt calls use it: a left-padded batch puts each row's prefix at a different position.
The cache is cut in place (no copy): the stored sequence is always the one ``generate`` last extended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["MIN_PREFIX_TOKENS", "PrefixCache", "cache_argument", "common_prefix", "new_cache"]

#: Shorter shared prefixes are re-read: the bookkeeping is not worth a handful of tokens.
MIN_PREFIX_TOKENS = 16


def cache_argument() -> str:
    """The name ``model.generate`` takes a KV cache under (``cache`` since transformers 5.x)."""
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def new_cache(config: Any) -> Any:
    """An empty ``DynamicCache`` for a model with ``config``."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=config)
    except TypeError:  # transformers < 4.56 builds it without a config
        return DynamicCache()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists.

    >>> common_prefix([1, 2, 3], [1, 2, 4, 5])
    2
    """
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """The KV cache of the last single-prompt generation and the tokens it holds.

    Args:
        config: The model config (for building a fresh cache).
        min_tokens: Reuse only a shared prefix at least this long.

    Attributes:
        reused_tokens: Prompt tokens taken from the cache over this object's life (for reports).
        prefilled_tokens: Prompt tokens that had to be prefilled.
    """

    def __init__(self, config: Any, *, min_tokens: int = MIN_PREFIX_TOKENS) -> None:
        self.config = config
        self.min_tokens = min_tokens
        self.key: Any = None
        self._ids: list[int] = []
        self._cache: Any = None
        self.reused_tokens = 0
        self.prefilled_tokens = 0

    def clear(self) -> None:
        """Forget the stored sequence (e.g. when the weights or the adapter change)."""
        self.key, self._ids, self._cache = None, [], None

    def take(self, prompt_ids: Sequence[int], key: Any = None, *, continued: bool = False) -> tuple[Any, int]:
        """A cache for generating after ``prompt_ids``, and how many of its tokens were reused.

        Args:
            prompt_ids: The next prompt's token ids.
            key: What else the cached states depend on (e.g. the active adapter); a different key
                starts afresh.
            continued: ``prompt_ids`` is a prefix that longer prompts continue (a batch's shared prefix),
                so all of it may come from the cache; otherwise its last token is always prefilled
                (``generate`` needs its logits).

        Returns:
            ``(cache, reused)``: pass ``cache`` to ``generate`` (it is extended in place); ``reused`` is
            0 when the prompt is prefilled from scratch.
        """
        reused = 0
        if self._cache is not None and key == self.key:
            shared = common_prefix(self._ids, prompt_ids)
            if not continued:  # one prompt token must be left to prefill: generate needs logits for it
                shared = min(shared, len(prompt_ids) - 1)
            if shared >= self.min_tokens:
                extra = self._cache.get_seq_length() - shared
                if extra > 0:
                    self._cache.crop(-extra)  # negative: remove tokens (every transformers version)
                reused = shared
        if not reused:
            self._cache = new_cache(self.config)
        self.key = key
        self.reused_tokens += reused
        self.prefilled_tokens += len(prompt_ids) - reused
        return self._cache, reused

    def store(self, sequence_ids: Sequence[int]) -> None:
        """Record the tokens the cache now holds: prompt and generated ids (the last one has no state)."""
        if self._cache is None:
            return
        held = self._cache.get_seq_length()
        self._ids = list(sequence_ids[:held])
        if len(self._ids) != held:  # states for tokens we cannot name: never reuse them
            self.clear()

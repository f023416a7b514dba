"""Saved KV states of earlier sequences on llama.cpp, for prompts that extend one of them.

llama.cpp keeps the KV cache of the last sequence only, so a prompt reuses the prefix it shares with the
sequence *just before it*. A measurement run goes rung by rung: the ``reask`` rung re-asks item 7 long
after ``prompted`` answered it, and ``constrained`` sends item 7's prompt again after other items. Each
then re-reads the item's own tokens (its input, the first answer) although llama.cpp computed them before.

:class:`SequenceStates` keeps the KV state of finished sequences (``llama_state_seq_get_data``, about
23 KB per token for SmolLM2-135M), keyed by adapter and token ids, in a least-recently-used store bounded in
bytes. Before a prompt is evaluated, :meth:`SequenceStates.restore` loads the stored state that shares the
longest token prefix with it, when that prefix is longer than what the live KV cache already shares;
llama-cpp-python's ``generate`` then evaluates only the rest. A stored sequence that is a prefix of a newer
one is dropped: the newer one serves every prompt the older one could.

A restored state continues like a fresh evaluation of the same tokens (tests: the same next-token argmax,
logits correlation > 0.999). Greedy text can still differ now and then: llama.cpp's numerics depend on how
a sequence was split into batches (a token evaluated inside a prompt batch or as a single decode step), so
a restore can tip a near-tie, as evaluating a prompt after a different previous sequence already can
(3 of 18 records in ``bench/bench_states.py``). A restore costs a copy of the state (a few milliseconds),
against about 8 ms per re-read prompt token on two CPU cores.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_STATE_BYTES", "MIN_GAIN_TOKENS", "SequenceStates"]

#: Bytes of saved states kept by default (about 22 sequences of 1000 tokens for SmolLM2-135M).
DEFAULT_STATE_BYTES = 512 * 2**20

#: A restore must save at least this many re-read tokens over the live KV cache to be worth the copy.
MIN_GAIN_TOKENS = 16


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class SequenceStates:
    """Least-recently-used store of sequence KV states for one ``llama_cpp.Llama``.

    Args:
        llama: The ``llama_cpp.Llama`` whose context (sequence 0) is saved and restored.
        capacity_bytes: Most bytes of states kept (0: store nothing).

    Attributes:
        restores: States restored so far.
        reused_tokens: Prompt tokens not evaluated again thanks to a restore (beyond what the live KV cache
            already shared).
    """

    def __init__(self, llama: Any, capacity_bytes: int = DEFAULT_STATE_BYTES) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.llama = llama
        self.capacity = max(0, int(capacity_bytes))
        self._store: OrderedDict[tuple[str | None, tuple[int, ...]], Any] = OrderedDict()
        self.bytes = 0
        self.restores = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        """Forget every stored state."""
        self._store.clear()
        self.bytes = 0

    def save(self, adapter: str | None) -> None:
        """Store the live sequence (the tokens now in the KV cache), computed with ``adapter``."""
        llama = self.llama
        n = int(llama.n_tokens)
        if self.capacity <= 0 or n <= 0:
            return
        tokens = tuple(int(t) for t in llama.input_ids[:n])
        key = (adapter, tokens)
        if key in self._store:
            self._store.move_to_end(key)
            return
        ctx = llama._ctx.ctx
        size = int(self._lib.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > self.capacity:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = int(self._lib.llama_state_seq_get_data(ctx, buffer, size, 0))
        if written <= 0:
            return
        # a stored sequence that this one extends can serve no prompt better than this one
        extended = [k for k in self._store if k[0] == adapter and tokens[: len(k[1])] == k[1]]
        for old in extended:
            self._drop(old)
        self._store[key] = (buffer, written)
        self.bytes += written
        while self.bytes > self.capacity and self._store:
            self._drop(next(iter(self._store)))

    def _drop(self, key: tuple[str | None, tuple[int, ...]]) -> None:
        _, written = self._store.pop(key)
        self.bytes -= written

    def restore(self, adapter: str | None, prompt: Sequence[int]) -> int:
        """Load the stored state sharing the longest prefix with ``prompt``, when it beats the live cache.

        Returns:
            The prompt tokens now in the KV cache that it would otherwise evaluate again (0: nothing
            restored).
        """
        if not self._store:
            return 0
        llama = self.llama
        live = _common(llama.input_ids[: int(llama.n_tokens)], prompt)
        best, best_len = None, live
        for key in self._store:
            if key[0] != adapter:
                continue
            shared = _common(key[1], prompt)
            if shared > best_len:
                best, best_len = key, shared
        if best is None or best_len - live < MIN_GAIN_TOKENS:
            return 0
        buffer, written = self._store[best]
        ctx = llama._ctx.ctx
        self._lib.llama_memory_seq_rm(self._lib.llama_get_memory(ctx), -1, -1, -1)
        llama.n_tokens = 0
        if int(self._lib.llama_state_seq_set_data(ctx, buffer, written, 0)) <= 0:  # 0: not loaded
            llama.reset()  # the cache is empty: generate evaluates the whole prompt
            self._drop(best)
            return 0
        tokens = best[1]
        llama.input_ids[: len(tokens)] = tokens
        llama.n_tokens = len(tokens)
        llama._requires_eval = True  # the logits are not those of the restored sequence's last token
        self._store.move_to_end(best)
        self.restores += 1
        self.reused_tokens += best_len - live
        return best_len - live

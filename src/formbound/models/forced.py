"""Forced completion near the token limit, over an llguidance matcher.

A grammar keeps every prefix valid but cannot make a model stop. :class:`BudgetGuard` watches one row's
remaining token budget: it keeps a *closing plan* (a short token sequence that takes the matcher from its
current state to an accepting one, found by :class:`Closer`), and

* when the plan plus end-of-sequence fills what is left of the budget, allows only the plan's next token
  (then end-of-sequence): the output is complete and valid, and the row is marked ``forced_close``;
* shortly before that (``margin`` tokens), allows only the model's best candidates after which the plan
  still fits, so no single token can push the closing cost past the budget (refusing the model's own
  first choice there also counts as a forced close).

The plan is greedy, not optimal: forced tokens first (``compute_ff_tokens``), then closing syntax, then
the smallest values. It is an upper bound on the cost of closing, which is all the guarantee needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import numpy as np
    import torch

    #: One row of a token bitmask: int32 words, a torch tensor or a numpy array.
    Words = torch.Tensor | np.ndarray

__all__ = ["BudgetGuard", "Closer", "clear", "set_only", "top_allowed"]

# "," before "0": after a number, closing or moving on is shorter than growing the number digit by digit
_OUTSIDE = ("}", "]", ",", "0", "null", "false", "true", '""', "[]", "{}", '"', ":", " ", "1", "-", "a")
_INSIDE = ('"', "a", "x", "0", "_", " ", "e")
#: Tokens that end an array element and may close the array (used by the repetition guard).
_ENDINGS = ('"', '"]', "]", "}", "}]", " ]", '" ]', "} ]", '"]}', "]}")
#: Best-scored candidates checked per step in the margin before the plan must start.
TOP_K = 4


def _json_lex(state: tuple[bool, bool], data: bytes) -> tuple[bool, bool]:
    """(inside a string, after a backslash) after ``data``."""
    inside, escaped = state
    for ch in data:
        if escaped:
            escaped = False
        elif inside and ch == 0x5C:
            escaped = True
        elif ch == 0x22:
            inside = not inside
    return inside, escaped


class Closer:
    """Plans the shortest closing sequence it can find for llguidance matchers of one tokenizer.

    Args:
        lltok: The ``llguidance.LLTokenizer``.
        json_mode: The grammar is JSON (closing syntax depends on being inside a string or not).
        max_steps: A plan longer than this is not searched for (the guard then does not force).
    """

    def __init__(self, lltok: Any, *, json_mode: bool, max_steps: int = 160) -> None:
        self.lltok = lltok
        self.json_mode = json_mode
        self.max_steps = max_steps
        by_bytes: dict[bytes, int] = {}
        wanted = {s.encode() for s in (*_OUTSIDE, *_INSIDE, *_ENDINGS)}
        for token in range(lltok.vocab_size):
            if lltok.is_special_token(token):
                continue
            data = lltok.decode_bytes([token])
            if data in wanted and data not in by_bytes:
                by_bytes[data] = token
        self.outside = [by_bytes[s.encode()] for s in _OUTSIDE if s.encode() in by_bytes]
        self.inside = [by_bytes[s.encode()] for s in _INSIDE if s.encode() in by_bytes]
        self.endings = [by_bytes[s.encode()] for s in _ENDINGS if s.encode() in by_bytes]
        self.eos = set(lltok.eos_tokens)

    def lex(self, state: tuple[bool, bool], tokens: Iterable[int]) -> tuple[bool, bool]:
        if not self.json_mode:
            return state
        return _json_lex(state, self.lltok.decode_bytes(list(tokens)))

    def plan(self, matcher: Any, state: tuple[bool, bool] = (False, False)) -> list[int] | None:
        """Tokens from ``matcher``'s state to an accepting one (``[]`` when it accepts already).

        ``None`` when no plan of at most ``max_steps`` tokens was found. ``matcher`` is not modified.
        """
        if matcher.is_accepting() or matcher.is_stopped():
            return []
        m = matcher.deep_copy()
        plan: list[int] = []
        while len(plan) < self.max_steps:
            if m.is_accepting() or m.is_stopped() or m.is_error():
                return None if m.is_error() else plan
            forced = [t for t in m.compute_ff_tokens() if t not in self.eos]
            if forced:
                taken = []
                for token in forced:
                    if not m.consume_token(token):
                        break
                    taken.append(token)
                plan += taken
                state = self.lex(state, taken)
                if taken:
                    continue
            # Preferred tokens are tried one by one (a lexer walk each, microseconds); the whole-vocabulary
            # mask (a trie walk, ~100x dearer) is computed only when none of them is allowed.
            prefs = self.inside if state[0] else self.outside
            choice = next((t for t in prefs if m.try_consume_tokens([t]) == 1), None)
            if choice is None:
                choice = _first_allowed(m.compute_bitmask(), self.eos)
                if choice is None or not m.consume_token(choice):
                    return None
            plan.append(choice)
            state = self.lex(state, [choice])
        return None


def _first_allowed(mask: bytes, skip: set[int]) -> int | None:
    for byte, value in enumerate(mask):
        if value:
            for bit in range(8):
                token = byte * 8 + bit
                if value >> bit & 1 and token not in skip:
                    return token
    return None


def _allowed(row: Words, token: int) -> bool:
    word, bit = divmod(int(token), 32)
    return word < len(row) and bool(int(row[word]) >> bit & 1)


def set_only(row: Words, tokens: Sequence[int]) -> bool:
    """Make ``row`` (int32 words of a token bitmask) allow only those of ``tokens`` it allows now.

    ``row`` is a 1-D torch tensor (the transformers route) or numpy array (the llama.cpp route).

    Returns:
        False (and ``row`` unchanged) when it allows none of them.
    """
    tokens = [t for t in tokens if _allowed(row, t)]
    if not tokens:
        return False
    row[:] = 0
    for token in tokens:
        word, bit = divmod(int(token), 32)
        if word < len(row):
            value = int(row[word]) & 0xFFFFFFFF | (1 << bit)
            row[word] = value - (1 << 32) if value >= 1 << 31 else value
    return True


def clear(row: Words, token: int) -> None:
    """Forbid ``token`` in ``row`` (int32 words of a token bitmask)."""
    word, bit = divmod(int(token), 32)
    if word < len(row):
        value = int(row[word]) & 0xFFFFFFFF & ~(1 << bit)
        row[word] = value - (1 << 32) if value >= 1 << 31 else value


class BudgetGuard:
    """One row's forced-completion state (see the module docstring).

    Args:
        closer: The planner for this tokenizer.
        matcher: The row's llguidance matcher (read, never advanced here).
        budget: The row's ``max_new_tokens``.
        eos: End-of-sequence token ids.
        margin: Tokens before the plan must start from which candidates are checked against the budget.
        every: Outside the margin, the plan is refreshed every ``every`` tokens.
        greedy: Decoding is greedy: in the margin only the best candidate that keeps the budget is
            searched for (sampling gets every one of the top :data:`TOP_K` that does).
    """

    def __init__(
        self,
        closer: Closer,
        matcher: Any,
        budget: int,
        eos: Iterable[int],
        *,
        margin: int = 12,
        every: int = 4,
        greedy: bool = False,
    ) -> None:
        self.closer = closer
        self.matcher = matcher
        self.remaining = budget
        self.eos = sorted(set(int(t) for t in eos))
        self.margin = margin
        self.every = every
        self.greedy = greedy
        self.cost: int | None = None
        self.forced: list[int] | None = None
        self.forced_close = False
        self.state = (False, False)
        self._since = 0
        self._margin_set = False
        self._checked: dict[int, list[int]] = {}  # candidate -> plan after it, from the last step
        self._plan: list[int] | None = None  # plan of the current state when known from the last step

    def consumed(self, token: int) -> None:
        """Record that ``token`` was emitted (after the matcher consumed it)."""
        self.remaining -= 1
        self._since += 1
        self.state = self.closer.lex(self.state, [token])
        self._plan = self._checked.get(token)
        self._checked = {}
        if self.forced:
            self.forced.pop(0)

    def restrict(self, row: Words, scores: Any) -> None:
        """Narrow ``row`` (the grammar's bitmask for this step) so the output can close in budget."""
        r = self.remaining
        if self.forced is not None:
            if not set_only(row, self.forced[:1] or self.eos):
                self.forced = None  # the plan went stale (cannot happen with a sound plan): stop forcing
            return
        near = self.cost is None or r <= self.cost + self.margin + 1 or self._since >= self.every
        if not near:
            return
        self._since = 0
        plan = self._plan if self._plan is not None else self.closer.plan(self.matcher, self.state)
        if plan is None:
            return
        if not self._margin_set:
            # A single token can open a value that costs about as much to close as the whole answer:
            # start checking candidates that much earlier.
            self.margin += len(plan)
            self._margin_set = True
        self.cost = len(plan)
        if len(plan) + 1 >= r:
            more = _allows_more(row, self.eos) if not plan else True
            if set_only(row, plan[:1] or self.eos):
                self.forced = plan
                self.forced_close = self.forced_close or more
            return
        if r > len(plan) + self.margin + 1:
            return
        closing = plan[:1] if plan else list(self.eos)
        if plan:
            self._checked[plan[0]] = plan[1:]
        # Greedy decoding takes the best candidate that keeps the budget, which is nearly always the
        # best one: look at the other TOP_K only when it does not.
        top = top_allowed(row, scores, 1 if self.greedy else TOP_K)
        if self.greedy and top and not self._safe(top[0], closing, r):
            top = top_allowed(row, scores, TOP_K)
        safe: list[int] = []
        for token in top:
            if self._safe(token, closing, r):
                safe.append(token)
                if self.greedy:
                    break  # the best candidate that keeps the budget is the one greedy decoding takes
        if not safe:
            safe = closing
        if set_only(row, safe) and top and top[0] not in safe:
            self.forced_close = True  # the model's own choice was refused for the budget's sake

    def _safe(self, token: int, closing: Sequence[int], r: int) -> bool:
        """Whether the output can still close within ``r`` tokens after ``token`` (plans are memoised
        in ``_checked`` for this step)."""
        if token in closing or token in self.eos:
            return True
        if token in self._checked:
            return True
        trial = self.matcher.deep_copy()
        state = self.closer.lex(self.state, [token])
        after = self.closer.plan(trial, state) if trial.consume_token(token) else None
        if after is None or len(after) + 1 > r - 1:
            return False
        self._checked[token] = after
        return True


def _allows_more(row: Words, eos: Sequence[int]) -> bool:
    count = int(sum(bin(int(w) & 0xFFFFFFFF).count("1") for w in row.tolist()))
    return count > sum(1 for t in eos if (int(row[t // 32]) >> (t % 32)) & 1)


def top_allowed(row: Words, scores: Any, k: int) -> list[int]:
    """The ``k`` best-scored tokens ``row`` allows, best first (torch tensors or numpy arrays)."""
    if type(scores).__module__.startswith("numpy"):
        import numpy as np

        as_bytes = np.ascontiguousarray(row).view(np.uint8)
        allowed = np.unpackbits(as_bytes, bitorder="little", count=len(scores)).view(bool)  # zero-padded
        # Partition only the allowed scores: argpartition over a vector that is mostly -inf (a narrow
        # grammar state) degenerates (2.7 ms against 0.05 ms on a 49k vocabulary, BENCHMARKS.md §9c).
        index = np.flatnonzero(allowed)
        if len(index) > len(scores) // 2:
            index = np.arange(len(scores))
            values = np.where(allowed, scores, -np.inf)
        else:
            values = scores[index]
        k = min(k, len(values))
        if k == 0:
            return []
        best = np.argpartition(values, -k)[-k:]
        best = best[np.argsort(-values[best], kind="stable")]
        return [int(index[i]) for i in best if values[i] != -np.inf]
    from formbound.models.masking import apply_bitmask

    words = cast("torch.Tensor", row)
    masked_t = apply_bitmask(scores.unsqueeze(0), words.unsqueeze(0))[0]
    top_values, top_indices = masked_t.topk(min(k, masked_t.numel()))
    pairs = zip(top_values.tolist(), top_indices.tolist(), strict=True)
    return [int(i) for v, i in pairs if v != float("-inf")]

"""Repetition guard (opt-in): stops the two usual loops of constrained JSON before the budget does.

A grammar keeps a runaway valid but lets it loop: the same array element again and again
(``["Ann", "Ann", "Ann", …``) or a substring inside a free string (``"john_john_john…"``). A
:class:`RepeatGuard` watches one row's output as JSON text and, among the model's best-scored candidates
the grammar allows, forbids

* a token that would put an array separator ``,`` right after an element equal (whitespace aside) to the
  element before it: the mask then allows only the tokens that end the element or close the array
  (``"``, ``"]``, ``}``, ``]`` …, whichever the grammar allows), so the array closes;
* inside a string, a token that would repeat a token n-gram (``ngram`` tokens) already seen in the same
  string.

Only the best candidates are checked (the guard cuts the model's own choice; it does not search), and it
never forbids the last token the grammar allows. It is turned on per constraint
(``Constraint(..., repetition_guard=True)``, the ``constrained+norepeat`` strategy) and measured as its own
route by ``bench/bench_runaway.py``: it is not part of the default route.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from formbound.models.forced import clear, set_only, top_allowed

if TYPE_CHECKING:
    from formbound.models.forced import Words

__all__ = ["NGRAM", "RepeatGuard"]

#: Tokens in the n-gram a string may not repeat.
NGRAM = 3
#: Best-scored candidates checked per step.
TOP_K = 4


@dataclass
class _Frame:
    array: bool
    start: int = 0  # byte offset where the current element starts (arrays)
    previous: bytes | None = None  # the previous element, whitespace stripped (arrays)


@dataclass
class _State:
    text: bytearray = field(default_factory=bytearray)
    stack: list[_Frame] = field(default_factory=list)
    inside: bool = False
    escaped: bool = False
    string_tokens: list[int] = field(default_factory=list)
    seen: set[tuple[int, ...]] = field(default_factory=set)


def _scan(state: _State, data: bytes) -> bool:
    """Advance ``state`` over ``data``; True when a separator followed an element equal to the previous."""
    repeated = False
    for ch in data:
        state.text.append(ch)
        if state.inside:
            if state.escaped:
                state.escaped = False
            elif ch == 0x5C:
                state.escaped = True
            elif ch == 0x22:
                state.inside = False
            continue
        if ch == 0x22:
            state.inside = True
            state.string_tokens = []
            state.seen = set()
        elif ch in b"[{":
            state.stack.append(_Frame(array=ch == 0x5B, start=len(state.text)))
        elif ch in b"]}":
            if state.stack:
                state.stack.pop()
        elif ch == 0x2C and state.stack and state.stack[-1].array:
            frame = state.stack[-1]
            element = bytes(state.text[frame.start : len(state.text) - 1]).strip()
            repeated = repeated or element == frame.previous
            frame.previous, frame.start = element, len(state.text)
    return repeated


class RepeatGuard:
    """One row's repetition guard (see the module docstring).

    Args:
        decode: Bytes of a list of token ids (``LLTokenizer.decode_bytes``).
        endings: Tokens that end an element or close an array (``Closer.endings``).
        ngram: Tokens in the n-gram a free string may not repeat.
        top_k: Best-scored candidates checked per step.
    """

    def __init__(
        self,
        decode: Callable[[list[int]], bytes],
        endings: Sequence[int] = (),
        *,
        ngram: int = NGRAM,
        top_k: int = TOP_K,
    ) -> None:
        self.decode = decode
        self.endings = list(endings)
        self.ngram = ngram
        self.top_k = top_k
        self.state = _State()
        self.blocked = 0  # candidates forbidden so far

    def _ngram_repeats(self, token: int) -> bool:
        s = self.state
        if not s.inside or len(s.string_tokens) < self.ngram - 1:
            return False
        return (*s.string_tokens[len(s.string_tokens) - self.ngram + 1 :], token) in s.seen

    def repeats(self, token: int) -> bool:
        """Whether ``token`` would repeat an array element or a string's n-gram (state unchanged)."""
        return self._why(token) is not None

    def _why(self, token: int) -> str | None:
        data = self.decode([token])
        if self.state.inside and b'"' not in data and self._ngram_repeats(token):
            return "ngram"
        if b"," not in data:
            return None
        s = self.state
        probe = _State(text=s.text[:], stack=copy.deepcopy(s.stack), inside=s.inside, escaped=s.escaped)
        return "element" if _scan(probe, data) else None

    def consumed(self, token: int) -> None:
        """Record that ``token`` was emitted."""
        s = self.state
        was_inside = s.inside
        data = self.decode([token])
        _scan(s, data)
        if was_inside and s.inside:
            s.string_tokens.append(token)
            if len(s.string_tokens) >= self.ngram:
                s.seen.add(tuple(s.string_tokens[-self.ngram :]))

    def restrict(self, row: Words, scores: Any) -> None:
        """Forbid in ``row`` the best candidates that would repeat, down to the first that does not."""
        for token in top_allowed(row, scores, self.top_k):
            why = self._why(token)
            if why is None:
                return
            if why == "element":
                endings = [t for t in self.endings if not self.repeats(t)]
                if set_only(row, endings):
                    self.blocked += 1
                    return
            clear(row, token)
            if not _any(row):
                word, bit = divmod(token, 32)
                value = int(row[word]) | (1 << bit)
                row[word] = value - (1 << 32) if value >= 1 << 31 else value  # never forbid all
                return
            self.blocked += 1


def _any(row: Words) -> bool:
    return any(int(w) for w in row.tolist())

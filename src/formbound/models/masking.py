"""Per-step token masking for constrained decoding, independent of the model source.

:func:`make_processor` takes a compiled constraint, the end-of-sequence ids and the token budget, and
returns a :class:`GrammarLogitsProcessor`: called as ``processor(input_ids, scores)`` once per step (the
``transformers`` logits-processor protocol: ``(batch, seq)`` ids, ``(batch, vocab)`` scores, returns the
masked scores), then ``processor.finish(last_tokens)`` says per row whether the grammar was complete and
``processor.forced_close`` which rows were closed by the budget guard. Another model source (e.g. a
llama.cpp one) can drive it with torch tensors of the same shapes.

Masking is done in plain torch; the backends' own processors are not used (they import ``torch._dynamo``
and apply a ``torch.compile``-d kernel: seconds on the first call on CPU, and they keep feeding padding to
the matcher of a row that already ended in a batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from formbound.errors import GenerationError
from formbound.models.forced import BudgetGuard, Closer
from formbound.models.repetition import RepeatGuard

if TYPE_CHECKING:
    import torch

    from formbound.models.constrained import CompiledConstraint

__all__ = ["GrammarLogitsProcessor", "apply_bitmask", "make_processor"]


def apply_bitmask(scores: torch.Tensor, bitmask: torch.Tensor, skip: Sequence[int] = ()) -> torch.Tensor:
    """``scores`` with every token whose bit is 0 in ``bitmask`` set to ``-inf``.

    Args:
        scores: ``(batch, vocab)`` logits.
        bitmask: ``(batch, words)`` int32, bit ``j`` of word ``w`` allows token ``32 * w + j``; tokens
            beyond ``32 * words`` are disallowed.
        skip: Rows left unmasked (sequences that already ended).
    """
    import torch

    batch, vocab = scores.shape
    shifts = torch.arange(32, dtype=torch.int32)
    bits = ((bitmask.unsqueeze(-1) >> shifts) & 1).bool().reshape(batch, -1)
    if bits.shape[1] >= vocab:
        allowed = bits[:, :vocab]
    else:
        allowed = torch.zeros((batch, vocab), dtype=torch.bool)
        allowed[:, : bits.shape[1]] = bits
    for row in skip:
        allowed[row] = True
    return scores.masked_fill(~allowed.to(scores.device), float("-inf"))


class _Rows:
    """Per-row grammar state for one generate call (one matcher per batch row)."""

    words: int
    guards: list[BudgetGuard] | None = None
    repeats: list[RepeatGuard] | None = None

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        raise NotImplementedError

    def consume(self, row: int, token: int) -> None:
        raise NotImplementedError

    def complete(self, row: int) -> bool:
        """True when the grammar cannot continue (only end-of-sequence is allowed)."""
        raise NotImplementedError


class _LLGuidanceRows(_Rows):
    def __init__(
        self, template: Any, batch: int, vocab_size: int, budget: int | None, closer: Closer | None,
        eos: Iterable[int], greedy: bool, repeat: tuple[Any, list[int]] | None = None,
    ) -> None:  # fmt: skip
        self.matchers = [template.deep_copy() for _ in range(batch)]
        self.words = (vocab_size + 31) // 32
        if budget is not None and closer is not None:
            eos = list(eos)
            self.guards = [BudgetGuard(closer, m, budget, eos, greedy=greedy) for m in self.matchers]
        if repeat is not None:
            self.repeats = [RepeatGuard(*repeat) for _ in range(batch)]

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        target = bitmask[row]
        self.matchers[row].unsafe_compute_mask_ptr(target.data_ptr(), target.numel() * target.element_size())

    def consume(self, row: int, token: int) -> None:
        matcher = self.matchers[row]
        if not matcher.consume_token(token):
            raise GenerationError(f"the llguidance matcher rejected token {token}: {matcher.get_error()}")
        if self.guards is not None:
            self.guards[row].consumed(token)
        if self.repeats is not None:
            self.repeats[row].consumed(token)

    def complete(self, row: int) -> bool:
        matcher = self.matchers[row]
        if matcher.is_error():
            return False
        forced = self.guards is not None and self.guards[row].forced_close
        return bool(matcher.is_stopped() or (forced and matcher.is_accepting()))


class _OutlinesCoreRows(_Rows):
    def __init__(self, index: Any, batch: int, vocab_size: int) -> None:
        from outlines_core import Guide

        self.guides = [Guide(index) for _ in range(batch)]
        self.words = (vocab_size + 31) // 32

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        target = bitmask[row]
        self.guides[row].write_mask_into(target.data_ptr(), target.numel(), target.element_size())

    def consume(self, row: int, token: int) -> None:
        guide = self.guides[row]
        if guide.is_finished() and not guide.accepts_tokens([token]):
            return  # outlines-core issue 227: a finished guide has no transition for EOS
        try:
            guide.advance(token_id=token, return_tokens=False)
        except ValueError as exc:
            raise GenerationError(f"the outlines-core guide rejected token {token}: {exc}") from exc

    def complete(self, row: int) -> bool:
        guide = self.guides[row]
        return bool(guide.is_finished() and not guide.get_tokens())


class _XGrammarRows(_Rows):
    def __init__(self, compiled: Any, batch: int, vocab_size: int) -> None:
        import xgrammar

        self.matchers = [xgrammar.GrammarMatcher(compiled) for _ in range(batch)]
        self.words = (vocab_size + 31) // 32

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        self.matchers[row].fill_next_token_bitmask(bitmask, row)

    def consume(self, row: int, token: int) -> None:
        if not self.matchers[row].accept_token(token):
            raise GenerationError(f"the xgrammar matcher rejected token {token}")

    def complete(self, row: int) -> bool:
        return bool(self.matchers[row].is_terminated())


class GrammarLogitsProcessor:
    """A logits processor that masks every row with its own grammar matcher (one per generate call).

    Rows whose last token is an end-of-sequence id are left alone from then on (transformers pads them).
    With a token budget and the llguidance backend, a :class:`~formbound.models.forced.BudgetGuard` per
    row forces the shortest completion near the limit; with ``repetition_guard`` (llguidance only), a
    :class:`~formbound.models.repetition.RepeatGuard` per row cuts repeated elements and n-grams first.
    """

    def __init__(
        self,
        compiled: CompiledConstraint,
        eos_token_ids: Iterable[int],
        max_new_tokens: int | None = None,
        *,
        greedy: bool = False,
        repetition_guard: bool = False,
    ) -> None:
        self.compiled = compiled
        self.greedy = greedy
        self.repetition_guard = repetition_guard
        self.eos_token_ids = frozenset(int(t) for t in eos_token_ids)
        self.max_new_tokens = max_new_tokens
        self.rows: _Rows | None = None
        self.ended: list[bool] = []
        self.steps = 0
        self._bitmask: torch.Tensor | None = None

    def _new_rows(self, batch: int) -> _Rows:
        c = self.compiled
        if c.backend == "llguidance":
            closer = c.closer if self.max_new_tokens is not None else None
            repeat = None
            if self.repetition_guard and c.closer is not None:
                repeat = (c.closer.lltok.decode_bytes, c.closer.endings)
            return _LLGuidanceRows(
                c.artefact, batch, c.vocab_size, self.max_new_tokens, closer, self.eos_token_ids,
                self.greedy, repeat,
            )  # fmt: skip
        if c.backend == "outlines_core":
            return _OutlinesCoreRows(c.artefact, batch, c.vocab_size)
        return _XGrammarRows(c.artefact, batch, c.vocab_size)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        batch = scores.shape[0]
        if self.rows is None:
            self.rows = self._new_rows(batch)
            self.ended = [False] * batch
            self._bitmask = torch.zeros((batch, self.rows.words), dtype=torch.int32)
        else:
            self._advance(input_ids)
        assert self._bitmask is not None  # set together with rows
        skip = [row for row in range(batch) if self.ended[row]]
        guards, repeats = self.rows.guards, self.rows.repeats
        for row in range(batch):
            if not self.ended[row]:
                self.rows.fill(row, self._bitmask)
                if repeats is not None and (guards is None or guards[row].forced is None):
                    repeats[row].restrict(self._bitmask[row], scores[row])
                if guards is not None:
                    guards[row].restrict(self._bitmask[row], scores[row])
        self.steps += 1
        return apply_bitmask(scores, self._bitmask, skip)

    def _advance(self, input_ids: torch.Tensor) -> None:
        assert self.rows is not None
        last = input_ids[:, -1].tolist()
        for row, token in enumerate(last):
            if self.ended[row]:
                continue
            if token in self.eos_token_ids:
                self.ended[row] = True
            else:
                self.rows.consume(row, int(token))

    @property
    def forced_close(self) -> list[bool]:
        """Per row: the budget guard forced the shortest completion (the model did not close by itself)."""
        if self.rows is None or self.rows.guards is None:
            return [False] * len(self.ended)
        return [g.forced_close for g in self.rows.guards]

    @property
    def repeats_blocked(self) -> list[int]:
        """Per row: candidates the repetition guard forbade (zeros without the guard)."""
        if self.rows is None or self.rows.repeats is None:
            return [0] * len(self.ended)
        return [r.blocked for r in self.rows.repeats]

    def finish(self, last_tokens: Sequence[int]) -> list[bool]:
        """Feed each row's final token and say, per row, whether the grammar was complete.

        A row that ended with end-of-sequence counts as complete (the grammar only allows that token
        where the output may end).
        """
        if self.rows is None:  # generate never ran a step (max_new_tokens == 0)
            return [False] * len(last_tokens)
        done: list[bool] = []
        for row, token in enumerate(last_tokens):
            if self.ended[row] or token in self.eos_token_ids:
                done.append(True)
                continue
            self.rows.consume(row, int(token))
            done.append(self.rows.complete(row))
        return done


def make_processor(
    compiled: CompiledConstraint,
    eos_token_ids: Iterable[int],
    max_new_tokens: int | None = None,
    *,
    greedy: bool = False,
    repetition_guard: bool = False,
) -> GrammarLogitsProcessor:
    """A fresh per-call processor for ``compiled`` (see the module docstring for the protocol).

    Args:
        compiled: From :meth:`formbound.models.constrained.GrammarCompiler.compile`.
        eos_token_ids: Tokens that end a row.
        max_new_tokens: The token budget; with llguidance, turns on forced completion near the limit.
        greedy: Decoding is greedy (the budget guard then checks fewer candidates per step).
        repetition_guard: Cut repeated array elements and string n-grams (llguidance only; opt-in).
    """
    return GrammarLogitsProcessor(
        compiled, eos_token_ids, max_new_tokens, greedy=greedy, repetition_guard=repetition_guard
    )

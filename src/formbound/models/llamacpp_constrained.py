"""Grammar masks for llama.cpp models: llguidance, applied per token through llama-cpp-python.

A :class:`~formbound.constraints.Constraint` is compiled once per model by :class:`LlamaCppGrammars`
into an ``llguidance.LLMatcher`` over the GGUF's own vocabulary (``llguidance.llamacpp``), and cached by
``constraint.key``. Every generation gets a :class:`LLGuidanceMask`: a llama-cpp-python logits processor
with its own copy of the matcher, which feeds it the tokens generated so far and sets every token the
grammar forbids to ``-inf``.

Fallback chain (the same routes as the transformers path, llguidance only): the constraint as given
(``"llguidance"``); for a JSON Schema, llguidance's ``lenient`` mode, then schemas with risky keywords
dropped, then the top-level type alone (``"relaxed:llguidance"``). Post-validation of the output stays
the caller's job: a relaxed grammar accepts more than the schema.

With a token budget, the same budget guard as the transformers route runs here (one code path,
:class:`~formbound.models.forced.BudgetGuard` over numpy words instead of torch ones): a JSON Schema's arrays
are bounded for the budget bucket (:func:`~formbound.constraints.bounds.budget_schema`, grammars cached per
``(constraint.key, bucket)``) and the shortest valid completion is forced near the limit; the mask then
reports ``forced_close``.

Where this meets :mod:`formbound.models.constrained`: both compile with ``llguidance.grammar_from`` and
``llguidance.LLMatcher`` and share :func:`~formbound.models.constrained.relax_schema`; only the tokenizer
(GGUF vocabulary here, Hugging Face tokenizer there) and the mask kernel (numpy here, torch there)
differ. A backend-agnostic masking API can take this module's :class:`CompiledGrammar` as its llguidance
artefact.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from formbound.constraints.bounds import budget_bucket, budget_schema
from formbound.errors import DependencyError, GenerationError
from formbound.models.constrained import DEFAULT_WHITESPACE, RISKY_KEYWORDS, relax_schema
from formbound.models.forced import BudgetGuard, Closer
from formbound.models.repetition import RepeatGuard

if TYPE_CHECKING:
    import numpy as np

    from formbound.constraints import Constraint

__all__ = ["CompiledGrammar", "LLGuidanceMask", "LlamaCppGrammars", "lltokenizer_for"]


def lltokenizer_for(llama: Any, eos_tokens: Sequence[int]) -> Any:
    """An ``llguidance.LLTokenizer`` over a ``llama_cpp.Llama``'s vocabulary (about 1–2 s: cache it)."""
    try:
        import llama_cpp
        from llguidance.llamacpp import lltokenizer_from_vocab
    except ImportError as exc:
        raise DependencyError(
            "constrained decoding on llama.cpp needs llguidance and llama-cpp-python: "
            "pip install 'formbound[llamacpp]'"
        ) from exc
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    with warnings.catch_warnings():
        # llguidance reads token attributes through a llama_cpp function deprecated in newer releases
        # (one warning per token); the values are the same.
        warnings.simplefilter("ignore", DeprecationWarning)
        return lltokenizer_from_vocab(vocab, n_vocab=llama.n_vocab(), eos_token=list(eos_tokens))


@dataclass
class CompiledGrammar:
    """A constraint compiled for one llama.cpp vocabulary.

    Attributes:
        route: ``"llguidance"`` or ``"relaxed:llguidance"``.
        matcher: The initial ``llguidance.LLMatcher`` (copied for every generation).
        dropped: Schema keywords a relaxed route removed (``("*lenient*",)`` for lenient mode without a
            list, ``("*all*",)`` when only the top-level type was kept).
        seconds: Compile time.
        bucket: The token-budget bucket the grammar was bounded for (``None``: no budget bounds).
        min_cost: Tokens of the cheapest complete answer (estimated; 1 when unknown).
        closer: The closing-plan finder for forced completion.
    """

    route: str
    matcher: Any
    dropped: tuple[str, ...] = ()
    seconds: float = 0.0
    bucket: int | None = None
    min_cost: int = 1
    closer: Closer | None = None

    def mask(
        self,
        prompt_tokens: int,
        n_vocab: int,
        eos_tokens: Sequence[int],
        budget: int | None = None,
        *,
        greedy: bool = False,
        repetition_guard: bool = False,
    ) -> LLGuidanceMask:
        """A fresh logits processor for one generation whose prompt has ``prompt_tokens`` tokens.

        With ``budget`` (the generation's token limit) and a closer, the mask forces the shortest
        completion near the limit (:class:`~formbound.models.forced.BudgetGuard`); with
        ``repetition_guard``, it cuts repeated elements and n-grams (:mod:`formbound.models.repetition`).
        """
        matcher = self.matcher.deep_copy()
        guard = repeat = None
        if budget is not None and self.closer is not None:
            guard = BudgetGuard(self.closer, matcher, budget, eos_tokens, greedy=greedy)
        if repetition_guard and self.closer is not None:
            repeat = RepeatGuard(self.closer.lltok.decode_bytes, self.closer.endings)
        return LLGuidanceMask(matcher, prompt_tokens, n_vocab, eos_tokens, guard=guard, repeat=repeat)


class LLGuidanceMask:
    """A llama-cpp-python logits processor: ``(input_ids, logits) -> logits`` with forbidden tokens at -inf.

    ``input_ids`` holds the prompt followed by the tokens generated so far; the ones not yet seen are
    fed to the matcher before the mask for the next token is computed. A ``guard`` (over the same matcher)
    narrows the mask so the output closes within the budget; a ``repeat`` guard cuts loops before that.
    """

    def __init__(
        self,
        matcher: Any,
        prompt_tokens: int,
        n_vocab: int,
        eos_tokens: Sequence[int],
        *,
        guard: BudgetGuard | None = None,
        repeat: RepeatGuard | None = None,
    ) -> None:
        import numpy as np

        self.matcher = matcher
        self.guard = guard
        self.repeat = repeat
        self.eos_tokens = tuple(eos_tokens)
        self.prompt_tokens = prompt_tokens
        self.n_vocab = n_vocab
        self.consumed = 0
        self.error: BaseException | None = None
        self._np = np
        self._words = np.zeros((n_vocab + 31) // 32, dtype=np.int32)

    def feed(self, tokens: Sequence[int]) -> None:
        """Advance the matcher over generated tokens (raises when the grammar rejects one)."""
        for token in tokens:
            if not self.matcher.consume_token(int(token)):
                raise GenerationError(
                    f"the llguidance matcher rejected token {int(token)}: {self.matcher.get_error()}"
                )
            self.consumed += 1
            if self.guard is not None:
                self.guard.consumed(int(token))
            if self.repeat is not None:
                self.repeat.consumed(int(token))

    @property
    def forced_close(self) -> bool:
        """The budget guard forced the shortest completion (the model did not close by itself)."""
        return self.guard is not None and self.guard.forced_close

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        # llama-cpp-python calls this from a ctypes callback, which prints and swallows exceptions: an
        # error is kept for the caller (raise_error) and the step is masked to nothing but end-of-text.
        np = self._np
        try:
            if self.error is None:
                new = input_ids[self.prompt_tokens + self.consumed :]
                if len(new):
                    self.feed(new.tolist())
                words = self._words
                self.matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)
                if self.repeat is not None and (self.guard is None or self.guard.forced is None):
                    self.repeat.restrict(words, logits)
                if self.guard is not None:
                    self.guard.restrict(words, logits)
                bits = np.unpackbits(words.view(np.uint8), bitorder="little")
                logits[bits[: len(logits)] == 0] = -np.inf
                return logits
        except BaseException as exc:  # kept, re-raised by raise_error after the step
            self.error = exc
        logits[:] = -np.inf
        for token in self.eos_tokens:
            logits[token] = 0.0
        return logits

    def raise_error(self) -> None:
        """Raise the error a masking step hit, if any (as a :class:`GenerationError`)."""
        if self.error is not None:
            if isinstance(self.error, GenerationError):
                raise self.error
            raise GenerationError(f"masking a token failed: {self.error!r}") from self.error

    def complete(self) -> bool:
        """True when the grammar accepts what was generated and allows nothing more (or accepts it and
        the budget guard closed it)."""
        m = self.matcher
        return bool(not m.is_error() and (m.is_stopped() or (self.forced_close and m.is_accepting())))


class LlamaCppGrammars:
    """Compiles constraints for one llama.cpp model, cached by ``constraint.key``.

    Args:
        llama: The ``llama_cpp.Llama`` (its vocabulary is read once, on the first compile).
        eos_tokens: Tokens that end a turn (the grammar allows them where the output may end).
        whitespace_pattern: Whitespace allowed between JSON tokens (bounded by default).
        relax: Fall back to relaxed JSON schemas when the strict one does not compile.
    """

    def __init__(
        self,
        llama: Any,
        eos_tokens: Sequence[int],
        *,
        whitespace_pattern: str | None = DEFAULT_WHITESPACE,
        relax: bool = True,
    ) -> None:
        self.llama = llama
        self.eos_tokens = tuple(eos_tokens)
        self.whitespace_pattern = whitespace_pattern
        self.relax = relax
        self.tokenizer_seconds = 0.0
        self._tokenizer: Any = None
        self._cache: dict[tuple[str, int | None], CompiledGrammar] = {}
        self._closers: dict[bool, Closer] = {}
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            start = time.perf_counter()
            self._tokenizer = lltokenizer_for(self.llama, self.eos_tokens)
            self.tokenizer_seconds = time.perf_counter() - start
        return self._tokenizer

    def compile(self, constraint: Constraint, max_new_tokens: int | None = None) -> CompiledGrammar:
        """The compiled form of ``constraint``, from the cache or along the fallback chain.

        Args:
            constraint: What to compile.
            max_new_tokens: The generation's token budget; a JSON Schema's arrays are then bounded for
                its bucket (the forced completion itself is turned on per generation, by the mask).

        Raises:
            GenerationError: no route compiles it; the message lists every route tried and its error.
        """
        bucket = budget_bucket(max_new_tokens) if constraint.kind == "json_schema" else None
        key = (constraint.key, bucket)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            start = time.perf_counter()
            value, min_cost = constraint.value, 1
            if bucket is not None:
                value, min_cost = budget_schema(value, bucket, self.count_tokens)
            compiled = self._chain(constraint, value)
            compiled.closer = self._closer(constraint.kind == "json_schema")
            compiled.bucket, compiled.min_cost = bucket, min_cost
            compiled.seconds = time.perf_counter() - start
            self._cache[key] = compiled
            return compiled

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this vocabulary (no special tokens, no BOS)."""
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _closer(self, json_mode: bool) -> Closer:
        if json_mode not in self._closers:
            self._closers[json_mode] = Closer(self.tokenizer, json_mode=json_mode)
        return self._closers[json_mode]

    def _chain(self, constraint: Constraint, value: Any) -> CompiledGrammar:
        failures: list[str] = []
        prefix = "relaxed:" if constraint.relaxed else ""
        try:
            return CompiledGrammar(prefix + "llguidance", self._matcher(constraint.kind, value))
        except GenerationError as exc:
            failures.append(f"llguidance: {exc}")
        if constraint.kind == "json_schema" and self.relax:
            for dropped, schema in _relaxations(value):
                try:
                    return CompiledGrammar(
                        "relaxed:llguidance", self._matcher("json_schema", schema), dropped
                    )
                except GenerationError as exc:
                    failures.append(f"relaxed:llguidance ({', '.join(dropped)}): {exc}")
        raise GenerationError(
            f"cannot compile the {constraint.kind} constraint with llguidance ({'; '.join(failures)}). "
            f"Simplify the {constraint.kind}."
        )

    def _matcher(self, kind: str, value: Any) -> Any:
        import llguidance

        try:
            if kind == "json_schema":
                grammar = llguidance.grammar_from(
                    "json_schema", _with_whitespace(value, self.whitespace_pattern)
                )
            else:
                grammar = llguidance.grammar_from("lark" if kind == "lark" else "regex", value)
            matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise GenerationError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        if matcher.is_error():
            raise GenerationError(str(matcher.get_error())[:300])
        return matcher


def _relaxations(schema: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Relaxed schemas, loosest last: lenient llguidance, risky keywords dropped, the top-level type."""
    if isinstance(schema, dict):
        options = {**dict(schema.get("x-guidance") or {}), "lenient": True}
        yield ("*lenient*",), {**schema, "x-guidance": options}
    drop: list[str] = []
    for group in RISKY_KEYWORDS:
        drop.extend(group)
        relaxed, found = relax_schema(schema, drop)
        if found:
            yield found, relaxed
    kind = schema.get("type") if isinstance(schema, dict) else None
    yield ("*all*",), {"type": kind} if isinstance(kind, str) else {}


def _with_whitespace(schema: Any, pattern: str | None) -> str:
    """The schema as JSON text with llguidance's whitespace option set, unless it sets its own."""
    if isinstance(schema, str):
        schema = json.loads(schema)
    if pattern is not None and isinstance(schema, dict):
        options = dict(schema.get("x-guidance") or {})
        if "whitespace_pattern" not in options and "whitespace_flexible" not in options:
            schema = {**schema, "x-guidance": {**options, "whitespace_pattern": pattern}}
    return json.dumps(schema)

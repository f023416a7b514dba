"""Compiling constraints for one tokenizer: the fallback chain, the compile budget, the cache.

A :class:`~formbound.constraints.Constraint` is compiled by :class:`GrammarCompiler` and cached by
``(constraint.key, budget bucket, backend chain)``; every generate call then gets a fresh processor from
:meth:`CompiledConstraint.processor` (see :mod:`formbound.models.masking`).

Fallback chain (every compile under the compile budget, default 2 s, then the next route):

1. each backend of ``backends`` in order, with the constraint as given, except that when llguidance
   refuses a JSON Schema, its relaxations are tried on llguidance right away (lenient mode, then keywords
   dropped, loosest last): llguidance compiles in milliseconds, while outlines-core can take minutes on
   the same schema and silently ignores the same keywords;
2. for JSON Schema, the relaxations on the other backends (only reached without llguidance).

The route taken is recorded as ``"llguidance"``, ``"outlines_core"``, ``"relaxed:llguidance"`` and so on.
Post-validation of the output is the caller's job and never optional: a relaxed grammar accepts more.

With a known token budget (``max_new_tokens``), a JSON Schema's arrays are bounded so a complete answer
fits (:func:`formbound.constraints.bounds.budget_schema`), and the llguidance processor forces the
shortest completion near the limit (:mod:`formbound.models.forced`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from formbound._util import suggest
from formbound.constraints.bounds import budget_bucket, budget_schema
from formbound.constraints.relax import RISKY_KEYWORDS, SILENTLY_IGNORED, relax_schema, shape_only
from formbound.errors import ConfigError, GenerationError
from formbound.models.backends import (
    DEFAULT_COMPILE_BUDGET_S,
    BackendTokenizers,
    CompileFailure,
    compile_with,
    with_llg_whitespace,
)
from formbound.models.forced import Closer
from formbound.models.masking import GrammarLogitsProcessor, apply_bitmask, make_processor

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = [
    "BACKENDS",
    "DEFAULT_WHITESPACE",
    "CompiledConstraint",
    "GrammarCompiler",
    "GrammarLogitsProcessor",
    "apply_bitmask",
    "make_processor",
    "relax_schema",
    "with_llg_whitespace",
]

#: Backends in the default fallback order.
BACKENDS: tuple[str, ...] = ("llguidance", "outlines_core", "xgrammar")
#: Grammar dialects each backend accepts (``lark-llguidance`` is llguidance's own Lark).
SUPPORTS: dict[str, frozenset[str]] = {
    "llguidance": frozenset({"json_schema", "regex", "lark", "lark-llguidance"}),
    "outlines_core": frozenset({"json_schema", "regex"}),
    "xgrammar": frozenset({"json_schema", "regex"}),
}
#: Whitespace allowed between JSON tokens: at most one space, so a model cannot loop on spaces or
#: newlines until the token limit (the default of every backend is unbounded).
DEFAULT_WHITESPACE = r"[ ]?"


@dataclass
class CompiledConstraint:
    """A constraint compiled for one tokenizer by one backend.

    Attributes:
        route: How the constraint is applied, e.g. ``"llguidance"`` or ``"relaxed:outlines_core"``.
        backend: The backend that compiled it.
        artefact: What the backend produced (llguidance matcher, outlines-core index, xgrammar grammar).
        vocab_size: Width of the token mask.
        dropped: Schema keywords dropped by relaxation; for llguidance's lenient mode, the keywords it
            reported as unimplemented (``("*lenient*",)`` when it named none), ``("*all*",)`` when only
            the top-level type was kept.
        unenforced: Keywords of the (possibly relaxed) schema this backend compiles but does not enforce.
        seconds: Compile time.
        failures: ``(route, error)`` for every route tried before this one.
        bucket: The token-budget bucket the grammar was bounded for (``None``: no budget bounds).
        min_cost: Tokens of the cheapest complete answer (estimated; 1 when unknown).
        closer: The closing-plan finder for forced completion (llguidance only).
    """

    route: str
    backend: str
    artefact: Any
    vocab_size: int
    dropped: tuple[str, ...] = ()
    unenforced: tuple[str, ...] = ()
    seconds: float = 0.0
    failures: tuple[tuple[str, str], ...] = field(default=())
    bucket: int | None = None
    min_cost: int = 1
    closer: Closer | None = None

    def processor(
        self,
        eos_token_ids: Iterable[int],
        max_new_tokens: int | None = None,
        *,
        greedy: bool = False,
        repetition_guard: bool = False,
    ) -> GrammarLogitsProcessor:
        """A fresh logits processor (new matcher state) over this compiled grammar."""
        return make_processor(
            self, eos_token_ids, max_new_tokens, greedy=greedy, repetition_guard=repetition_guard
        )


class GrammarCompiler:
    """Compiles constraints for one tokenizer; caches them by key, budget bucket and backend chain.

    Args:
        model: The Hugging Face model, only read for the width of its logits (may be ``None``).
        tokenizer: A Hugging Face tokenizer; end-of-sequence must be right before the first compile.
        backends: Backends to try, in order. The first is the preferred one.
        whitespace_pattern: Regex for whitespace between JSON tokens (bounded by default).
        relax: Fall back to relaxed JSON schemas when no backend compiles the given one.
        compile_budget_s: Seconds one backend may spend on one compile (``None``: no limit).
        vocab_size: Width of the logits, when ``model`` is not given.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        backends: Sequence[str] = BACKENDS,
        whitespace_pattern: str | None = DEFAULT_WHITESPACE,
        relax: bool = True,
        compile_budget_s: float | None = DEFAULT_COMPILE_BUDGET_S,
        vocab_size: int | None = None,
    ) -> None:
        self.backends = check_backends(backends)
        self.tokenizer = tokenizer
        self.whitespace_pattern = whitespace_pattern
        self.relax = relax
        self.compile_budget_s = compile_budget_s
        self.vocab_size = vocab_size or max(len(tokenizer), _model_vocab(model))
        self.tokenizers = BackendTokenizers(tokenizer, self.vocab_size)
        self.compiles = 0
        self.compile_seconds = 0.0
        self._cache: dict[tuple[Any, ...], CompiledConstraint] = {}
        self._closers: dict[bool, Closer] = {}
        self._unavailable: dict[str, str] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- public
    def compile(self, constraint: Constraint, max_new_tokens: int | None = None) -> CompiledConstraint:
        """The compiled form of ``constraint``: from the cache, or compiled along the fallback chain.

        Args:
            constraint: What to compile.
            max_new_tokens: The generation's token budget; a JSON Schema's arrays are then bounded for
                its bucket (:func:`~formbound.constraints.bounds.budget_bucket`).

        Raises:
            GenerationError: no route compiles it (for regex and Lark there is no relaxation); the
                message lists every route tried and its error.
        """
        bucket = budget_bucket(max_new_tokens) if constraint.kind == "json_schema" else None
        key = (constraint.key, bucket, *self.backends)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            start = time.perf_counter()
            value, min_cost = constraint.value, 1
            if bucket is not None:
                value, min_cost = budget_schema(value, bucket, self.count_tokens)
            compiled = self._compile_chain(constraint, value)
            if constraint.kind == "json_schema":
                ignored = SILENTLY_IGNORED.get(compiled.backend, ())
                compiled.unenforced = relax_schema(constraint.value, ignored)[1] if ignored else ()
            if compiled.backend == "llguidance":
                compiled.closer = self._closer(constraint.kind == "json_schema")
            compiled.bucket, compiled.min_cost = bucket, min_cost
            compiled.seconds = time.perf_counter() - start
            self.compiles += 1
            self.compile_seconds += compiled.seconds
            self._cache[key] = compiled
            return compiled

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this tokenizer (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def clear(self) -> None:
        """Forget compiled constraints (backend tokenizer data is kept)."""
        with self._lock:
            self._cache.clear()

    @property
    def cached(self) -> int:
        return len(self._cache)

    # ------------------------------------------------------------- chain
    def _closer(self, json_mode: bool) -> Closer:
        if json_mode not in self._closers:
            self._closers[json_mode] = Closer(self.tokenizers.get("llguidance"), json_mode=json_mode)
        return self._closers[json_mode]

    def _compile_chain(self, constraint: Constraint, value: Any) -> CompiledConstraint:
        failures: list[tuple[str, str]] = []
        prefix = "relaxed:" if constraint.relaxed else ""
        relaxing = constraint.kind == "json_schema" and self.relax
        for backend in self.backends:
            if constraint.dialect not in SUPPORTS[backend]:
                failures.append(
                    (prefix + backend, f"{backend} does not take the {constraint.dialect} dialect")
                )
                continue
            try:
                artefact = self._compile_one(backend, constraint.kind, value)
            except CompileFailure as exc:
                failures.append((prefix + backend, str(exc)))
                if backend == "llguidance" and relaxing:
                    found = self._relaxed(value, ["llguidance"], failures)
                    if found is not None:
                        return found
                continue
            return CompiledConstraint(
                prefix + backend, backend, artefact, self.vocab_size, failures=tuple(failures)
            )
        if relaxing:
            others = [b for b in self.backends if b != "llguidance" and "json_schema" in SUPPORTS[b]]
            found = self._relaxed(value, others, failures)
            if found is not None:
                return found
        tried = "; ".join(f"{route}: {_first_line(err)}" for route, err in failures) or "no backend"
        raise GenerationError(
            f"cannot compile the {constraint.kind} constraint {_preview(constraint.value)} with any of "
            f"the backends {list(self.backends)} ({tried}). Simplify the {constraint.kind} or install "
            "another backend."
        )

    def _relaxed(
        self, schema: Any, backends: Sequence[str], failures: list[tuple[str, str]]
    ) -> CompiledConstraint | None:
        for dropped, relaxed, only in self._relaxations(schema, failures):
            for backend in backends:
                if only is not None and backend != only:
                    continue
                try:
                    artefact = self._compile_one(backend, "json_schema", relaxed)
                except CompileFailure as exc:
                    failures.append(("relaxed:" + backend, str(exc)))
                    continue
                return CompiledConstraint(
                    "relaxed:" + backend,
                    backend,
                    artefact,
                    self.vocab_size,
                    dropped,
                    failures=tuple(failures),
                )
        return None

    def _relaxations(
        self, schema: Any, failures: list[tuple[str, str]]
    ) -> Iterator[tuple[tuple[str, ...], Any, str | None]]:
        """Relaxed schemas to try, loosest last: (dropped keywords, schema, only this backend or None)."""
        if isinstance(schema, dict):
            lenient = dict(schema)
            lenient["x-guidance"] = {**dict(schema.get("x-guidance") or {}), "lenient": True}
            yield _unimplemented(failures) or ("*lenient*",), lenient, "llguidance"
        drop: list[str] = []
        for group in RISKY_KEYWORDS:
            drop.extend(group)
            relaxed, found = relax_schema(schema, drop)
            if found:
                yield found, relaxed, None
        yield ("*all*",), shape_only(schema), None

    def _compile_one(self, backend: str, kind: str, value: Any) -> Any:
        """Compile with one backend under the compile budget."""
        if backend in self._unavailable:
            raise CompileFailure(self._unavailable[backend])
        try:
            return compile_with(
                self.tokenizers, backend, kind, value, self.whitespace_pattern, self.compile_budget_s
            )
        except ImportError as exc:
            self._unavailable[backend] = f"backend {backend!r} is not installed ({exc})"
            raise CompileFailure(self._unavailable[backend]) from exc


def check_backends(backends: Sequence[str] | str) -> tuple[str, ...]:
    """Validate a backend name or chain; a typo gets "did you mean …"."""
    names = (backends,) if isinstance(backends, str) else tuple(backends)
    if not names:
        raise ConfigError("backends must name at least one of " + ", ".join(BACKENDS))
    for name in names:
        if name not in BACKENDS:
            hint = suggest(str(name), list(BACKENDS))
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise ConfigError(
                f"unknown constrained-decoding backend {name!r} (known: {', '.join(BACKENDS)}){extra}"
            )
    return names


def backend_chain(backend: str) -> tuple[str, ...]:
    """``backend`` first, then the other backends in the default order (the fallback chain)."""
    first = check_backends(backend)[0]
    return (first, *(b for b in BACKENDS if b != first))


def _model_vocab(model: Any) -> int:
    config = getattr(model, "config", None)
    getter = getattr(config, "get_text_config", None)
    text_config = getter() if callable(getter) else config
    return int(getattr(text_config, "vocab_size", 0) or 0)


def _unimplemented(failures: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Keywords llguidance reported as unimplemented (what its lenient mode then ignores)."""
    for route, error in failures:
        found = re.search(r"Unimplemented keys: \[([^\]]*)\]", error)
        if route.endswith("llguidance") and found:
            return tuple(sorted(k.strip().strip('"') for k in found.group(1).split(",") if k.strip()))
    return ()


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return re.sub(r"\s+", " ", line)[:200]


def _preview(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")

"""Grammar-constrained decoding for Hugging Face models, through outlines' backends.

A :class:`~formbound.constraints.Constraint` (JSON Schema, regex or Lark grammar) is compiled once per
tokenizer by :class:`GrammarCompiler` and cached by ``constraint.key``; every ``generate`` call then gets a
fresh :class:`GrammarLogitsProcessor` (new per-row matcher state, the compiled grammar reused), which is
passed to ``model.generate(logits_processor=...)``.

How outlines is used: its backend classes (``LLGuidanceBackend``, ``OutlinesCoreBackend``,
``XGrammarBackend``) convert the tokenizer once per model (llguidance tokenizer, outlines-core vocabulary,
xgrammar tokenizer info), and the grammar is compiled with the same calls their
``get_*_logits_processor`` methods make. Outlines' processors themselves are not used, because they

* keep feeding padding tokens to the matcher of a row that already ended in a batch (llguidance then
  enters an error state and warns on every step),
* import ``torch._dynamo`` when built and apply the mask with a ``torch.compile``-d kernel (1.5–2.5 s on
  the first constrained call of a process on CPU),
* cannot tell afterwards whether a row stopped because the grammar was complete.

The per-step masking is therefore done here, in plain torch.

Fallback chain, when a backend cannot compile a constraint (see :meth:`GrammarCompiler.compile`):
every backend of ``backends`` in order with the constraint as given; then, for JSON Schema only, relaxed
schemas (llguidance's ``lenient`` mode, then keywords dropped) on each backend; the route taken is
recorded as ``"llguidance"``, ``"outlines_core"``, ``"relaxed:llguidance"`` and so on. Post-validation of
the output is the caller's job and never optional: a relaxed grammar accepts more than the schema.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from formbound._util import suggest
from formbound.errors import ConfigError, DependencyError, GenerationError

if TYPE_CHECKING:
    import torch

    from formbound.constraints import Constraint

__all__ = [
    "BACKENDS",
    "DEFAULT_WHITESPACE",
    "CompiledConstraint",
    "GrammarCompiler",
    "GrammarLogitsProcessor",
    "apply_bitmask",
    "relax_schema",
]

#: Backends in the default fallback order.
BACKENDS: tuple[str, ...] = ("llguidance", "outlines_core", "xgrammar")
#: Constraint kinds each backend accepts (outlines' xgrammar backend takes EBNF, not Lark).
SUPPORTS: dict[str, frozenset[str]] = {
    "llguidance": frozenset({"json_schema", "regex", "lark"}),
    "outlines_core": frozenset({"json_schema", "regex"}),
    "xgrammar": frozenset({"json_schema", "regex"}),
}
#: Whitespace allowed between JSON tokens: at most one space, so a model cannot loop on spaces or
#: newlines until the token limit (the default of every backend is unbounded).
DEFAULT_WHITESPACE = r"[ ]?"

#: Keywords dropped, in this order, when no backend compiles a schema (the structural keywords
#: type/properties/items/required/enum/const stay as long as possible).
RISKY_KEYWORDS: tuple[tuple[str, ...], ...] = (
    ("pattern", "patternProperties", "format"),
    ("not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies"),
    ("uniqueItems", "contains", "minContains", "maxContains", "multipleOf", "propertyNames"),
    ("unevaluatedProperties", "unevaluatedItems", "minProperties", "maxProperties", "$dynamicRef"),
    ("minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
     "minItems", "maxItems", "oneOf", "allOf"),
)  # fmt: skip

#: Keywords a backend compiles without error but does not enforce (measured: outlines-core 0.2 accepts
#: numbers outside minimum/maximum and repeated items under uniqueItems). Post-validation catches them.
SILENTLY_IGNORED: dict[str, tuple[str, ...]] = {
    "outlines_core": (
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
    ),
    "xgrammar": ("multipleOf", "uniqueItems", "not", "if", "then", "else"),
}  # fmt: skip

# Schema keywords whose value is a map name -> subschema, or a subschema / list of subschemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ITEMS = (
    "items", "prefixItems", "additionalItems", "additionalProperties", "unevaluatedItems",
    "unevaluatedProperties", "contains", "propertyNames", "not", "if", "then", "else",
    "allOf", "anyOf", "oneOf",
)  # fmt: skip


def relax_schema(schema: Any, drop: Iterable[str]) -> tuple[Any, tuple[str, ...]]:
    """A copy of ``schema`` without the keywords in ``drop``, wherever they occur as schema keywords.

    Property *names* are never touched (a property called ``"pattern"`` stays).

    Returns:
        The relaxed schema and the keywords that were actually present and dropped (sorted).

    >>> relax_schema({"type": "string", "pattern": "^a", "properties": {"pattern": {}}}, ["pattern"])
    ({'type': 'string', 'properties': {'pattern': {}}}, ('pattern',))
    """
    dropset = set(drop)
    found: set[str] = set()

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in dropset:
                found.add(key)
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in _SCHEMA_ITEMS and isinstance(value, list):
                out[key] = [walk(sub) for sub in value]
            elif key in _SCHEMA_ITEMS:
                out[key] = walk(value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    return walk(schema), tuple(sorted(found))


def _shape_only(schema: Any) -> dict[str, Any]:
    """The loosest schema that keeps the top-level JSON type (any JSON when there is none)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, str) and kind in ("object", "array", "string", "number", "integer", "boolean"):
        return {"type": kind}
    return {}


def apply_bitmask(scores: torch.Tensor, bitmask: torch.Tensor, skip: Sequence[int] = ()) -> torch.Tensor:
    """``scores`` with every token whose bit is 0 in ``bitmask`` set to ``-inf``.

    A plain-torch kernel (no ``torch.compile``, which costs seconds on the first call on CPU).

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


# ------------------------------------------------------------------------------------------- rows
class _Rows:
    """Per-row grammar state for one generate call (one matcher per batch row)."""

    words: int

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        raise NotImplementedError

    def consume(self, row: int, token: int) -> None:
        raise NotImplementedError

    def complete(self, row: int) -> bool:
        """True when the grammar cannot continue (only end-of-sequence is allowed)."""
        raise NotImplementedError


class _LLGuidanceRows(_Rows):
    def __init__(self, template: Any, batch: int, vocab_size: int) -> None:
        self.matchers = [template.deep_copy() for _ in range(batch)]
        self.words = (vocab_size + 31) // 32

    def fill(self, row: int, bitmask: torch.Tensor) -> None:
        # What llguidance.torch.fill_next_token_bitmask does, without importing llguidance.torch
        # (its module-level torch.compile decorator costs ~1.6 s on the first import).
        target = bitmask[row]
        self.matchers[row].unsafe_compute_mask_ptr(target.data_ptr(), target.numel() * target.element_size())

    def consume(self, row: int, token: int) -> None:
        matcher = self.matchers[row]
        if not matcher.consume_token(token):
            raise GenerationError(f"the llguidance matcher rejected token {token}: {matcher.get_error()}")

    def complete(self, row: int) -> bool:
        matcher = self.matchers[row]
        return bool(matcher.is_stopped() and not matcher.is_error())


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


# -------------------------------------------------------------------------------------- processor
class GrammarLogitsProcessor:
    """A ``transformers`` logits processor that masks every row with its own grammar matcher.

    Build one per generate call with :meth:`CompiledConstraint.processor`; it is not reusable.
    Rows whose last token is an end-of-sequence id are left alone from then on (transformers pads them).
    """

    def __init__(self, compiled: CompiledConstraint, eos_token_ids: Iterable[int]) -> None:
        self.compiled = compiled
        self.eos_token_ids = frozenset(int(t) for t in eos_token_ids)
        self.rows: _Rows | None = None
        self.ended: list[bool] = []
        self.steps = 0
        self._bitmask: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        batch = scores.shape[0]
        if self.rows is None:
            self.rows = self.compiled.new_rows(batch)
            self.ended = [False] * batch
            self._bitmask = torch.zeros((batch, self.rows.words), dtype=torch.int32)
        else:
            self._advance(input_ids)
        assert self._bitmask is not None  # set together with rows
        skip = [row for row in range(batch) if self.ended[row]]
        for row in range(batch):
            if not self.ended[row]:
                self.rows.fill(row, self._bitmask)
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


# -------------------------------------------------------------------------------------- compiled
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
    """

    route: str
    backend: str
    artefact: Any
    vocab_size: int
    dropped: tuple[str, ...] = ()
    unenforced: tuple[str, ...] = ()
    seconds: float = 0.0
    failures: tuple[tuple[str, str], ...] = field(default=())

    def new_rows(self, batch: int) -> _Rows:
        if self.backend == "llguidance":
            return _LLGuidanceRows(self.artefact, batch, self.vocab_size)
        if self.backend == "outlines_core":
            return _OutlinesCoreRows(self.artefact, batch, self.vocab_size)
        return _XGrammarRows(self.artefact, batch, self.vocab_size)

    def processor(self, eos_token_ids: Iterable[int]) -> GrammarLogitsProcessor:
        """A fresh logits processor (new matcher state) over this compiled grammar."""
        return GrammarLogitsProcessor(self, eos_token_ids)


class _CompileFailure(Exception):
    """A backend could not compile a constraint (internal; collected into the failure list)."""


class GrammarCompiler:
    """Compiles constraints for one model + tokenizer; caches them by ``constraint.key`` and backend chain.

    Args:
        model: The Hugging Face model (outlines' backends need the pair).
        tokenizer: Its tokenizer; end-of-sequence must be right before the first compile.
        backends: Backends to try, in order. The first is the preferred one.
        whitespace_pattern: Regex for whitespace between JSON tokens (bounded by default).
        relax: Fall back to relaxed JSON schemas when no backend compiles the given one.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        backends: Sequence[str] = BACKENDS,
        whitespace_pattern: str | None = DEFAULT_WHITESPACE,
        relax: bool = True,
    ) -> None:
        self.backends = check_backends(backends)
        self.model = model
        self.tokenizer = tokenizer
        self.whitespace_pattern = whitespace_pattern
        self.relax = relax
        self.compiles = 0
        self.compile_seconds = 0.0
        self._cache: dict[tuple[str, ...], CompiledConstraint] = {}
        self._backend_objects: dict[str, Any] = {}
        self._unavailable: dict[str, str] = {}
        self._outlines_model: Any = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- public
    def compile(self, constraint: Constraint) -> CompiledConstraint:
        """The compiled form of ``constraint``: from the cache, or compiled along the fallback chain.

        Raises:
            GenerationError: no route compiles it (for regex and Lark there is no relaxation); the
                message lists every route tried and its error.
        """
        key = (constraint.key, *self.backends)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            start = time.perf_counter()
            compiled = self._compile_chain(constraint)
            if constraint.kind == "json_schema":
                ignored = SILENTLY_IGNORED.get(compiled.backend, ())
                compiled.unenforced = relax_schema(constraint.value, ignored)[1] if ignored else ()
            compiled.seconds = time.perf_counter() - start
            self.compiles += 1
            self.compile_seconds += compiled.seconds
            self._cache[key] = compiled
            return compiled

    def clear(self) -> None:
        """Forget compiled constraints (backend tokenizer data is kept)."""
        with self._lock:
            self._cache.clear()

    @property
    def cached(self) -> int:
        return len(self._cache)

    # ------------------------------------------------------------- chain
    def _compile_chain(self, constraint: Constraint) -> CompiledConstraint:
        failures: list[tuple[str, str]] = []
        prefix = "relaxed:" if constraint.relaxed else ""
        value = constraint.value
        relaxations = (
            iter(self._relaxations(value, failures))
            if constraint.kind == "json_schema" and self.relax
            else iter(())
        )
        for backend in self.backends:
            if constraint.kind not in SUPPORTS[backend]:
                continue
            try:
                artefact, vocab = self._compile_one(backend, constraint.kind, value)
            except _CompileFailure as exc:
                failures.append((prefix + backend, str(exc)))
                if backend == "llguidance" and constraint.kind == "json_schema" and self.relax:
                    # Lenient llguidance compiles in milliseconds what strict llguidance refuses (unknown
                    # keywords); the other strict backends can take seconds and drop the same keywords
                    # silently, so it goes second (DESIGN.md: strict llguidance, then lenient, then the rest).
                    dropped, schema, _ = next(relaxations)
                    try:
                        artefact, vocab = self._compile_one("llguidance", "json_schema", schema)
                    except _CompileFailure as exc2:
                        failures.append(("relaxed:llguidance", str(exc2)))
                        continue
                    return CompiledConstraint(
                        "relaxed:llguidance", "llguidance", artefact, vocab, dropped, failures=tuple(failures)
                    )
                continue
            return CompiledConstraint(prefix + backend, backend, artefact, vocab, failures=tuple(failures))
        if constraint.kind == "json_schema" and self.relax:
            for dropped, schema, backends in relaxations:
                for backend in backends:
                    try:
                        artefact, vocab = self._compile_one(backend, "json_schema", schema)
                    except _CompileFailure as exc:
                        failures.append(("relaxed:" + backend, str(exc)))
                        continue
                    return CompiledConstraint(
                        "relaxed:" + backend, backend, artefact, vocab, dropped, failures=tuple(failures)
                    )
        tried = "; ".join(f"{route}: {_first_line(err)}" for route, err in failures) or "no backend"
        raise GenerationError(
            f"cannot compile the {constraint.kind} constraint {_preview(constraint.value)} with any of "
            f"the backends {list(self.backends)} ({tried}). Simplify the {constraint.kind} or install "
            "another backend."
        )

    def _relaxations(
        self, schema: Any, failures: list[tuple[str, str]]
    ) -> Iterator[tuple[tuple[str, ...], Any, Sequence[str]]]:
        """Relaxed schemas to try, loosest last: (dropped keywords, schema, backends).

        The first one (lenient llguidance) is taken lazily, so ``failures`` is read when it is reached.
        """
        json_backends = [b for b in self.backends if "json_schema" in SUPPORTS[b]]
        if "llguidance" in json_backends and isinstance(schema, dict):
            lenient = dict(schema)
            lenient["x-guidance"] = {**dict(schema.get("x-guidance") or {}), "lenient": True}
            yield _unimplemented(failures) or ("*lenient*",), lenient, ["llguidance"]
        drop: list[str] = []
        for group in RISKY_KEYWORDS:
            drop.extend(group)
            relaxed, found = relax_schema(schema, drop)
            if found:
                yield found, relaxed, json_backends
        yield ("*all*",), _shape_only(schema), json_backends

    # ----------------------------------------------------------- backends
    def _outlines(self) -> Any:
        if self._outlines_model is None:
            try:
                from outlines.models.transformers import Transformers
            except ImportError as exc:
                raise DependencyError(
                    "constrained decoding needs outlines: pip install 'formbound[models]'"
                ) from exc
            self._outlines_model = Transformers(self.model, self.tokenizer)
        return self._outlines_model

    def _backend(self, name: str) -> Any:
        if name in self._unavailable:
            raise _CompileFailure(self._unavailable[name])
        obj = self._backend_objects.get(name)
        if obj is not None:
            return obj
        try:
            if name == "llguidance":
                from outlines.backends.llguidance import LLGuidanceBackend as cls
            elif name == "outlines_core":
                from outlines.backends.outlines_core import OutlinesCoreBackend as cls  # type: ignore[assignment]
            else:
                import xgrammar  # noqa: F401  (outlines imports it lazily; fail here, clearly)
                from outlines.backends.xgrammar import XGrammarBackend as cls  # type: ignore[assignment]
            obj = cls(self._outlines())
        except ImportError as exc:
            self._unavailable[name] = f"backend {name!r} is not installed ({exc})"
            raise _CompileFailure(self._unavailable[name]) from exc
        self._backend_objects[name] = obj
        return obj

    def _vocab_size(self, backend: str, obj: Any) -> int:
        if backend == "llguidance":
            return int(obj.llg_tokenizer.vocab_size)
        return max(len(self.tokenizer), _model_vocab(self.model))

    def _compile_one(self, backend: str, kind: str, value: Any) -> tuple[Any, int]:
        """Compile with one backend, from the tokenizer data its outlines backend object prepared.

        This calls the same compilers as outlines' ``get_*_logits_processor`` methods but does not build
        outlines' processors: constructing one imports ``torch._dynamo`` and flips a global of it.
        """
        obj = self._backend(backend)
        ws = self.whitespace_pattern
        try:
            if backend == "llguidance":
                import llguidance

                if kind == "json_schema":
                    grammar = llguidance.grammar_from("json_schema", _with_llg_whitespace(value, ws))
                elif kind == "regex":
                    grammar = llguidance.grammar_from("regex", value)
                else:
                    grammar = llguidance.grammar_from("lark", value)
                matcher = llguidance.LLMatcher(obj.llg_tokenizer, grammar, log_level=0)
                if matcher.is_error():
                    raise _CompileFailure(matcher.get_error())
                return matcher, self._vocab_size(backend, obj)
            text = value if isinstance(value, str) else json.dumps(value)
            if backend == "outlines_core":
                from outlines_core import Index
                from outlines_core.json_schema import build_regex_from_schema

                regex = build_regex_from_schema(text, ws) if kind == "json_schema" else value
                return Index(regex, obj.vocabulary), self._vocab_size(backend, obj)
            compiler = obj.grammar_compiler
            compiled = (
                compiler.compile_json_schema(text) if kind == "json_schema" else compiler.compile_regex(value)
            )
            return compiled, self._vocab_size(backend, obj)
        except _CompileFailure:
            raise
        except (
            Exception
        ) as exc:  # backends raise ValueError, RuntimeError, pyo3 errors …; all are "cannot compile"
            raise _CompileFailure(f"{type(exc).__name__}: {exc}") from exc


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


def _with_llg_whitespace(schema: Any, pattern: str | None) -> str:
    """The schema as JSON text, with llguidance's whitespace option set unless the schema sets its own."""
    if isinstance(schema, str):
        schema = json.loads(schema)
    if pattern is not None and isinstance(schema, dict):
        options = dict(schema.get("x-guidance") or {})
        if "whitespace_pattern" not in options and "whitespace_flexible" not in options:
            options["whitespace_pattern"] = pattern
            schema = {**schema, "x-guidance": options}
    return json.dumps(schema)


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
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")

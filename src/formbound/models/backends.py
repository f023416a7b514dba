"""Grammar backends (llguidance, outlines-core, xgrammar) through their own public APIs, under a time budget.

Each backend gets its tokenizer data from its own public constructor: ``llguidance.hf.from_tokenizer``,
an ``outlines_core.Vocabulary`` built from the token bytes llguidance decodes, and
``xgrammar.TokenizerInfo.from_huggingface``. Only the backends' own error types (what their bindings raise
on a grammar they cannot take: ``ValueError``, ``TypeError``, ``RuntimeError``, or an llguidance matcher in
error state) mean "this backend cannot compile it"; anything else is a bug and propagates.

Every compile runs in a worker thread and is abandoned after ``budget_s`` seconds (the bindings release
the GIL while compiling, so the caller moves on to the next route; an abandoned compile finishes in the
background and its result is dropped).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "BACKEND_ERRORS",
    "DEFAULT_COMPILE_BUDGET_S",
    "BackendTokenizers",
    "CompileFailure",
    "compile_with",
]

#: What the backends' bindings raise for a grammar they cannot take.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, RuntimeError)
#: Seconds a backend may spend compiling one constraint before the next route is tried.
DEFAULT_COMPILE_BUDGET_S = 2.0

T = TypeVar("T")


class CompileFailure(Exception):
    """A backend could not compile a constraint (collected into the fallback chain's failure list)."""


class CompileTimeout(CompileFailure):
    """A backend did not finish compiling within its budget."""


def run_with_budget(fn: Callable[[], T], budget_s: float | None, what: str) -> T:
    """``fn()`` in a worker thread; :class:`CompileTimeout` if it takes longer than ``budget_s``."""
    if budget_s is None:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"formbound-compile-{what}", daemon=True)
    worker.start()
    worker.join(budget_s)
    if worker.is_alive():
        raise CompileTimeout(f"{what} took longer than the compile budget of {budget_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return,unused-ignore]


class BackendTokenizers:
    """Each backend's view of one Hugging Face tokenizer, built on first use and kept.

    Args:
        tokenizer: A Hugging Face (fast) tokenizer.
        vocab_size: Width of the model's logits (may exceed ``len(tokenizer)``).
    """

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._made: dict[str, Any] = {}
        self._lock = threading.RLock()

    def get(self, backend: str) -> Any:
        """The backend's tokenizer object; ``ImportError`` when the backend is not installed."""
        with self._lock:
            if backend not in self._made:
                self._made[backend] = getattr(self, "_" + backend)()
            return self._made[backend]

    def _llguidance(self) -> Any:
        import llguidance.hf

        return llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self.vocab_size)

    def _outlines_core(self) -> Any:
        from outlines_core import Vocabulary

        lltok = self.get("llguidance")
        tokens: dict[bytes, list[int]] = {}
        eos = set(lltok.eos_tokens)
        for token in range(min(lltok.vocab_size, len(self.tokenizer))):
            if token in eos or lltok.is_special_token(token):
                continue
            tokens.setdefault(lltok.decode_bytes([token]), []).append(token)
        tokens.pop(b"", None)
        return Vocabulary(lltok.eos_token, tokens)

    def _xgrammar(self) -> Any:
        import xgrammar

        info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.vocab_size)
        return xgrammar.GrammarCompiler(info)


def compile_with(
    tokenizers: BackendTokenizers,
    backend: str,
    kind: str,
    value: Any,
    whitespace: str | None,
    budget_s: float | None = DEFAULT_COMPILE_BUDGET_S,
) -> Any:
    """Compile ``value`` (of constraint ``kind``) with ``backend``.

    Returns:
        An llguidance ``LLMatcher`` template, an outlines-core ``Index`` or an xgrammar compiled grammar.

    Raises:
        ImportError: the backend is not installed.
        CompileFailure: the backend refuses the grammar or runs past ``budget_s``.
    """
    tok = tokenizers.get(backend)
    try:
        if backend == "llguidance":
            return run_with_budget(lambda: _llguidance(tok, kind, value, whitespace), budget_s, backend)
        text = value if isinstance(value, str) else json.dumps(value)
        if backend == "outlines_core":
            return run_with_budget(lambda: _outlines_core(tok, kind, text, whitespace), budget_s, backend)
        if kind == "json_schema":
            return run_with_budget(lambda: tok.compile_json_schema(text), budget_s, backend)
        return run_with_budget(lambda: tok.compile_regex(text), budget_s, backend)
    except BACKEND_ERRORS as exc:
        raise CompileFailure(f"{type(exc).__name__}: {exc}") from exc


def _llguidance(tok: Any, kind: str, value: Any, whitespace: str | None) -> Any:
    import llguidance

    if kind == "json_schema":
        grammar = llguidance.grammar_from("json_schema", with_llg_whitespace(value, whitespace))
    else:
        grammar = llguidance.grammar_from("regex" if kind == "regex" else "lark", value)
    matcher = llguidance.LLMatcher(tok, grammar, log_level=0)
    if matcher.is_error():
        raise CompileFailure(matcher.get_error())
    return matcher


def _outlines_core(vocabulary: Any, kind: str, text: str, whitespace: str | None) -> Any:
    from outlines_core import Index
    from outlines_core.json_schema import build_regex_from_schema

    regex = build_regex_from_schema(text, whitespace) if kind == "json_schema" else text
    return Index(regex, vocabulary)


def with_llg_whitespace(schema: Any, pattern: str | None) -> str:
    """The schema as JSON text, with llguidance's whitespace option set unless the schema sets its own.

    Only the top-level dict is copied (the rest is shared, read-only): no deep copy per compile.
    """
    if isinstance(schema, str):
        schema = json.loads(schema)
    if pattern is not None and isinstance(schema, dict):
        options = dict(schema.get("x-guidance") or {})
        if "whitespace_pattern" not in options and "whitespace_flexible" not in options:
            options["whitespace_pattern"] = pattern
            schema = {**schema, "x-guidance": options}
    return json.dumps(schema)

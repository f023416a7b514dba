"""Hugging Face causal language models (local folders, cached hub ids, GGUF files) behind :class:`Model`.

Prompts that are message lists go through the tokenizer's chat template exactly once; plain strings are
taken as already templated and never wrapped again. Decoding runs :func:`formbound.models.hf_decode.decode`:
a left-padded batch whose rows leave as soon as they end. Constrained decoding uses
:mod:`formbound.models.constrained`, compiled once per constraint and reused across calls. Prompts reuse
the KV cache of the prefix they share with the previous sequence (:mod:`formbound.models.prefix_cache`);
the prompts of one batch prefill their common prefix once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, GenerationError
from formbound.models.base import Generation, Model, Prompt, check_generate_args
from formbound.models.constrained import DEFAULT_WHITESPACE, GrammarCompiler, backend_chain
from formbound.models.hf_adapters import AdapterSet
from formbound.models.hf_decode import decode
from formbound.models.hf_setup import (
    fix_special_tokens,
    render_prompt,
    require_torch,
    resolve_device,
    resolve_dtype,
)
from formbound.models.prefix_cache import PrefixCache, cache_argument, common_prefix, new_cache

if TYPE_CHECKING:
    from formbound.constraints import Constraint

# fix_special_tokens and render_prompt live in hf_setup; re-exported for existing imports
__all__ = ["TransformersModel", "fix_special_tokens", "load_transformers", "render_prompt"]


class TransformersModel(Model):
    """A Hugging Face causal LM and its tokenizer.

    Args:
        model: A loaded ``PreTrainedModel`` (put on ``device`` and into eval mode here).
        tokenizer: Its tokenizer (special tokens are checked with :func:`fix_special_tokens`).
        name: A name for reports.
        device: ``"cpu"``, ``"cuda"``… (default: CUDA when available).
        adapter: A PEFT (LoRA) adapter folder to load on top of the model.
        backend: Preferred constrained-decoding backend; the others follow as fallbacks.
        backends: The exact fallback chain instead (overrides ``backend``).
        whitespace_pattern: Whitespace allowed between JSON tokens under a JSON Schema constraint
            (``None``: the backend's default, which is unbounded).
        relax: Fall back to relaxed schemas when no backend compiles a JSON Schema.
        prefix_reuse: Keep the KV cache of the last single-prompt generation and reuse the prefix the
            next prompt shares with it (system prompt, instructions, few-shot examples, or the
            conversation a re-ask extends); see :mod:`formbound.models.prefix_cache`. A batch prefills
            the prefix its prompts share once (and keeps it for the next call). Greedy output is the
            same as without it, up to floating-point ties; ``Generation.extra["prefix_tokens"]`` says
            how many prompt tokens a row did not prefill on its own.

    Attributes:
        model: The Hugging Face model (a ``peft.PeftModel`` once an adapter is loaded).
        tokenizer: The tokenizer.
        compiler: The :class:`~formbound.models.constrained.GrammarCompiler` caching compiled grammars.

    Token limits: ``generate`` never retries; an output cut by ``max_new_tokens`` has
    ``finish_reason == "length"``. Use :func:`formbound.models.generate_with_retry` to retry those with
    a larger budget.
    """

    can_constrain = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        device: str | None = None,
        adapter: str | os.PathLike[str] | None = None,
        backend: str = "llguidance",
        backends: Sequence[str] | None = None,
        whitespace_pattern: str | None = DEFAULT_WHITESPACE,
        relax: bool = True,
        prefix_reuse: bool = True,
        source: str | None = None,
    ) -> None:
        torch = require_torch()
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.model.eval()
        self.tokenizer = tokenizer
        self.name = name or str(
            getattr(getattr(model, "config", None), "_name_or_path", "") or "transformers"
        )
        self.source = source or self.name
        # only padding here: the eos of a GGUF checkpoint is fixed where it is loaded (load_transformers)
        self.special_token_fixes = fix_special_tokens(tokenizer, model, switch_eos=False)
        if tokenizer.eos_token_id is None:
            raise GenerationError(
                f"tokenizer of {self.name!r} has no end-of-sequence token; set tokenizer.eos_token"
            )
        self.compiler = GrammarCompiler(
            self.model,
            tokenizer,
            backends=tuple(backends) if backends is not None else backend_chain(backend),
            whitespace_pattern=whitespace_pattern,
            relax=relax,
        )
        self._torch = torch
        self.prefix = PrefixCache(getattr(self.model, "config", None)) if prefix_reuse else None
        self.adapters = AdapterSet()
        if adapter is not None:
            self.set_adapter(adapter)

    # ------------------------------------------------------------------ adapters
    @property
    def adapter(self) -> str | None:
        """Path of the active adapter, or None."""
        return self.adapters.active

    def set_adapter(self, path: str | os.PathLike[str] | None) -> None:
        """Use the PEFT adapter in folder ``path`` from now on, or the base model for ``None``.

        Adapters are loaded once and kept; switching back and forth does not reload the base model.
        """
        if self.prefix is not None:
            self.prefix.clear()  # cached states were computed with the other weights
        self.model = self.adapters.activate(self.model, path)

    def active_weights(self) -> Any:
        """A context manager yielding the Hugging Face model as :meth:`generate` runs it: with the
        active adapter, or with every loaded adapter switched off when :attr:`adapter` is ``None``.

        For scoring outside :meth:`generate` (e.g. perplexity)::

            model.set_adapter(None)
            with model.active_weights() as hf:
                loss = hf(input_ids=ids, labels=ids).loss
        """
        import contextlib

        @contextlib.contextmanager
        def context() -> Any:
            with self._adapter_context():
                yield self.model

        return context()

    def merged_adapter(self) -> Any:
        """A context manager inside which the active adapter runs merged into the weights (faster: the
        same function up to float rounding); the exact base weights come back on exit
        (:meth:`~formbound.models.hf_adapters.AdapterSet.merged`). Without an active adapter it does
        nothing.
        """
        import contextlib

        @contextlib.contextmanager
        def context() -> Any:
            if self.prefix is not None:
                self.prefix.clear()  # its states came from the unmerged weights
            try:
                with self.adapters.merged(self.model) as model:
                    yield model
            finally:
                if self.prefix is not None:
                    self.prefix.clear()

        return context()

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
        """Generate one completion per prompt, as one batch; greedy when ``temperature == 0``.

        A row that ends (end-of-sequence, or a complete constraint) leaves the batch at once: the others
        do not wait on it, and it does not wait on them. Greedy output equals each prompt alone, up to
        floating-point ties.

        Args:
            prompts: Templated strings or chat-message lists.
            constraint: Restrict decoding to a JSON Schema, regex or Lark grammar.
            max_new_tokens: Token budget per prompt; hitting it gives ``finish_reason == "length"``.
            temperature: 0 for greedy decoding, else the sampling temperature.
            seed: Seed for sampling (the global torch RNG state is restored afterwards).
        """
        check_generate_args(prompts, max_new_tokens, temperature)
        if not prompts:
            return []
        torch = self._torch
        compiled = self.compiler.compile(constraint, max_new_tokens) if constraint is not None else None
        encoded = [self._encode(p) for p in prompts]
        eos_ids = self._eos_ids()
        greedy = temperature == 0
        processor = (
            compiled.processor(
                eos_ids, max_new_tokens, greedy=greedy, repetition_guard=constraint.repetition_guard
            )
            if compiled is not None and constraint is not None
            else None
        )
        cache, reused, shared = self._take_cache(encoded)
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[] if not self.device.startswith("cuda") else None):
            if seed is not None:
                torch.manual_seed(seed)
            try:
                with torch.inference_mode(), self._adapter_context():
                    decoded = decode(
                        self.model,
                        encoded,
                        cache=cache,
                        cache_name=cache_argument(),
                        held=reused,
                        shared=shared,
                        eos_ids=eos_ids,
                        pad_id=self.tokenizer.pad_token_id,
                        max_new_tokens=max_new_tokens,
                        temperature=temperature,
                        processor=processor,
                    )
            except BaseException:
                if self.prefix is not None:
                    self.prefix.clear()  # a cache extended half-way names no known tokens
                raise
        seconds = time.perf_counter() - start
        rows = decoded.rows
        if self.prefix is not None and len(encoded) == 1:
            self.prefix.store([*encoded[0], *rows[0]])  # the cache holds the prompt and its answer
        elif self.prefix is not None and shared:
            self.prefix.store(encoded[0][:shared])  # the one-row cache holds the batch's shared prefix
        reused = max(reused, shared)  # prompt tokens no row prefilled on its own
        complete = processor.finish([r[-1] if r else -1 for r in rows]) if processor is not None else None
        forced = processor.forced_close if processor is not None else None
        results: list[Generation] = []
        for i, ids in enumerate(rows):
            stopped = bool(ids) and ids[-1] in eos_ids
            if complete is not None:
                stopped = stopped or complete[i]
            text_ids = ids[:-1] if ids and ids[-1] in eos_ids else ids
            extra: dict[str, Any] = {"prefix_tokens": reused} if reused else {}
            if compiled is not None:
                extra["compile_seconds"] = compiled.seconds
                if compiled.dropped:
                    extra["dropped"] = list(compiled.dropped)
                if compiled.unenforced:
                    extra["unenforced"] = list(compiled.unenforced)
                extra["forced_close"] = bool(forced and forced[i])
                if processor is not None and constraint is not None and constraint.repetition_guard:
                    extra["repeats_blocked"] = processor.repeats_blocked[i]
            results.append(
                Generation(
                    text=self.tokenizer.decode(text_ids, skip_special_tokens=True),
                    prompt_tokens=len(encoded[i]),
                    generated_tokens=len(ids),
                    seconds=seconds / len(prompts),
                    finish_reason="stop" if stopped else "length",
                    route=compiled.route if compiled is not None else None,
                    extra=extra,
                )
            )
        return results

    def info(self) -> dict[str, Any]:
        import transformers

        return {
            "name": self.name,
            "source": self.source,
            "device": self.device,
            "dtype": str(getattr(self.model, "dtype", "")).replace("torch.", ""),
            "adapter": self.adapters.active,
            "backends": list(self.compiler.backends),
            "transformers": transformers.__version__,
            "torch": self._torch.__version__,
        }

    # ------------------------------------------------------------------ helpers
    def _take_cache(self, encoded: list[list[int]]) -> tuple[Any, int, int]:
        """A KV cache to decode ``encoded`` from, the prompt tokens it holds already, and, for several
        prompts, the common prefix prefilled once for all of them (0: none).

        A single prompt takes the prefix cache as it is. Several prompts share their common prefix
        through it when it is at least ``min_tokens`` long (reusing what it holds of it); otherwise they
        get a fresh cache and the prefix cache is left alone.
        """
        if self.prefix is None:
            return new_cache(getattr(self.model, "config", None)), 0, 0
        key = self.adapters.active
        if len(encoded) == 1:
            cache, reused = self.prefix.take(encoded[0], key=key)
            return cache, reused, 0
        shared = min(common_prefix(encoded[0], e) for e in encoded[1:])
        shared = min(shared, min(len(e) for e in encoded) - 1)  # every row prefills one token at least
        if shared < self.prefix.min_tokens:
            return new_cache(getattr(self.model, "config", None)), 0, 0
        cache, reused = self.prefix.take(encoded[0][:shared], key=key, continued=True)
        return cache, reused, shared

    def _encode(self, prompt: Prompt) -> list[int]:
        text, templated = render_prompt(self.tokenizer, prompt)
        bos = self.tokenizer.bos_token
        # A chat template writes its own special tokens; raw text gets the tokenizer's usual ones
        # unless it already starts with them.
        add_special = not templated and not (bos and text.startswith(bos))
        ids = self.tokenizer(text, add_special_tokens=add_special)["input_ids"]
        if not ids:
            raise ConfigError("a prompt encodes to zero tokens; give a non-empty prompt")
        return list(ids)

    def _eos_ids(self) -> list[int]:
        ids = [int(self.tokenizer.eos_token_id)]
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for extra in configured if isinstance(configured, list) else [configured]:
            if extra is not None and int(extra) not in ids:
                ids.append(int(extra))
        return ids

    def _adapter_context(self) -> Any:
        return self.adapters.context(self.model)


# ---------------------------------------------------------------------------------------- loading
def load_transformers(
    source: str | os.PathLike[str],
    *,
    gguf_file: str | None = None,
    name: str | None = None,
    device: str | None = None,
    dtype: Any = None,
    adapter: str | os.PathLike[str] | None = None,
    backend: str = "llguidance",
    **options: Any,
) -> TransformersModel:
    """Load a local folder or a locally cached hub id (never downloads), or a GGUF file in a folder.

    Args:
        source: A folder with ``config.json`` (or the folder holding ``gguf_file``), or a hub id that is
            already in the local Hugging Face cache.
        gguf_file: The GGUF file name inside ``source`` (transformers dequantizes it on load).
        name, device, adapter, backend, options: See :class:`TransformersModel`.
        dtype: Torch dtype or name; default bfloat16 on CUDA, float32 elsewhere.
    """
    require_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, resolved_device)
    extra: dict[str, Any] = {"local_files_only": True}
    if gguf_file is not None:
        extra["gguf_file"] = gguf_file
    where = str(source) if gguf_file is None else str(Path(source) / gguf_file)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), **extra)
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch_dtype, **extra)
    except OSError as exc:
        raise GenerationError(
            f"cannot load model {where!r} from local files: {exc}. formbound never downloads at run time: "
            "give a local folder or a GGUF file, or download the model beforehand "
            "(e.g. `huggingface-cli download MODEL_ID`)."
        ) from exc
    tokenizer.padding_side = "left"
    if gguf_file is not None:
        fix_special_tokens(tokenizer, model)
    return TransformersModel(
        model,
        tokenizer,
        name=name or where,
        device=resolved_device,
        adapter=adapter,
        backend=backend,
        source=where,
        **options,
    )

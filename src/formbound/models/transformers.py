"""Hugging Face causal language models (local folders, cached hub ids, GGUF files) behind :class:`Model`.

Prompts that are message lists go through the tokenizer's chat template exactly once; plain strings are
taken as already templated and never wrapped again. Batches are left-padded. Constrained decoding uses
:mod:`formbound.models.constrained`, compiled once per constraint and reused across calls. Single-prompt
calls reuse the KV cache of the prefix they share with the previous sequence
(:mod:`formbound.models.prefix_cache`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, DependencyError, GenerationError
from formbound.models.base import Generation, Model, Prompt
from formbound.models.constrained import DEFAULT_WHITESPACE, GrammarCompiler, backend_chain
from formbound.models.prefix_cache import PrefixCache, cache_argument

if TYPE_CHECKING:
    import torch

    from formbound.constraints import Constraint

__all__ = ["TransformersModel", "fix_special_tokens", "load_transformers", "render_prompt"]

_DTYPES = ("float32", "bfloat16", "float16")


def _require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "Hugging Face models need torch and transformers: pip install 'formbound[models]'"
        ) from exc
    return torch


def resolve_device(device: str | None) -> str:
    """``device`` as given, else ``"cuda"`` when available, else ``"cpu"``."""
    torch = _require_torch()
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def resolve_dtype(dtype: Any, device: str) -> Any:
    """``dtype`` (a torch dtype or its name), else bfloat16 on CUDA and float32 elsewhere."""
    torch = _require_torch()
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return getattr(torch, dtype)
    raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)} or 'auto'")


def fix_special_tokens(
    tokenizer: Any, model: Any = None, *, switch_eos: bool = True, chatml: bool = False
) -> list[str]:
    """Make end-of-sequence and padding match the token that ends an assistant turn.

    Some GGUF tokenizers (the default model's, with some transformers versions) come back with
    ``<|im_start|>`` as end-of-sequence and no pad token, while ChatML models end their turns with
    ``<|im_end|>``: generation then never stops and a constrained decoder waits for the wrong token.
    With ``switch_eos`` this replaces exactly that wrong eos (``<|im_start|>``, or none at all) by
    ``<|im_end|>`` when the vocabulary has it, and mirrors the ids into the model's config and
    generation config; a tokenizer with a real eos (``<|endoftext|>``, ``</s>`` …) is left alone. It is
    applied to GGUF checkpoints only; ``chatml=True`` (a model known to end its turns with ``<|im_end|>``,
    like the default model) switches any other eos too. A tokenizer without a pad token gets pad = eos.

    Returns:
        What was changed, for logs (empty when nothing was).
    """
    changes: list[str] = []
    vocab = tokenizer.get_vocab()
    end = "<|im_end|>"
    wrong_id: int | None = None
    wrong = tokenizer.eos_token in (None, "<|im_start|>") or (chatml and tokenizer.eos_token != end)
    if switch_eos and end in vocab and wrong:
        changes.append(f"eos {tokenizer.eos_token!r} -> {end!r}")
        old_eos = tokenizer.eos_token
        wrong_id = tokenizer.eos_token_id
        tokenizer.eos_token = end
        if tokenizer.pad_token is None or tokenizer.pad_token == old_eos:
            tokenizer.pad_token = end
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        changes.append(f"pad None -> {tokenizer.eos_token!r}")
        tokenizer.pad_token = tokenizer.eos_token
    eos_id = tokenizer.eos_token_id
    if model is not None and eos_id is not None:
        for config in (getattr(model, "config", None), getattr(model, "generation_config", None)):
            if config is None:
                continue
            # Keep other end-of-sequence ids a model declares (e.g. end-of-text and end-of-turn);
            # drop only the wrong one replaced above, and make sure the tokenizer's is there.
            current = getattr(config, "eos_token_id", None)
            ids = (
                list(current) if isinstance(current, (list, tuple)) else [] if current is None else [current]
            )
            ids = [i for i in ids if i != wrong_id]
            if eos_id not in ids:
                ids.insert(0, eos_id)
            config.eos_token_id = ids[0] if len(ids) == 1 else ids
            if getattr(config, "pad_token_id", None) is None:
                config.pad_token_id = tokenizer.pad_token_id
    return changes


def render_prompt(tokenizer: Any, prompt: Prompt) -> tuple[str, bool]:
    """The text a model sees for ``prompt``, and whether it is chat-templated.

    A string is returned as it is (already templated: it is never wrapped again). A message list goes
    through the tokenizer's chat template with the generation prompt; a tokenizer without a template
    gets ``"role: content"`` lines and a final ``"assistant:"``.
    """
    if isinstance(prompt, str):
        return prompt, False
    messages = [dict(m) for m in prompt]
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError(f"a chat message needs 'role' and 'content', got {m!r}")
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text), True
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "assistant:"]), True


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
            conversation a re-ask extends); see :mod:`formbound.models.prefix_cache`. Greedy output is
            the same as without it, up to floating-point ties.

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
        torch = _require_torch()
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
        self._adapters: dict[str, str] = {}
        self._active_adapter: str | None = None
        if adapter is not None:
            self.set_adapter(adapter)

    # ------------------------------------------------------------------ adapters
    @property
    def adapter(self) -> str | None:
        """Path of the active adapter, or None."""
        return self._active_adapter

    def set_adapter(self, path: str | os.PathLike[str] | None) -> None:
        """Use the PEFT adapter in folder ``path`` from now on, or the base model for ``None``.

        Adapters are loaded once and kept; switching back and forth does not reload the base model.
        """
        if self.prefix is not None:
            self.prefix.clear()  # cached states were computed with the other weights
        if path is None:
            self._active_adapter = None
            return
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise ConfigError(
                f"adapter folder {str(folder)!r} has no adapter_config.json; give a PEFT adapter folder"
            )
        key = str(folder.resolve())
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise DependencyError("LoRA adapters need peft: pip install 'formbound[train]'") from exc
        if key not in self._adapters:
            adapter_name = f"a{len(self._adapters)}"
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(key, adapter_name=adapter_name)
            else:
                self.model = PeftModel.from_pretrained(self.model, key, adapter_name=adapter_name)
                self.model.eval()
            self._adapters[key] = adapter_name
        self.model.set_adapter(self._adapters[key])
        self._active_adapter = key

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
        """Generate one completion per prompt, as one left-padded batch; greedy when ``temperature == 0``.

        Args:
            prompts: Templated strings or chat-message lists.
            constraint: Restrict decoding to a JSON Schema, regex or Lark grammar.
            max_new_tokens: Token budget per prompt; hitting it gives ``finish_reason == "length"``.
            temperature: 0 for greedy decoding, else the sampling temperature.
            seed: Seed for sampling (the global torch RNG state is restored afterwards).
        """
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], dict)):
            raise ConfigError("generate() takes a list of prompts; wrap a single prompt in a list")
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if not prompts:
            return []
        torch = self._torch
        compiled = self.compiler.compile(constraint, max_new_tokens) if constraint is not None else None
        encoded = [self._encode(p) for p in prompts]
        input_ids, attention = self._pad(encoded)
        eos_ids = self._eos_ids()
        greedy = temperature == 0
        processor = (
            compiled.processor(
                eos_ids, max_new_tokens, greedy=greedy, repetition_guard=constraint.repetition_guard
            )
            if compiled is not None and constraint is not None
            else None
        )
        config = self._generation_config(max_new_tokens, temperature, eos_ids)
        kwargs: dict[str, Any] = {"generation_config": config}
        if processor is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([processor])
        reused = 0
        if self.prefix is not None and len(encoded) == 1:
            kwargs[cache_argument()], reused = self.prefix.take(encoded[0], key=self._active_adapter)
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[] if not self.device.startswith("cuda") else None):
            if seed is not None:
                torch.manual_seed(seed)
            try:
                with torch.inference_mode(), self._adapter_context():
                    output = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
            except BaseException:
                if self.prefix is not None:
                    self.prefix.clear()  # a cache extended half-way names no known tokens
                raise
        seconds = time.perf_counter() - start
        if self.prefix is not None and len(encoded) == 1:
            self.prefix.store(output[0].tolist())
        new = output[:, input_ids.shape[1] :].tolist()
        rows = [self._trim(ids, eos_ids) for ids in new]
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
            "adapter": self._active_adapter,
            "backends": list(self.compiler.backends),
            "transformers": transformers.__version__,
            "torch": self._torch.__version__,
        }

    # ------------------------------------------------------------------ helpers
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

    def _pad(self, encoded: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        torch = self._torch
        width = max(len(ids) for ids in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        attention = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        return input_ids.to(self.device), attention.to(self.device)

    def _eos_ids(self) -> list[int]:
        ids = [int(self.tokenizer.eos_token_id)]
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for extra in configured if isinstance(configured, list) else [configured]:
            if extra is not None and int(extra) not in ids:
                ids.append(int(extra))
        return ids

    def _generation_config(self, max_new_tokens: int, temperature: float, eos_ids: list[int]) -> Any:
        from transformers import GenerationConfig

        sample = temperature > 0
        # Every sampling knob is set explicitly: unset ones would be filled from the model's own
        # generation config (e.g. a default temperature or repetition penalty).
        knobs: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0}
        if sample:
            knobs = {"temperature": temperature, "top_p": 1.0, "top_k": 0}
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sample,
            repetition_penalty=1.0,
            num_beams=1,
            eos_token_id=eos_ids,
            pad_token_id=self.tokenizer.pad_token_id,
            **knobs,
        )

    def _trim(self, ids: list[int], eos_ids: list[int]) -> list[int]:
        """Generated ids up to and including the first end-of-sequence (padding after it removed)."""
        for pos, token in enumerate(ids):
            if token in eos_ids:
                return ids[: pos + 1]
        return ids

    def _adapter_context(self) -> Any:
        import contextlib

        if self._adapters and self._active_adapter is None:
            return self.model.disable_adapter()
        return contextlib.nullcontext()


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
    _require_torch()
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

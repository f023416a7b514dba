"""Model sources behind one interface; :func:`load` routes a name to its source.

* ``"default"`` — the embedded SmolLM2-135M-Instruct (:mod:`formbound.models.default`) on transformers,
  whether or not llama-cpp-python is installed: LoRA adapters, training and the measured baselines need
  the same weights and numerics everywhere. ``"llamacpp:default"`` runs the same GGUF through llama.cpp,
  several times faster per generated token on CPU (BENCHMARKS.md §7), for rungs without adapters;
* a local folder, or a Hugging Face id already in the local cache — :mod:`formbound.models.transformers`
  (nothing is downloaded at run time);
* a ``.gguf`` file — transformers with ``gguf_file=``;
* ``"llamacpp:PATH.gguf"`` (``"llamacpp:default"`` for the embedded GGUF), or a ``llama_cpp.Llama``
  instance — llama.cpp in process (:mod:`formbound.models.llamacpp`; options such as ``n_ctx=`` and
  ``n_threads=`` go to ``llama_cpp.Llama``; ``adapter=`` takes a PEFT LoRA folder, converted once to a
  llama.cpp LoRA GGUF, or a LoRA ``.gguf``). Training stays on transformers;
* ``"openai:MODEL"`` — a server speaking the OpenAI API (:mod:`formbound.models.openai_compat`; ``MODEL``
  may be empty to take the server's first model; ``base_url=`` and the other options go to the server client;
  the API key is read from ``$OPENAI_API_KEY`` unless ``api_key=`` is given).
* :func:`from_openai` — an ``openai.OpenAI`` / ``openai.AsyncOpenAI`` client you already hold.

Every source returns a :class:`Model`; callers never branch on the source.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound._util import suggest
from formbound.errors import ConfigError
from formbound.models.base import Generation, Message, Model, Prompt
from formbound.models.lazy import LazyModel
from formbound.models.openai_compat import from_openai
from formbound.models.retry import generate_with_retry

__all__ = [
    "API_KEY_ENV",
    "SCHEMES",
    "Generation",
    "LazyModel",
    "Message",
    "Model",
    "Prompt",
    "from_openai",
    "generate_with_retry",
    "identity",
    "load",
]

#: Environment variable an ``openai:`` model reads its API key from when ``api_key=`` is not given.
API_KEY_ENV = "OPENAI_API_KEY"

#: Prefixes of model names that route to a served model: scheme -> "module:callable(model_name, **options)".
SCHEMES: dict[str, str] = {"openai": "formbound.models.openai_compat:OpenAICompatModel"}

# A hub id: "org/name" or "name" made of the characters the hub allows.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def load(
    name_or_path: str | os.PathLike[str] | Any = "default",
    *,
    adapter: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dtype: Any = None,
    backend: str = "llguidance",
    lazy: bool = False,
    **options: Any,
) -> Model:
    """A model by name: ``"default"``, a folder, a cached hub id, a ``.gguf`` file, ``"llamacpp:PATH.gguf"``
    or ``"openai:MODEL"``; or a ``llama_cpp.Llama`` instance.

    Args:
        name_or_path: Where the model comes from (see the module docstring).
        adapter: A PEFT (LoRA) adapter folder to apply (local models only).
        device: ``"cpu"``, ``"cuda"``… (default: CUDA when available, else CPU).
        dtype: Torch dtype or its name (default: bfloat16 on CUDA, float32 on CPU).
        backend: Preferred constrained-decoding backend: ``"llguidance"`` (default), ``"outlines_core"``
            or ``"xgrammar"``; the others are tried when it cannot compile a constraint.
        lazy: Return a :class:`LazyModel` that loads the weights on first use (local models; a served
            model is cheap to set up and is returned as is). A run that finds every answer cached then
            never loads the model.
        options: Passed to the source, e.g. ``whitespace_pattern=`` or ``relax=`` for local models,
            ``base_url=`` and ``api_key=`` for a server (the key defaults to ``$OPENAI_API_KEY``).

    Raises:
        ConfigError: the name matches no source (with a suggestion when it looks like a typo).
        DependencyError: the source needs a package that is not installed.
        GenerationError: the model files cannot be loaded.

    >>> load("defualt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    formbound.errors.ConfigError: unknown model 'defualt': ... did you mean 'default'?
    """
    from formbound.models.constrained import check_backends

    check_backends(backend)
    from formbound.models.llamacpp import is_llama

    if is_llama(name_or_path) or (isinstance(name_or_path, str) and name_or_path.startswith("llamacpp:")):
        return _load_llamacpp(
            name_or_path, adapter=adapter, device=device, dtype=dtype, backend=backend, **options
        )
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(
            f"cannot load a model from a {type(name_or_path).__name__}: "
            "give a name, a path or a llama_cpp.Llama"
        )
    name = os.fspath(name_or_path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model name must be a non-empty string or path, got {name_or_path!r}")
    if lazy:
        ident = identity(name, adapter=adapter)
        if ident is not None:
            return LazyModel(
                lambda: load(name, adapter=adapter, device=device, dtype=dtype, backend=backend, **options),
                ident,
            )
    scheme, sep, rest = name.partition(":")
    if sep and scheme in SCHEMES:
        if adapter is not None or device is not None or dtype is not None:
            raise ConfigError(
                f"adapter, device and dtype apply to local models; for {name!r} configure them on the server"
            )
        if scheme == "openai" and "api_key" not in options and os.environ.get(API_KEY_ENV):
            options["api_key"] = os.environ[API_KEY_ENV]
        module, func = SCHEMES[scheme].split(":")
        loader = getattr(importlib.import_module(module), func)
        model: Model = loader(rest, **options)
        return model
    common: dict[str, Any] = {"adapter": adapter, "device": device, "dtype": dtype, "backend": backend}
    if name == "default":
        from formbound.models.default import load_default

        return load_default(**common, **options)
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"GGUF file {name!r} does not exist")
        from formbound.models.transformers import load_transformers

        return load_transformers(path.parent, gguf_file=path.name, **common, **options)
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            hint = f"; it holds {ggufs[0]!r}: pass that file's path" if ggufs else ""
            raise ConfigError(f"folder {name!r} is not a Hugging Face model (no config.json){hint}")
        from formbound.models.transformers import load_transformers

        return load_transformers(path, **common, **options)
    if _HUB_ID.match(name) and "/" in name:
        from formbound.models.transformers import load_transformers

        return load_transformers(name, **common, **options)
    raise ConfigError(_unknown(name))


def identity(
    name_or_path: str | os.PathLike[str], *, adapter: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """``{"name", "source", "adapter"}`` of a local model as its ``info()`` will report them, without
    loading it; ``None`` for a served model or a name :func:`load` would refuse.

    Cheap: it reads no weights and imports neither torch nor transformers.
    """
    name = os.fspath(name_or_path)
    adapter_key = str(Path(adapter).resolve()) if adapter is not None else None
    if name == "default":
        from formbound.models.default import NAME, source_name

        return {"name": NAME, "source": source_name(), "adapter": adapter_key}
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        where = str(path.parent / path.name)
    elif path.is_dir() and (path / "config.json").is_file():
        where = str(path)
    elif ":" not in name and _HUB_ID.match(name) and "/" in name and not path.exists():
        where = name
    else:
        return None
    return {"name": where, "source": where, "adapter": adapter_key}


def _load_llamacpp(
    source: Any, *, adapter: Any, device: Any, dtype: Any, backend: str, **options: Any
) -> Model:
    if dtype is not None or device not in (None, "cpu"):
        raise ConfigError(
            "dtype and device do not apply to llama.cpp models (the GGUF file sets the weights' types); "
            "offload layers to a GPU build with n_gpu_layers=..."
        )
    if backend != "llguidance":
        raise ConfigError(f"llama.cpp models constrain decoding with llguidance only, not {backend!r}")
    from formbound.models import llamacpp

    if isinstance(source, str):
        model = llamacpp.load_llamacpp(source.partition(":")[2], **options)
        model.load_name = source  # what the deploy record names when this engine measured the winner
    else:
        model = llamacpp.LlamaCppModel(source, **options)
    if adapter is not None:
        model.set_adapter(adapter)  # a PEFT folder (converted to a LoRA GGUF) or a LoRA .gguf file
    return model


def _unknown(name: str) -> str:
    choices: Sequence[str] = ["default", "llamacpp:", *(f"{s}:" for s in SCHEMES)]
    scheme = name.partition(":")[0]
    hint = suggest(name, list(choices)) or (suggest(scheme + ":", list(choices)) if ":" in name else None)
    extra = f"; did you mean {hint!r}?" if hint else ""
    return (
        f"unknown model {name!r}: expected 'default', a model folder, a .gguf file, 'llamacpp:PATH.gguf', "
        f"a Hugging Face id cached locally ('org/name') or 'openai:MODEL'{extra}"
    )

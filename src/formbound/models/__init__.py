"""Model sources behind one interface; :func:`load` routes a name to its source.

* ``"default"`` — the embedded SmolLM2-135M-Instruct (:mod:`formbound.models.default`);
* a local folder, or a Hugging Face id already in the local cache — :mod:`formbound.models.transformers`
  (nothing is downloaded at run time);
* a ``.gguf`` file — transformers with ``gguf_file=``;
* ``"openai:MODEL"`` — a server speaking the OpenAI API (:mod:`formbound.models.openai_compat`; ``MODEL``
  may be empty to take the server's first model; ``base_url=`` and the other options go to the server client);
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
from formbound.models.openai_compat import from_openai
from formbound.models.retry import generate_with_retry

__all__ = [
    "SCHEMES",
    "Generation",
    "Message",
    "Model",
    "Prompt",
    "from_openai",
    "generate_with_retry",
    "load",
]

#: Prefixes of model names that route to a served model: scheme -> "module:callable(model_name, **options)".
SCHEMES: dict[str, str] = {"openai": "formbound.models.openai_compat:OpenAICompatModel"}

# A hub id: "org/name" or "name" made of the characters the hub allows.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def load(
    name_or_path: str | os.PathLike[str] = "default",
    *,
    adapter: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dtype: Any = None,
    backend: str = "llguidance",
    **options: Any,
) -> Model:
    """A model by name: ``"default"``, a folder, a cached hub id, a ``.gguf`` file or ``"openai:MODEL"``.

    Args:
        name_or_path: Where the model comes from (see the module docstring).
        adapter: A PEFT (LoRA) adapter folder to apply (local models only).
        device: ``"cpu"``, ``"cuda"``… (default: CUDA when available, else CPU).
        dtype: Torch dtype or its name (default: bfloat16 on CUDA, float32 on CPU).
        backend: Preferred constrained-decoding backend: ``"llguidance"`` (default), ``"outlines_core"``
            or ``"xgrammar"``; the others are tried when it cannot compile a constraint.
        options: Passed to the source, e.g. ``whitespace_pattern=`` or ``relax=`` for local models,
            ``base_url=`` for a server.

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
    name = os.fspath(name_or_path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model name must be a non-empty string or path, got {name_or_path!r}")
    scheme, sep, rest = name.partition(":")
    if sep and scheme in SCHEMES:
        if adapter is not None or device is not None or dtype is not None:
            raise ConfigError(
                f"adapter, device and dtype apply to local models; for {name!r} configure them on the server"
            )
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


def _unknown(name: str) -> str:
    choices: Sequence[str] = ["default", *(f"{s}:" for s in SCHEMES)]
    scheme = name.partition(":")[0]
    hint = suggest(name, list(choices)) or (suggest(scheme + ":", list(choices)) if ":" in name else None)
    extra = f"; did you mean {hint!r}?" if hint else ""
    return (
        f"unknown model {name!r}: expected 'default', a model folder, a .gguf file, a Hugging Face id "
        f"cached locally ('org/name') or 'openai:MODEL'{extra}"
    )

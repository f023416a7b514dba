"""PEFT LoRA adapters as llama.cpp LoRA GGUF files, and adapter rungs on the llama.cpp route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from formbound.errors import ConfigError
from formbound.models.lora_gguf import GGUF_NAME, adapter_gguf, convert_peft_lora, permute_rows

gguf = pytest.importorskip("gguf")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

META = {
    "general.architecture": "llama",
    "llama.attention.head_count": "2",
    "llama.attention.head_count_kv": "1",
    "llama.block_count": "2",
}


def _peft_folder(folder: Path, **config: Any) -> dict[str, np.ndarray]:
    """A PEFT LoRA folder for a 2-block llama with hidden size 8 (2 heads of 4, 1 key/value head), r=2."""
    rng = np.random.default_rng(0)
    shapes = {"q_proj": 8, "k_proj": 4, "v_proj": 4, "o_proj": 8, "down_proj": 8}
    weights: dict[str, np.ndarray] = {}
    for block in range(2):
        for module, out in shapes.items():
            part = "mlp" if module == "down_proj" else "self_attn"
            prefix = f"base_model.model.model.layers.{block}.{part}.{module}"
            weights[f"{prefix}.lora_A.weight"] = rng.standard_normal((2, 8)).astype(np.float32)
            weights[f"{prefix}.lora_B.weight"] = rng.standard_normal((out, 2)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    safetensors_numpy.save_file(weights, str(folder / "adapter_model.safetensors"))
    settings = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": sorted(shapes), **config}
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return weights


def test_permute_rows_matches_the_rotary_layout_and_is_a_permutation() -> None:
    rows = np.arange(24).reshape(24, 1)
    out = permute_rows(rows, 3)[:, 0].tolist()
    assert sorted(out) == list(range(24))
    # head 0 holds rows 0..7: the two halves (0..3, 4..7) are interleaved
    assert out[:8] == [0, 4, 1, 5, 2, 6, 3, 7]
    with pytest.raises(ConfigError, match="not a multiple"):
        permute_rows(np.zeros((6, 2)), 2)


def test_conversion_writes_names_shapes_alpha_and_permutes_query_and_key(tmp_path: Path) -> None:
    weights = _peft_folder(tmp_path / "a")
    out = convert_peft_lora(
        tmp_path / "a", tmp_path / "a.gguf", architecture="llama", n_head=2, n_head_kv=1, n_blocks=2
    )
    reader = gguf.GGUFReader(str(out))
    fields = {f.name: f for f in reader.fields.values()}
    assert bytes(fields["general.type"].parts[-1]).decode() == "adapter"
    assert bytes(fields["adapter.type"].parts[-1]).decode() == "lora"
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 4.0
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    assert len(tensors) == 2 * 2 * 5
    hf = "base_model.model.model.layers.1"
    np.testing.assert_array_equal(
        tensors["blk.1.attn_v.weight.lora_a"], weights[f"{hf}.self_attn.v_proj.lora_A.weight"]
    )
    np.testing.assert_array_equal(
        tensors["blk.1.attn_v.weight.lora_b"], weights[f"{hf}.self_attn.v_proj.lora_B.weight"]
    )
    np.testing.assert_array_equal(
        tensors["blk.1.ffn_down.weight.lora_b"], weights[f"{hf}.mlp.down_proj.lora_B.weight"]
    )
    # query rows permuted over 2 heads, key rows over the 1 key/value head; A untouched
    q_b = weights[f"{hf}.self_attn.q_proj.lora_B.weight"]
    k_b = weights[f"{hf}.self_attn.k_proj.lora_B.weight"]
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight.lora_b"], permute_rows(q_b, 2))
    np.testing.assert_array_equal(tensors["blk.1.attn_k.weight.lora_b"], permute_rows(k_b, 1))
    assert not np.array_equal(tensors["blk.1.attn_q.weight.lora_b"], q_b)
    np.testing.assert_array_equal(
        tensors["blk.1.attn_q.weight.lora_a"], weights[f"{hf}.self_attn.q_proj.lora_A.weight"]
    )


def test_adapter_gguf_converts_once_and_again_when_the_weights_change(tmp_path: Path) -> None:
    folder = tmp_path / "adapter"
    _peft_folder(folder)
    first = adapter_gguf(folder, META)
    assert first == folder / GGUF_NAME and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert adapter_gguf(folder, META).stat().st_mtime_ns == stamp  # cached
    _peft_folder(folder, lora_alpha=8)  # retrained: another config
    again = adapter_gguf(folder, META)
    fields = {f.name: f for f in gguf.GGUFReader(str(again)).fields.values()}
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 8.0
    assert adapter_gguf(again, META) == again  # a .gguf path is taken as it is
    assert not list(folder.glob(".*.tmp"))  # written atomically, nothing left behind


def test_a_read_only_adapter_folder_converts_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    folder = tmp_path / "shipped"
    _peft_folder(folder)
    monkeypatch.setenv("FORMBOUND_CACHE", str(tmp_path / "cache"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    out = adapter_gguf(folder, META)
    assert out.parent == tmp_path / "cache" / "lora-gguf" and out.is_file()
    assert not (folder / GGUF_NAME).exists()
    assert adapter_gguf(folder, META) == out  # found again, not rebuilt


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"use_dora": True}, "use_dora"),
        ({"use_rslora": True}, "use_rslora"),
        ({"peft_type": "IA3"}, "only LoRA"),
        ({"rank_pattern": {"q_proj": 4}}, "per-module"),
    ],
)
def test_adapters_without_a_llama_cpp_equivalent_are_refused(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    _peft_folder(tmp_path / "a", **config)
    with pytest.raises(ConfigError, match=message):
        adapter_gguf(tmp_path / "a", META)


def test_bad_inputs_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a PEFT adapter folder"):
        adapter_gguf(tmp_path, META)
    with pytest.raises(ConfigError, match="no LoRA GGUF file"):
        adapter_gguf(tmp_path / "missing.gguf", META)
    _peft_folder(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"convert_lora_to_gguf\.py"):
        adapter_gguf(tmp_path / "a", {**META, "general.architecture": "qwen2"})
    weights = _peft_folder(tmp_path / "b")
    weights["base_model.model.lm_head.modules_to_save.weight"] = np.zeros((4, 8), dtype=np.float32)
    safetensors_numpy.save_file(weights, str(tmp_path / "b" / "adapter_model.safetensors"))
    with pytest.raises(ConfigError, match="not a LoRA A/B weight"):
        adapter_gguf(tmp_path / "b", META)


@pytest.mark.real_model
def test_llama_cpp_adapter_matches_peft_on_the_default_model(tmp_path: Path) -> None:
    # A random all-linear LoRA on SmolLM2: the change it makes to the next-token logits must be the same
    # on llama.cpp (converted GGUF) as on transformers + peft. Both engines differ a little on the base
    # weights already (llama.cpp quantises activations for its Q4_1 kernels), so the check is relative:
    # the adapter's effect is large, the engines agree on it, and the adapted logits differ no more than
    # the base logits do. Without the query/key row permutation the correlation drops to ~0.02.
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    pytest.importorskip("llama_cpp")
    from formbound.escalate.training import load_base
    from formbound.models import load

    try:
        hf, _ = load_base("default")
        cpp = load("llamacpp:default", n_ctx=256)
    except ImportError as exc:
        pytest.skip(str(exc))
    torch.manual_seed(0)
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"
    )
    adapted = peft.get_peft_model(hf, config)
    adapted.save_pretrained(str(tmp_path / "adapter"))
    ids = cpp.encode([{"role": "user", "content": "Extract the contact card as JSON: Ana Silva, ana@x.pt"}])

    def cpp_logits() -> np.ndarray:
        cpp.llama.reset()
        cpp.llama.eval(ids)
        return np.ctypeslib.as_array(cpp.llama._ctx.get_logits(), shape=(cpp.llama.n_vocab(),)).astype(float)

    base_cpp = cpp_logits()
    with pytest.raises(ConfigError, match="not a PEFT adapter folder"):
        cpp.set_adapter(tmp_path)
    assert cpp.info()["adapter"] is None
    cpp.set_adapter(tmp_path / "adapter")
    assert cpp.info()["adapter"] == str(tmp_path / "adapter")
    lora_cpp = cpp_logits()
    cpp.set_adapter(None)
    np.testing.assert_array_equal(cpp_logits(), base_cpp)  # switched off again
    with torch.no_grad():
        x = torch.tensor([ids])
        lora_hf = adapted(input_ids=x).logits[0, -1].double().numpy()
        with adapted.disable_adapter():
            base_hf = adapted(input_ids=x).logits[0, -1].double().numpy()
    engines = np.linalg.norm(base_hf - base_cpp)
    effect_hf, effect_cpp = lora_hf - base_hf, lora_cpp - base_cpp
    assert np.linalg.norm(effect_hf) > 5 * engines  # the adapter matters far more than the engine
    assert np.corrcoef(effect_hf, effect_cpp)[0, 1] > 0.95
    assert np.linalg.norm(lora_hf - lora_cpp) < 2 * engines
    loaded = load("llamacpp:default", n_ctx=256, adapter=tmp_path / "adapter")  # the same at load time
    assert loaded.info()["adapter"] == str(tmp_path / "adapter")

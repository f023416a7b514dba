"""LoRA training: answer-only loss, loss goes down, resume after a crash, atomic output, metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")
pytest.importorskip("accelerate")

from formbound.errors import ConfigError
from formbound.escalate.adapter import (
    METADATA_FILE,
    TrainConfig,
    encode_example,
    read_metadata,
    train_adapter,
)

PEOPLE = [("Ada", 36), ("Bob", 41), ("Cy", 22), ("Di", 50), ("Ed", 19), ("Flo", 33), ("Gus", 27), ("Hal", 45)]


def _write_dataset(path: Path) -> Path:
    rows = []
    for name, age in PEOPLE:
        messages = [
            {"role": "user", "content": f"{name} is {age}. Extract as JSON."},
            {"role": "assistant", "content": json.dumps({"name": name, "age": age})},
        ]
        rows.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(rows) + "\n")
    return path


def _config(**kw: Any) -> TrainConfig:
    base = {
        "max_steps": 6,
        "batch_size": 4,
        "learning_rate": 5e-3,
        "save_every": 2,
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["c_attn"],
    }
    return TrainConfig(**{**base, **kw})


def _weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_prompt_tokens_are_masked(tiny_tokenizer: Any) -> None:
    messages = [{"role": "user", "content": "Ada is 36."}, {"role": "assistant", "content": '{"age": 36}'}]
    ids, labels = encode_example(tiny_tokenizer, messages, 512)
    assert len(ids) == len(labels)
    answer = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
    assert tiny_tokenizer.decode(answer) == '{"age": 36}<|im_end|>'
    prompt = tiny_tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt
    assert all(lab == tok for lab, tok in zip(labels[n_prompt:], ids[n_prompt:], strict=True))


def test_truncation_keeps_alignment(tiny_tokenizer: Any) -> None:
    messages = [{"role": "user", "content": "Ada is 36."}, {"role": "assistant", "content": '{"age": 36}'}]
    ids, labels = encode_example(tiny_tokenizer, messages, 5)
    assert len(ids) == len(labels) == 5 and set(labels) == {-100}


def test_training_lowers_loss_writes_peft_folder_and_restores_model(
    tiny_tokenizer: Any, tmp_path: Path
) -> None:
    from _tiny import tiny_model

    data = _write_dataset(tmp_path / "d.jsonl")
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_adapter(
        model,
        tiny_tokenizer,
        data,
        tmp_path / "adapter",
        _config(max_steps=12),
        base_model="tiny",
        spec_hash="abc",
        extra_metadata={"prompt": {"style": "raw"}},
    )
    out = tmp_path / "adapter"
    assert sorted(p.name for p in out.iterdir() if p.name != "README.md") == [
        "adapter_config.json",
        "adapter_model.safetensors",
        METADATA_FILE,
    ]
    meta = read_metadata(out)
    assert meta["base_model"] == "tiny" and meta["spec_hash"] == "abc" and meta["prompt"] == {"style": "raw"}
    import hashlib

    assert meta["dataset_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert meta["training_config"]["r"] == 4 and meta["formbound_version"]
    losses = result.losses
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert meta["metrics"]["final_loss"] < meta["metrics"]["first_loss"]
    # work folder (checkpoints) is gone, the caller's model has its own weights back and no LoRA layers
    assert not (tmp_path / "adapter.partial").exists()
    assert not any("lora" in name for name, _ in model.named_parameters())
    after = model.state_dict()
    assert all(bool((before[k] == after[k]).all()) for k in before)
    # the folder is a standard PEFT adapter
    from peft import PeftModel

    loaded = PeftModel.from_pretrained(tiny_model(), str(out))
    assert any("lora_A" in name for name, _ in loaded.named_parameters())


class Crash(RuntimeError):
    pass


def test_resume_after_crash_gives_the_uninterrupted_result(tiny_tokenizer: Any, tmp_path: Path) -> None:
    import torch

    from _tiny import tiny_model

    data = _write_dataset(tmp_path / "d.jsonl")
    train_adapter(tiny_model(), tiny_tokenizer, data, tmp_path / "straight", _config())

    def crash_at_5(step: int, loss: float) -> None:
        if step == 5:
            raise Crash("killed")

    with pytest.raises(Crash):
        train_adapter(
            tiny_model(), tiny_tokenizer, data, tmp_path / "resumed", _config(), callback=crash_at_5
        )
    assert not (tmp_path / "resumed").exists()  # nothing published by a crashed run
    checkpoints = sorted(p.name for p in (tmp_path / "resumed.partial").iterdir())
    assert checkpoints == ["checkpoint-2", "checkpoint-4", "run.json"]
    result = train_adapter(tiny_model(), tiny_tokenizer, data, tmp_path / "resumed", _config())
    assert result.resumed_from == 4
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)
    assert read_metadata(tmp_path / "resumed")["metrics"]["losses"] == pytest.approx(
        read_metadata(tmp_path / "straight")["metrics"]["losses"], rel=1e-4
    )


def test_resume_refuses_checkpoints_of_another_config(tiny_tokenizer: Any, tmp_path: Path) -> None:
    from _tiny import tiny_model

    data = _write_dataset(tmp_path / "d.jsonl")

    def crash(step: int, loss: float) -> None:
        if step == 3:
            raise Crash("killed")

    with pytest.raises(Crash):
        train_adapter(tiny_model(), tiny_tokenizer, data, tmp_path / "a", _config(), callback=crash)
    with pytest.raises(ConfigError, match="another config"):
        train_adapter(tiny_model(), tiny_tokenizer, data, tmp_path / "a", _config(learning_rate=1e-3))
    # resume=False starts over
    result = train_adapter(
        tiny_model(), tiny_tokenizer, data, tmp_path / "a", _config(learning_rate=1e-3), resume=False
    )
    assert result.resumed_from is None


def test_existing_output_is_replaced_atomically(tiny_tokenizer: Any, tmp_path: Path) -> None:
    from _tiny import tiny_model

    data = _write_dataset(tmp_path / "d.jsonl")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    train_adapter(tiny_model(), tiny_tokenizer, data, out, _config(max_steps=2))
    assert not (out / "stale.txt").exists() and (out / METADATA_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "d.jsonl"]


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig(learning_rate=3)
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)


@pytest.mark.slow
def test_two_process_training_under_accelerate_launch(tiny_tokenizer: Any, tmp_path: Path) -> None:
    """`accelerate launch` with train/accelerate/cpu_2proc.yaml (2 processes, CPU, gloo) runs the script
    unchanged and trains as well as one process."""
    from _tiny import tiny_model

    model_dir = tmp_path / "tiny"
    tiny_model().save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    data = _write_dataset(tmp_path / "d.jsonl")
    script = Path(__file__).parents[1] / "train" / "train_adapter.py"
    common = [
        "--model",
        str(model_dir),
        "--data",
        str(data),
        "--max-steps",
        "8",
        "--batch-size",
        "4",
        "--lr",
        "5e-3",
        "--rank",
        "4",
        "--save-every",
        "4",
    ]
    # --multi_gpu starts the processes with torchrun; without a GPU they form a gloo group on CPU.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",  # the shipped CPU config: 2 processes, gloo
            str(script.parent / "accelerate" / "cpu_2proc.yaml"),
            "--dynamo_backend",
            "no",
            str(script),
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, str(script), *common, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    m2, m1 = read_metadata(tmp_path / "two")["metrics"], read_metadata(tmp_path / "one")["metrics"]
    assert m2["processes"] == 2 and m1["processes"] == 1
    assert m2["final_loss"] < m2["first_loss"]
    assert m2["final_loss"] == pytest.approx(m1["final_loss"], rel=0.05)
    assert not (tmp_path / "two.partial").exists()

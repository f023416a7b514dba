"""The regression check on a tiny model: the bundled set, perplexity with and without an adapter, answers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from formbound.errors import ConfigError

pytest.importorskip("peft")

from formbound.escalate.regression import (
    RegressionThresholds,
    general_set,
    perplexity,
    regression_check,
)


def test_bundled_general_set_is_packaged_and_sized() -> None:
    texts, prompts = general_set()
    assert len(texts) >= 25 and len(prompts) >= 8
    assert len(set(texts)) == len(texts) and all(len(t.split()) >= 10 for t in texts)


def test_perplexity_matches_the_mean_token_loss(tiny_tokenizer: Any) -> None:
    import torch

    from _tiny import tiny_model

    model = tiny_model()
    text = "The quick brown fox jumps over the lazy dog."
    ids = tiny_tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
    assert perplexity(model, tiny_tokenizer, [text]) == pytest.approx(math.exp(float(nll)), rel=1e-4)


def test_batched_perplexity_equals_one_text_at_a_time(tiny_tokenizer: Any) -> None:
    # Right padding with an attention mask: positions, attention and the tokens counted are those of
    # each text scored alone, whatever the batch size.
    from _tiny import tiny_model

    model = tiny_model()
    texts = [
        "A short one.",
        "The quick brown fox jumps over the lazy dog, twice, and then sits down.",
        "Medium length text about nothing in particular.",
        "x",  # one token: skipped, as before
        "Another text that is somewhat longer than the short one but not the longest here.",
    ]
    alone = perplexity(model, tiny_tokenizer, texts, batch_size=1)
    for size in (2, 3, 16):
        assert perplexity(model, tiny_tokenizer, texts, batch_size=size) == pytest.approx(alone, rel=1e-5)
    with pytest.raises(ConfigError, match="batch_size"):
        perplexity(model, tiny_tokenizer, texts, batch_size=0)


@pytest.fixture()
def adapter_dir(tiny_tokenizer: Any, tmp_path: Path) -> Path:
    from _tiny import tiny_model
    from formbound.escalate.adapter import TrainConfig, train_adapter

    data = tmp_path / "d.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Item {i}"},
                {"role": "assistant", "content": f'{{"n": {i}}}'},
            ]
        }
        for i in range(6)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
        max_steps=4,
        batch_size=3,
        learning_rate=5e-2,
        r=4,
        lora_alpha=8,
        target_modules=["c_attn"],
        save_every=0,
    )
    train_adapter(tiny_model(), tiny_tokenizer, data, tmp_path / "adapter", config)
    return tmp_path / "adapter"


def test_regression_check_measures_both_sides(tiny_model: Any, adapter_dir: Path, tmp_path: Path) -> None:
    general = tmp_path / "general.jsonl"
    general.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"kind": "text", "text": "The quick brown fox jumps over the lazy dog."},
                {"kind": "text", "text": "Extract the fields as JSON, please."},
                {"kind": "prompt", "prompt": "Say hello."},
                {"kind": "prompt", "prompt": "Name a colour."},
            ]
        )
    )
    base_ppl = perplexity(
        tiny_model.model,
        tiny_model.tokenizer,
        ["The quick brown fox jumps over the lazy dog.", "Extract the fields as JSON, please."],
    )
    report = regression_check(
        tiny_model,
        adapter_dir,
        general_text=general,
        max_new_tokens=8,
        thresholds=RegressionThresholds(max_ppl_ratio=1.0001, min_overlap=1.0),
    )
    assert report.base_ppl == pytest.approx(base_ppl, rel=1e-3)
    assert report.ppl_ratio == pytest.approx(report.adapter_ppl / report.base_ppl, rel=1e-3)
    assert report.adapter_ppl != pytest.approx(
        report.base_ppl, rel=1e-6
    )  # a lr-5e-2 adapter changes the model
    assert len(report.answers) == 2 and {a["prompt"] for a in report.answers} == {
        "Say hello.",
        "Name a colour.",
    }
    assert report.texts == 2
    # the limits are strict here, so the figures decide the flags
    expect = int(report.ppl_ratio > 1.0001) + int(report.mean_overlap < 1.0)
    assert len(report.flags) == expect and report.passed is (expect == 0)
    assert tiny_model.adapter is None  # back on the base model
    assert "perplexity" in report.markdown()


def test_bad_general_set_line(tmp_path: Path) -> None:
    from formbound.errors import ConfigError

    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps({"kind": "poem", "text": "x"}) + "\n")
    with pytest.raises(ConfigError, match="kind"):
        general_set(p)


def test_active_weights_follow_the_active_adapter(tiny_model: Any, adapter_dir: Path) -> None:
    """Scoring through the Model interface: the base weights when no adapter is active, even once an
    adapter is loaded into the model; the adapter's weights when it is."""
    text = ["The quick brown fox jumps over the lazy dog."]
    with tiny_model.active_weights() as hf:
        fresh = perplexity(hf, tiny_model.tokenizer, text)
    tiny_model.set_adapter(adapter_dir)
    with tiny_model.active_weights() as hf:
        adapted = perplexity(hf, tiny_model.tokenizer, text)
    tiny_model.set_adapter(None)
    with tiny_model.active_weights() as hf:
        base_again = perplexity(hf, tiny_model.tokenizer, text)
    assert adapted != pytest.approx(fresh, rel=1e-6)
    assert base_again == pytest.approx(fresh, rel=1e-6)


def test_regression_check_needs_a_switchable_model(tmp_path: Path) -> None:
    from formbound.errors import ConfigError

    class Served:
        name = "served"

        def set_adapter(self, path: Any) -> None: ...

    with pytest.raises(ConfigError, match="active_weights"):
        regression_check(Served(), tmp_path)

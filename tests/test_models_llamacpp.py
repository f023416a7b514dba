"""The llama.cpp source: routing and errors (no model), then the embedded GGUF through llama-cpp-python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from formbound.constraints import Constraint
from formbound.enforce import enforce
from formbound.errors import ConfigError, DependencyError, EnforcementError, GenerationError
from formbound.measure import load_task_set
from formbound.models import load
from formbound.prompts import build_messages

SCHEMAS = Path(__file__).parents[1] / "src" / "formbound" / "tasksets"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


# ------------------------------------------------------------------------------------- no model
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float16"}, "do not apply to llama.cpp"),
        ({"backend": "outlines_core"}, "llguidance only"),
    ],
)
def test_llamacpp_options_that_do_not_apply(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load("llamacpp:whatever.gguf", **kwargs)


def test_llamacpp_needs_a_gguf_file(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    with pytest.raises(ConfigError, match=r"existing \.gguf file"):
        load(f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(DependencyError, match=r"formbound\[llamacpp\]"):
        load("llamacpp:default")


def test_other_objects_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot load a model from a int"):
        load(3)


# ------------------------------------------------------------------------------------ real model
# llama_model: the embedded GGUF on llama.cpp (tests/conftest.py)


@pytest.mark.real_model
def test_instance_and_chat_template(llama_model: Any) -> None:
    from formbound.models.llamacpp import LlamaCppModel

    again = load(llama_model.llama)  # a Llama the caller already has
    assert isinstance(again, LlamaCppModel) and again.llama is llama_model.llama
    text, templated = llama_model.render([{"role": "user", "content": "hi"}])
    assert templated and text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert 2 in llama_model.eos_tokens  # <|im_end|> ends a turn
    info = llama_model.info()
    assert (info["name"], info["adapter"], info["backends"]) == ("default", None, ["llguidance"])


@pytest.mark.real_model
def test_finish_reasons_routes_and_counts(llama_model: Any) -> None:
    msgs = [{"role": "user", "content": "Ada Lovelace is 36. Give her name and age as JSON."}]
    (cut,) = llama_model.generate([msgs], max_new_tokens=3)
    assert (cut.finish_reason, cut.generated_tokens, cut.route) == ("length", 3, None)
    assert cut.prompt_tokens == len(llama_model.encode(msgs)) and cut.seconds > 0
    constraint = Constraint("json_schema", PERSON)
    (done,) = llama_model.generate([msgs], constraint=constraint, max_new_tokens=60)
    assert (done.finish_reason, done.route) == ("stop", "llguidance")
    assert set(enforce(done.text, PERSON).value) == {"name", "age"}
    (short,) = llama_model.generate([msgs], constraint=constraint, max_new_tokens=4)
    assert short.finish_reason == "length" and short.text.startswith("{")
    relaxed = Constraint("json_schema", {**PERSON, "uniqueItems": True, "if": {"required": ["age"]}})
    (loose,) = llama_model.generate([msgs], constraint=relaxed, max_new_tokens=60)
    assert loose.route == "relaxed:llguidance" and loose.extra["dropped"]


@pytest.mark.real_model
def test_greedy_is_repeatable_and_prefix_reuse_keeps_it(llama_model: Any) -> None:
    msgs = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
    ]
    first = llama_model.generate([msgs, [{"role": "user", "content": "2+2?"}], msgs], max_new_tokens=8)
    assert first[0].text == first[2].text


@pytest.mark.real_model
@pytest.mark.parametrize(
    ("name", "n", "limit"), [("contacts", 2, 160), ("service_config", 2, 128), ("shop_sql", 3, 96)]
)
def test_constrained_task_sets_validate_or_report_length(
    llama_model: Any, name: str, n: int, limit: int
) -> None:
    task_set = load_task_set(SCHEMAS / name)
    spec = task_set.spec
    prompts = [
        build_messages(spec, t.input, instruction=task_set.instruction) for t in task_set.split("test")[:n]
    ]
    gens = llama_model.generate(prompts, constraint=spec.constraint(), max_new_tokens=limit)
    valid = 0
    for g in gens:
        assert g.route is not None and g.route.endswith("llguidance")
        if g.finish_reason == "length":
            continue
        try:
            enforce(g.text, spec, repair=False)
        except EnforcementError as err:  # pragma: no cover - the message is the point
            pytest.fail(f"constrained {name} output failed enforce: {g.text!r}: {err}")
        valid += 1
    assert valid >= 1, [(g.finish_reason, g.text) for g in gens]


@pytest.mark.real_model
def test_a_prompt_longer_than_the_context_is_refused(llama_model: Any) -> None:
    with pytest.raises(GenerationError, match="larger n_ctx"):
        llama_model.generate(["word " * 3000], max_new_tokens=2)


# ------------------------------------------------------------------------------ the mask, no model
class _Rejecting:
    """A matcher that refuses every token (what a grammar does with a token it forbids)."""

    def consume_token(self, token: int) -> bool:
        return False

    def get_error(self) -> str:
        return "token not allowed"


def test_mask_matches_llguidance_and_feeds_generated_tokens(tiny_tokenizer: Any) -> None:
    import llguidance
    import llguidance.hf
    import numpy as np

    from formbound.models.llamacpp_constrained import LLGuidanceMask

    lltok = llguidance.hf.from_tokenizer(tiny_tokenizer)
    grammar = llguidance.grammar_from("regex", "(ab|cd)+ef")
    reference = llguidance.LLMatcher(lltok, grammar)
    vocab = lltok.vocab_size
    mask = LLGuidanceMask(llguidance.LLMatcher(lltok, grammar), 3, vocab, [tiny_tokenizer.eos_token_id])
    prompt = np.array([5, 6, 7], dtype=np.intc)
    generated: list[int] = []
    for _step in range(2):
        logits = mask(
            np.concatenate([prompt, np.array(generated, dtype=np.intc)]), np.zeros(vocab, np.float32)
        )
        bits = np.unpackbits(np.frombuffer(reference.compute_bitmask(), dtype=np.uint8), bitorder="little")
        allowed = np.isfinite(logits)
        assert np.array_equal(allowed, bits[:vocab].astype(bool))
        assert 0 < allowed.sum() < vocab
        token = int(np.flatnonzero(allowed)[0])
        assert reference.consume_token(token)
        generated.append(token)
    mask(np.concatenate([prompt, np.array(generated, dtype=np.intc)]), np.zeros(vocab, np.float32))
    assert mask.consumed == 2 and not mask.complete()


def test_a_failing_mask_step_stops_generation_and_raises() -> None:
    import numpy as np

    from formbound.models.llamacpp_constrained import LLGuidanceMask

    mask = LLGuidanceMask(_Rejecting(), 2, 64, [1, 3])
    logits = mask(np.array([9, 9, 42], dtype=np.intc), np.zeros(64, np.float32))
    assert np.flatnonzero(np.isfinite(logits)).tolist() == [1, 3]  # only end-of-generation remains
    with pytest.raises(GenerationError, match="rejected token 42"):
        mask.raise_error()


@pytest.mark.real_model
def test_threads_default_to_every_usable_core() -> None:
    # llama-cpp-python's own default decodes on half the cores (1.6x slower per token on 2 cores,
    # BENCHMARKS.md §7b); formbound's loader uses all of them unless told otherwise.
    pytest.importorskip("llama_cpp")
    from formbound.models.llamacpp import default_threads

    try:
        model = load("llamacpp:default", n_ctx=256)
        pinned = load("llamacpp:default", n_ctx=256, n_threads=1)
    except DependencyError as exc:
        pytest.skip(str(exc))
    assert model.llama.context_params.n_threads == default_threads()
    assert model.llama.context_params.n_threads_batch == default_threads()
    assert pinned.llama.context_params.n_threads == 1

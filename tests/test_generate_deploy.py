"""``formbound escalate`` writes what ``Generator.from_run`` deploys: the recommended rung, its prompt
(the few-shot examples it was measured with) and its adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests._measure_fakes import FakeModel, write_task_set
from tests.test_escalate_ladder import BASE, CLEAR_WIN, FakeHarness, _run

import formbound as fb
from formbound.escalate.ladder import escalate


@pytest.mark.parametrize("seed", [0, 1])
def test_escalate_then_from_run_deploys_what_was_measured(tmp_path: Path, seed: int) -> None:
    task_dir = write_task_set(tmp_path / "persons")
    model = FakeModel()
    out = tmp_path / "runs" / "persons"
    decision = escalate(model, task_dir, target=0.5, out_dir=out, seed=seed, command="test")
    assert decision.outcome == "cheap_rung"
    saved = json.loads((out / "decision.json").read_text())
    deploy = saved["deploy"]
    assert deploy["model"] == "fake" and deploy["seed"] == seed and deploy["max_new_tokens"] == 32
    assert deploy["strategy"] == decision.recommended and deploy["adapter"] is None
    assert not Path(deploy["task_set"]).is_absolute()

    gen = fb.Generator.from_run(out, model=FakeModel())
    assert gen.strategy.name == decision.recommended
    assert gen.instruction == "Extract the person as JSON."
    assert 0 < len(gen.examples) <= gen.strategy.shots
    # the first prompt of a test item is exactly the one the ladder measured the rung with
    measured = [p for call in model.calls for p in call["prompts"]]
    assert gen.messages("Ada is 36.") in measured
    # the seed chose them: seeds 0 and 1 draw the train items in different orders
    assert gen.examples[0][0] == {0: "Ben is 41.", 1: "Ann is 30."}[seed]
    assert gen("Ada is 36.").value == {"name": "Ada", "age": 36}


def test_promoted_adapter_is_deployed(tmp_path: Path) -> None:
    from tests.test_escalate_ladder import people_task_set

    task_set = people_task_set()
    harness = FakeHarness(BASE, adapter=CLEAR_WIN)
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "adapter_promoted" and d.adapter_path
    deploy = json.loads((tmp_path / "run" / "decision.json").read_text())["deploy"]
    assert deploy["strategy"] == "adapter+constrained" and deploy["constrained"] is True
    assert not Path(deploy["adapter"]).is_absolute()

    model = FakeModel()
    gen = fb.Generator.from_run(tmp_path / "run", model=model)
    assert gen.strategy.adapter == str(tmp_path / "run" / deploy["adapter"])
    assert Path(gen.strategy.adapter).resolve() == Path(d.adapter_path).resolve()
    assert gen.strategy.constrained and gen.instruction == "Extract as JSON."


def test_the_engine_that_measured_the_winner_is_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the cheap and adapter rungs ran on llama.cpp: from_run serves the adapter there, not on transformers
    import importlib.util

    from tests.test_escalate_ladder import people_task_set

    from formbound.deployment import read_deploy

    task_set = people_task_set()
    harness = FakeHarness(BASE, adapter=CLEAR_WIN)
    fast = FakeModel()
    fast.load_name = "llamacpp:default"  # type: ignore[attr-defined]
    d = _run(harness, task_set, tmp_path, fast_model=fast)
    assert d.outcome == "adapter_promoted"
    deploy = json.loads((tmp_path / "run" / "decision.json").read_text())["deploy"]
    assert (deploy["model"], deploy["engine"]) == ("fake", "llamacpp:default")

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else real(name, *a)
    )
    assert read_deploy(tmp_path / "run")[0] == "llamacpp:default"
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a)
    )
    with pytest.warns(UserWarning, match="measured on 'llamacpp:default'.*serving it on 'fake'"):
        assert read_deploy(tmp_path / "run")[0] == "fake"


def test_no_engine_is_recorded_when_the_model_itself_measured(tmp_path: Path) -> None:
    from tests.test_escalate_ladder import people_task_set

    d = _run(FakeHarness(BASE, adapter=CLEAR_WIN), people_task_set(), tmp_path)
    assert d.deploy is not None and d.deploy["engine"] is None


def test_a_model_loaded_by_a_name_is_deployed_by_that_name(tmp_path: Path) -> None:
    # --model llamacpp:default: from_run must load llama.cpp again, not the transformers "default"
    task_dir = write_task_set(tmp_path / "persons")
    model = FakeModel()
    model.load_name = "llamacpp:default"  # type: ignore[attr-defined]
    escalate(model, task_dir, target=0.5, out_dir=tmp_path / "run", command="test")
    deploy = json.loads((tmp_path / "run" / "decision.json").read_text())["deploy"]
    assert (deploy["model"], deploy["engine"]) == ("llamacpp:default", None)

"""The ladder generates data before training when the train split is small, and says so."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.test_escalate_ladder import BASE, CLEAR_WIN, FakeHarness, _run
from tests.test_escalate_ladder import task_set as task_set

from formbound.errors import ConfigError
from formbound.escalate.sources import SMALL_TRAIN, DataSources


def test_small_train_split_gets_synthetic_data_named_in_the_decision(task_set: Any, tmp_path: Path) -> None:
    _run(FakeHarness(BASE, adapter=CLEAR_WIN), task_set, tmp_path)
    data = json.loads((tmp_path / "run" / "decision.json").read_text())
    card = data["dataset"]
    synth = card["sources"]["schema_synth"]
    assert synth["kept"] > 0 and synth["offered"] >= synth["kept"] and "offered" not in synth["dropped"]
    assert "the train split has 8 records (< 200)" in card["note"]
    assert "Generated data before training" in (tmp_path / "run" / "decision.md").read_text()


def test_generation_can_be_turned_off(task_set: Any, tmp_path: Path) -> None:
    _run(FakeHarness(BASE, adapter=CLEAR_WIN), task_set, tmp_path, data=DataSources(synthesize=0))
    card = json.loads((tmp_path / "run" / "decision.json").read_text())["dataset"]
    assert card["sources"]["schema_synth"]["offered"] == 0 and card["note"] is None


def test_large_train_split_generates_nothing_by_default() -> None:
    kw = DataSources().build_kwargs(SMALL_TRAIN)
    assert kw["synthesize"] == 0 and kw["note"] is None
    assert DataSources().build_kwargs(SMALL_TRAIN - 1)["synthesize"] > 0
    named = DataSources(teacher=SimpleNamespace(name="big"), synthesize=0).build_kwargs(10)
    assert named["note"] is not None and "teacher:big" in named["note"]


def test_inputs_without_a_teacher_are_refused() -> None:
    with pytest.raises(ConfigError, match="need a teacher"):
        DataSources(inputs=["x"])


def test_cli_teacher_and_inputs_reach_the_ladder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    import formbound.escalate
    import formbound.models
    from formbound.cli import main
    from formbound.escalate.decision import Decision

    seen: list[dict[str, Any]] = []

    def fake_escalate(model: Any, tasks: Any, **kw: Any) -> Decision:
        seen.append(kw)
        return Decision("cheap_rung", "constrained", ["ok"], kw["target"], {}, seconds={"total": 1.0})

    monkeypatch.setattr(formbound.escalate, "escalate", fake_escalate)
    monkeypatch.setattr(formbound.models, "load", lambda name, **kw: SimpleNamespace(name=name))
    inputs = tmp_path / "logs.jsonl"
    inputs.write_text('{"input": "Dan is 44."}\n"Eve is 23."\n\n', encoding="utf-8")
    args = ["escalate", "--tasks", "contacts", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*args, "--teacher", "big.gguf", "--inputs", str(inputs)])
    assert result.exit_code == 0, result.output
    data = seen[0]["data"]
    assert data.teacher.name == "big.gguf" and list(data.inputs) == ["Dan is 44.", "Eve is 23."]
    result = CliRunner().invoke(main, [*args, "--inputs", str(inputs)])
    assert result.exit_code == 2 and "--inputs needs --teacher" in result.output
    inputs.write_text('{"text": 1}\n', encoding="utf-8")
    result = CliRunner().invoke(main, [*args, "--teacher", "big.gguf", "--inputs", str(inputs)])
    assert result.exit_code != 0 and "line 1" in result.output
    assert CliRunner().invoke(main, args).exit_code == 0 and seen[-1]["data"] is None

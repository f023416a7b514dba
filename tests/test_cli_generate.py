"""``formbound generate``: one value per line, exit 1 on an invalid item, 2 on usage, 3 internal; --run."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests._measure_fakes import SCHEMA, FakeModel, write_task_set

import formbound.models
from formbound.cli import main
from formbound.models.base import Generation, Model

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    import logging

    logger = logging.getLogger("formbound")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


class Canned(Model):
    """Answers every prompt with the text given for the input it contains."""

    name = "canned"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def generate(self, prompts: Sequence[Any], **kw: Any) -> list[Generation]:
        out = []
        for messages in prompts:
            last = messages[-1]["content"]
            text = next(t for k, t in self.answers.items() if k in last)
            out.append(Generation(text, 5, 5, 0.0, "stop"))
        return out


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """``formbound.models.load`` gives a FakeModel and records what it was asked for."""
    calls: list[tuple[Any, dict[str, Any]]] = []

    def fake_load(name: Any, **kw: Any) -> Model:
        calls.append((name, kw))
        return FakeModel()

    monkeypatch.setattr(formbound.models, "load", fake_load)
    return calls


@pytest.fixture()
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "person.json"
    path.write_text(json.dumps(SCHEMA))
    return path


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


def test_inputs_as_arguments_give_one_json_value_per_line(loads: list[Any], schema: Path) -> None:
    r = invoke("generate", "--spec", str(schema), "--strategy", "constrained", "Ada is 36.", "Cy is 19.")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"name": "Ada", "age": 36}, {"name": "Cy", "age": 19}]
    assert lines[0] == '{"name": "Ada", "age": 36}'  # the canonical text
    assert loads[0][0] == "default"


def test_stdin_lines_and_an_invalid_item(loads: list[Any], schema: Path) -> None:
    # raw: no repairs, no re-ask; "Cy is 19." is cut off by the token limit, "Bob is 41." is fenced
    r = invoke(
        "generate", "--spec", str(schema), "--strategy", "raw", input="Ada is 36.\n\nCy is 19.\nDee is 52.\n"
    )
    assert r.exit_code == 1
    # line N of the output answers input N: the failed item is an empty line
    assert r.stdout.splitlines() == ['{"name": "Ada", "age": 36}', "", '{"name": "Dee", "age": 25}']
    assert "item 2:" in r.stderr and "token limit" in r.stderr
    assert "item 1" not in r.stderr and "item 3" not in r.stderr


def test_batches_keep_the_order(loads: list[Any], schema: Path) -> None:
    items = ["Ada is 36.", "Dee is 52.", "Ada is 36.", "Dee is 52.", "Ada is 36."]
    r = invoke("generate", "--spec", str(schema), "--strategy", "prompted", "--batch-size", "2", *items)
    assert r.exit_code == 0, r.output
    assert [json.loads(line)["name"] for line in r.stdout.splitlines()] == ["Ada", "Dee", "Ada", "Dee", "Ada"]


def test_instruction_and_token_limit_reach_the_model(monkeypatch: pytest.MonkeyPatch, schema: Path) -> None:
    model = FakeModel()
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: model)
    args = ["--instruction", "Pull out the person.", "--max-new-tokens", "17"]
    r = invoke("generate", "--spec", str(schema), "--strategy", "prompted", *args, "Ada is 36.")
    assert r.exit_code == 0, r.output
    (call,) = model.calls
    assert call["max_new_tokens"] == 17
    assert "Pull out the person." in json.dumps(call["prompts"][0])


def test_yaml_values_are_one_line_of_flow_yaml(monkeypatch: pytest.MonkeyPatch, schema: Path) -> None:
    from formbound.formats.yaml.load import load_yaml

    answers = {"Ada": "name: Ada\nage: 36\n", "Bob": "name: 'Bob: the builder'\nage: 41\n"}
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: Canned(answers))
    r = invoke("generate", "--spec", str(schema), "--format", "yaml", "--strategy", "prompted", "Ada", "Bob")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert [load_yaml(line) for line in lines] == [
        {"name": "Ada", "age": 36},
        {"name": "Bob: the builder", "age": 41},
    ]


def test_sql_values_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"cities": "SELECT\n  city\nFROM customers\nORDER BY city"}
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: Canned(answers))
    r = invoke("generate", "--spec", str(FIXTURES / "sql" / "shop.sql"), "--strategy", "prompted", "cities")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["SELECT city FROM customers ORDER BY city"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --spec"),
        (("--spec", "SCHEMA", "--strategy", "constrianed"), "did you mean 'constrained'"),
        (("--spec", "SCHEMA", "--run", "RUN"), "drop --spec"),
        (("--spec", "missing.json"), "missing.json"),
        (("--run", "no-such-run"), "decision.json"),
    ],
)
def test_usage_errors_exit_2_before_a_model_loads(
    monkeypatch: pytest.MonkeyPatch, schema: Path, args: tuple[str, ...], message: str
) -> None:
    def fail(*a: Any, **k: Any) -> Any:
        pytest.fail("a model was loaded before the flags were checked")

    monkeypatch.setattr(formbound.models, "load", fail)
    argv = [str(schema) if a == "SCHEMA" else a for a in args]
    r = invoke("generate", *argv, "Ada is 36.")
    assert r.exit_code == 2, r.output
    assert message in r.stderr


def test_internal_error_is_exit_3(monkeypatch: pytest.MonkeyPatch, schema: Path) -> None:
    class Broken(Model):
        def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
            raise RuntimeError("kaboom")

    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: Broken())
    r = invoke("generate", "--spec", str(schema), "--strategy", "prompted", "Ada is 36.")
    assert r.exit_code == 3
    assert "RuntimeError: kaboom" in r.stderr and "Traceback" not in r.stderr


def test_run_deploys_what_escalate_recommended(loads: list[Any], tmp_path: Path) -> None:
    from formbound.escalate.ladder import escalate

    task_dir = write_task_set(tmp_path / "persons")
    run = tmp_path / "runs" / "persons"
    decision = escalate(FakeModel(), task_dir, target=0.5, out_dir=run, command="test")
    r = invoke("generate", "--run", str(run), input="Ada is 36.\nCy is 19.\n")
    assert r.exit_code == 0, r.output
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"name": "Ada", "age": 36},
        {"name": "Cy", "age": 19},
    ]
    assert [name for name, _ in loads] == ["fake"]  # the model the run recorded
    r = invoke("generate", "--run", str(run), "--model", "other", "Ada is 36.")
    assert r.exit_code == 0 and loads[-1][0] == "other"
    assert decision.recommended in ("reask", "constrained", "repaired")

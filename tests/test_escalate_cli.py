"""``formbound escalate``: options reach the ladder, the decision is printed, errors are clean."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import formbound.escalate
import formbound.models
from formbound.cli import main
from formbound.errors import ConfigError
from formbound.escalate.ladder import Decision
from formbound.escalate.train_config import cuda_available


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """Commands configure the ``formbound`` logger; leave it as found for the other tests."""
    import logging

    logger = logging.getLogger("formbound")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def fake_escalate(model: Any, tasks: Any, **kw: Any) -> Decision:
        seen.append({"model": model, "tasks": tasks, **kw})
        if kw["target"] == 0.5:
            raise ConfigError("task set 'nope' has no train items")
        return Decision(
            "cheap_rung",
            "constrained",
            ["`constrained` reaches 100%"],
            kw["target"],
            {},
            seconds={"total": 12.0},
        )

    monkeypatch.setattr(formbound.escalate, "escalate", fake_escalate)
    monkeypatch.setattr(formbound.models, "load", lambda name, **kw: f"model:{name}")
    return seen


def test_options_reach_the_ladder_and_the_decision_is_printed(
    calls: list[dict[str, Any]], tmp_path: Any
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "escalate",
            "--tasks",
            "contacts",
            "--out",
            str(tmp_path),
            "--target",
            "0.9",
            "--limit",
            "5",
            "--epochs",
            "2",
            "--lr",
            "0.002",
            "--rank",
            "8",
            "--force-train",
            "--augment",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recommended strategy: constrained" in result.output and "wall time: 12 s" in result.output
    (call,) = calls
    assert call["model"] == "model:default" and call["tasks"].name == "contacts"
    assert (
        call["target"] == 0.9 and call["limit"] == 5 and call["force_train"] is True and call["augment"] == 10
    )
    cfg = call["train_config"]
    assert (cfg.epochs, cfg.learning_rate, cfg.r, cfg.lora_alpha) == (2.0, 0.002, 8, 16)
    if not cuda_available():  # the flags changed what they name; the CPU defaults kept the rest
        assert (cfg.batch_size, cfg.lora_dropout, cfg.max_steps) == (4, 0.0, None)
    assert call["command"].startswith("formbound ")  # the command line is recorded in the decision


def test_errors_are_reported_without_traceback(calls: list[dict[str, Any]], tmp_path: Any) -> None:
    result = CliRunner().invoke(
        main, ["escalate", "--tasks", "contacts", "--out", str(tmp_path), "--target", "0.5"]
    )
    # a ConfigError from the ladder is a usage error (exit 2), one line
    assert result.exit_code == 2 and "has no train items" in result.output
    assert "Traceback" not in result.output
    bad = CliRunner().invoke(main, ["escalate", "--tasks", "x", "--out", str(tmp_path), "--target", "1.5"])
    assert bad.exit_code == 2 and "target" in bad.output


def test_alpha_reaches_the_ladder(calls: list[dict[str, Any]], tmp_path: Any) -> None:
    result = CliRunner().invoke(
        main, ["escalate", "--tasks", "contacts", "--out", str(tmp_path), "--alpha", "0.01"]
    )
    assert result.exit_code == 0, result.output
    assert calls[-1]["alpha"] == 0.01 and calls[-1]["limit"] is None  # the whole test split by default
    assert calls[-1]["learning_curve"] is None  # the ladder decides: on a GPU
    CliRunner().invoke(main, ["escalate", "--tasks", "contacts", "--out", str(tmp_path), "--learning-curve"])
    assert calls[-1]["learning_curve"] is True
    CliRunner().invoke(main, ["escalate", "--tasks", "contacts", "--out", str(tmp_path)])
    assert calls[-1]["alpha"] == 0.05
    bad = CliRunner().invoke(
        main, ["escalate", "--tasks", "contacts", "--out", str(tmp_path), "--alpha", "1"]
    )
    assert bad.exit_code == 2


def test_rebase_reaches_the_rebase_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    seen: list[dict[str, Any]] = []

    def fake_rebase(model: Any, run: str, **kw: Any) -> Decision:
        seen.append({"model": model, "run": run, **kw})
        return Decision("adapter_promoted", "adapter:x", ["rebased: adapter still needed — yes"], 0.9, {})

    monkeypatch.setattr(formbound.escalate, "rebase", fake_rebase)
    monkeypatch.setattr(formbound.models, "load", lambda name, **kw: f"model:{name}")
    result = CliRunner().invoke(main, ["escalate", "--rebase", "org/new", "--run", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "still needed — yes" in result.output
    (call,) = seen
    assert call["model"] == "model:org/new" and call["run"] == str(tmp_path) and call["out_dir"] is None
    assert call["train_config"] is None and call["alpha"] is None  # the run's settings are kept
    missing = CliRunner().invoke(main, ["escalate", "--rebase", "org/new"])
    assert missing.exit_code == 2 and "--run" in missing.output
    neither = CliRunner().invoke(main, ["escalate", "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "--tasks" in neither.output

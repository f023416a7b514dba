"""The escalation ladder's decisions, with fake evaluation results (no model), and the regression math."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from formbound import Spec
from formbound.errors import ConfigError
from formbound.escalate.ladder import (
    RungNumbers,
    adapter_wins,
    best_rung,
    escalate,
    failure_causes,
    pick_cheap_rung,
)
from formbound.escalate.regression import RegressionReport, RegressionThresholds, judge, token_overlap
from formbound.measure.metrics import Rate, StrategyMetrics

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _metrics(
    name: str, valid: int, accuracy: float, n: int = 10, missing: int = 0, behaviour: int = 0
) -> Any:
    return StrategyMetrics(
        strategy=name,
        n=n,
        syntax_valid=Rate(valid, n),
        schema_valid=Rate(valid, n),
        correct=Rate(int(accuracy * n), n),
        field_accuracy=accuracy,
        per_field={},
        truncated=Rate(n - valid, n),
        reasks=0,
        latency_p50=None,
        latency_p95=None,
        tokens_per_second=None,
        mean_generated_tokens=None,
        mean_seconds=None,
        wrong_causes={"missing_information": missing, "behaviour": behaviour},
    )


class FakeHarness:
    """Plays the measure harness, the trainer and the regression check; records what was asked."""

    def __init__(
        self,
        cheap: dict[str, tuple[int, float, int, int]],
        adapter: tuple[tuple[int, float], ...] = (),
        flags: tuple[str, ...] = (),
    ) -> None:
        self.cheap, self.adapter, self.flags = cheap, adapter, flags
        self.calls: list[tuple[list[str], str]] = []
        self.trained: list[Path] = []

    def evaluate(
        self,
        model: Any,
        ts: Any,
        strategies: list[str],
        *,
        split: str,
        limit: Any,
        seed: int,
        out_dir: Path,
        command: str,
    ) -> Any:
        assert command == "test"  # the ladder records its own command line in every report
        self.calls.append((list(strategies), split))
        metrics = {}
        for i, name in enumerate(strategies):
            if name.startswith("adapter:"):
                valid, acc = self.adapter[i]
                metrics[name] = _metrics(name, valid, acc)
            else:
                valid, acc, missing, behaviour = self.cheap[name]
                metrics[name] = _metrics(name, valid, acc, missing=missing, behaviour=behaviour)
        return SimpleNamespace(strategies=list(strategies), metrics=metrics, records_for=lambda s: [])

    def train(self, model: Any, dataset: Path, out: Path, config: Any, spec_hash: str) -> dict[str, Any]:
        assert dataset.is_file()
        out.mkdir(parents=True)
        (out / "adapter_config.json").write_text("{}")
        self.trained.append(out)
        return {
            "metrics": {"steps": 3, "first_loss": 2.0, "final_loss": 1.0, "losses": [2.0, 1.5, 1.0]},
            "training_config": {"r": 8},
        }

    def regression(
        self, model: Any, adapter: Path, *, thresholds: Any = None, spec: Any = None
    ) -> RegressionReport:
        ratio = 1.5 if self.flags else 1.01
        return RegressionReport(
            base_ppl=10.0,
            adapter_ppl=10.0 * ratio,
            ppl_ratio=ratio,
            overlaps=[0.9],
            mean_overlap=0.9,
            thresholds={"max_ppl_ratio": 1.15, "min_overlap": 0.5},
            flags=list(self.flags),
            texts=30,
        )


@pytest.fixture()
def task_set() -> SimpleNamespace:
    tasks = [
        SimpleNamespace(
            id=f"t{i}",
            input=f"Person{i} is {20 + i}.",
            gold={"name": f"Person{i}", "age": 20 + i},
            split="train" if i % 2 else "test",
            missing=(),
        )
        for i in range(8)
    ]
    return SimpleNamespace(name="people", spec=Spec.json(SCHEMA), instruction="Extract as JSON.", tasks=tasks)


def _run(harness: FakeHarness, task_set: Any, tmp_path: Path, **kw: Any) -> Any:
    model = SimpleNamespace(name="fake", tokenizer=None)
    options = {"target": 0.9, **kw}
    return escalate(
        model,
        task_set,
        out_dir=tmp_path / "run",
        augment=2,
        command="test",
        evaluate_fn=harness.evaluate,
        train_fn=harness.train,
        regression_fn=harness.regression,
        **options,
    )


BASE = {
    "raw": (2, 0.2, 0, 5),
    "prompted": (5, 0.45, 0, 5),
    "repaired": (6, 0.5, 0, 5),
    "reask": (7, 0.55, 0, 5),
    "constrained": (8, 0.6, 0, 6),
}


def test_cheap_rung_wins_and_nothing_is_trained(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness({**BASE, "repaired": (9, 0.6, 0, 2), "constrained": (10, 0.6, 0, 1)})
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "cheap_rung" and d.recommended == "repaired"  # the cheapest that meets 90%
    assert harness.trained == [] and len(harness.calls) == 1
    saved = json.loads((tmp_path / "run" / "decision.json").read_text())
    assert saved["recommended"] == "repaired" and saved["baseline"]["repaired"]["validity"] == 0.9
    assert "repaired" in (tmp_path / "run" / "decision.md").read_text()


def test_cheap_rung_losing_accuracy_does_not_count(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness({**BASE, "constrained": (10, 0.3, 0, 5)}, adapter=((9, 0.6), (10, 0.62)))
    d = _run(harness, task_set, tmp_path)
    assert d.outcome != "cheap_rung"


def test_accuracy_target_sends_a_valid_but_inaccurate_rung_to_training(task_set: Any, tmp_path: Path) -> None:
    scores = {**BASE, "constrained": (10, 0.6, 0, 5)}
    d = _run(FakeHarness(scores), task_set, tmp_path / "a")
    assert d.outcome == "cheap_rung"  # validity alone: constrained is enough
    harness = FakeHarness(scores, adapter=((10, 0.9), (10, 0.9)))
    d = _run(harness, task_set, tmp_path / "b", accuracy_target=0.8)
    assert d.outcome == "adapter_promoted" and len(harness.trained) == 1
    assert any("under the accuracy target 80%" in r for r in d.reasons)
    with pytest.raises(ConfigError, match="accuracy_target"):
        _run(FakeHarness(scores), task_set, tmp_path / "c", accuracy_target=0.0)


def test_missing_information_recommends_retrieval(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness({**BASE, "constrained": (8, 0.4, 9, 1)})
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "missing_information" and harness.trained == []
    assert d.failure_causes["missing_information"] == 9 and d.failure_causes["behaviour"] == 3
    assert any("retrieval" in r for r in d.reasons)
    forced = _run(
        FakeHarness({**BASE, "constrained": (8, 0.4, 9, 1)}, adapter=((9, 0.5), (10, 0.5))),
        task_set,
        tmp_path / "forced",
        force_train=True,
    )
    assert forced.outcome in ("adapter_promoted", "adapter_rejected") and forced.trained_adapter
    assert any("would have stopped" in r for r in forced.reasons)


def test_adapter_promoted_when_it_wins_without_regression(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness(BASE, adapter=((9, 0.7), (10, 0.72)))
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "adapter_promoted" and d.promoted
    assert not any("forced" in r for r in d.reasons)
    adapter_dir = str(tmp_path / "run" / "adapter")
    assert d.recommended == f"adapter:{adapter_dir}+constrained"
    assert d.adapter_path == adapter_dir
    assert harness.calls[-1] == ([f"adapter:{adapter_dir}", f"adapter:{adapter_dir}+constrained"], "test")
    data = json.loads((tmp_path / "run" / "decision.json").read_text())
    assert data["promoted"] is True and data["adapter"][f"adapter:{adapter_dir}"]["valid"] == 9
    assert data["dataset"]["records"] > 0 and data["regression"]["passed"] is True
    assert set(data["seconds"]) >= {"measure_cheap_rungs", "build_dataset", "train_adapter", "total"}
    # the dataset was built from train items only
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "dataset" / "train.jsonl").read_text().splitlines()
    ]
    test_ids = {t.id for t in task_set.tasks if t.split == "test"}
    assert rows and not any(r["id"].split("~")[0] in test_ids for r in rows)


def test_adapter_rejected_when_it_does_not_win(task_set: Any, tmp_path: Path) -> None:
    d = _run(FakeHarness(BASE, adapter=((6, 0.5), (8, 0.55))), task_set, tmp_path)
    assert d.outcome == "adapter_rejected" and d.recommended == "constrained" and d.adapter_path is None
    assert d.trained_adapter


def test_adapter_rejected_when_it_regresses_unless_flag_only(task_set: Any, tmp_path: Path) -> None:
    flags = ("perplexity on general text rose ×1.500",)
    d = _run(FakeHarness(BASE, adapter=((9, 0.7), (10, 0.72)), flags=flags), task_set, tmp_path)
    assert d.outcome == "adapter_rejected" and any("regression" in r for r in d.reasons)
    d2 = _run(
        FakeHarness(BASE, adapter=((9, 0.7), (10, 0.72)), flags=flags),
        task_set,
        tmp_path / "b",
        on_regression="flag",
    )
    assert d2.outcome == "adapter_promoted"


def test_bad_arguments(task_set: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target"):
        _run(FakeHarness(BASE), task_set, tmp_path, target=1.5)
    with pytest.raises(ConfigError, match="on_regression"):
        _run(FakeHarness(BASE), task_set, tmp_path, on_regression="ignore")


def _n(name: str, valid: int, acc: float, n: int = 10) -> RungNumbers:
    return RungNumbers(name, n, valid, valid / n, acc, acc)


def test_rung_rules() -> None:
    rungs = [_n("raw", 3, 0.3), _n("prompted", 9, 0.5), _n("constrained", 10, 0.49)]
    assert pick_cheap_rung(rungs, 0.9).strategy == "prompted"
    assert pick_cheap_rung(rungs, 1.0).strategy == "constrained"  # within the 2-point tolerance
    assert pick_cheap_rung(rungs, 1.0, tolerance=0.0) is None
    assert pick_cheap_rung(rungs, 0.9, accuracy_target=0.5).strategy == "prompted"
    assert pick_cheap_rung(rungs, 0.9, accuracy_target=0.6) is None
    assert best_rung(rungs).strategy == "constrained"
    assert best_rung([_n("a", 5, 0.5), _n("b", 5, 0.5)]).strategy == "a"  # tie: the cheaper
    assert adapter_wins(_n("ad", 10, 0.49), _n("c", 9, 0.5))[0]
    assert not adapter_wins(_n("ad", 10, 0.40), _n("c", 9, 0.5))[0]
    assert adapter_wins(_n("ad", 9, 0.6), _n("c", 9, 0.5))[0]
    assert not adapter_wins(_n("ad", 8, 0.9), _n("c", 9, 0.5))[0]
    causes = failure_causes(RungNumbers("c", 10, 7, 0.7, 0.5, 0.4, missing_information=2, behaviour=1))
    assert causes["behaviour"] == 4 and causes["missing_share"] == pytest.approx(2 / 6)


def test_regression_math() -> None:
    assert token_overlap("the cat sat", "the cat sat") == 1.0
    assert token_overlap("a b", "c d") == 0.0
    assert token_overlap("the cat sat", "the cat ran") == pytest.approx(2 / 3)
    t = RegressionThresholds(max_ppl_ratio=1.1, min_overlap=0.5)
    ratio, mean, flags = judge(10.0, 10.5, [0.6, 0.8], t)
    assert ratio == pytest.approx(1.05) and mean == pytest.approx(0.7) and flags == []
    _, _, flags = judge(10.0, 12.0, [0.2, 0.4], t)
    assert len(flags) == 2 and "1.200" in flags[0] and "0.30" in flags[1]
    with pytest.raises(ConfigError):
        RegressionThresholds(max_ppl_ratio=0.9)


def test_format_leak_gates_and_overlap_is_report_only() -> None:
    from formbound.escalate.regression import in_format

    t = RegressionThresholds()
    # a small model's answers drift (low overlap) without damage: no flag by default
    _, mean, flags = judge(10.0, 10.1, [0.3, 0.4], t, base_leak=0.0, adapter_leak=0.1)
    assert mean == pytest.approx(0.35) and flags == []
    # answering general prompts in JSON is damage
    _, _, flags = judge(10.0, 10.1, [0.9], t, base_leak=0.0, adapter_leak=0.5)
    assert len(flags) == 1 and "trained format: 50%" in flags[0]
    spec = Spec.json({"type": "object"})
    assert in_format('{"name": "Paris"}', spec)
    assert in_format("```json\n{}\n```", spec)
    assert not in_format("The capital of France is Paris.", spec)
    yspec = Spec.yaml({"type": "object"})
    assert in_format("name: Paris\ncountry: France", yspec)
    assert not in_format("Note: Paris is the capital.", yspec)
    with pytest.raises(ConfigError):
        RegressionThresholds(max_format_leak=1.5)

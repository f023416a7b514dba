"""The escalation ladder's decisions on constructed per-item records (no model), and the regression math.

Every rung is built from :class:`~formbound.measure.records.Record` objects and summarised by the
measure harness's own :func:`~formbound.measure.metrics.summarise`, so the decision pairs real items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from formbound import Spec
from formbound.errors import ConfigError
from formbound.escalate.decision import (
    RungNumbers,
    best_rung,
    compare_rungs,
    failure_causes,
    item_scores,
    judge_adapter,
    pick_cheap_rung,
    reaches_target,
)
from formbound.escalate.ladder import escalate
from formbound.escalate.regression import RegressionReport, RegressionThresholds, judge, token_overlap
from formbound.measure.metrics import summarise
from formbound.measure.records import Record
from formbound.measure.tasks import Task, TaskSet

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@dataclass(frozen=True)
class Rung:
    """A constructed rung on ``n`` test items ``t0..``: items ``start..start+valid-1`` (mod n) are valid,
    the first ``correct`` of those wholly correct; the rest of the valid ones have a wrong age, the
    first ``missing`` of them with a gold value absent from the input. ``/name`` is right when valid."""

    valid: int
    correct: int
    n: int = 40
    missing: int = 0
    start: int = 0
    tokens: int = 20

    def records(self, name: str) -> list[Record]:
        valid_ids = [(self.start + j) % self.n for j in range(self.valid)]
        right = set(valid_ids[: self.correct])
        wrong_ids = valid_ids[self.correct :]
        out = []
        for i in range(self.n):
            ok = i in valid_ids
            good = i in right
            wrong = []
            if ok and not good:
                cause = "missing_information" if wrong_ids.index(i) < self.missing else "behaviour"
                wrong = [{"path": "/age", "gold": 1, "pred": 2, "cause": cause}]
            out.append(
                Record(
                    strategy=name,
                    task_id=f"t{i}",
                    key=f"{name}-{i}",
                    texts=["{}"],
                    finish_reasons=["stop" if ok else "length"],
                    prompt_tokens=10,
                    generated_tokens=self.tokens,
                    seconds=0.5,
                    syntax_valid=ok,
                    schema_valid=ok,
                    correct=good,
                    fields={"/name": ok, "/age": good},
                    wrong=wrong,
                )
            )
        return out


class FakeHarness:
    """Plays the measure harness, the trainer and the regression check; records what was asked."""

    def __init__(
        self, cheap: dict[str, Rung], adapter: tuple[Rung, ...] = (), flags: tuple[str, ...] = ()
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
        records: list[Record] = []
        metrics = {}
        for i, name in enumerate(strategies):
            rung = self.adapter[i] if name.startswith("adapter:") else self.cheap[name]
            recs = rung.records(name)
            records += recs
            metrics[name] = summarise(name, recs)
        return SimpleNamespace(
            strategies=list(strategies),
            metrics=metrics,
            records_for=lambda s: [r for r in records if r.strategy == s],
        )

    def train(self, model: Any, dataset: Path, out: Path, config: Any, spec_hash: str) -> dict[str, Any]:
        assert dataset.is_file()
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text("{}")
        (out / "adapter_model.safetensors").write_bytes(b"\0" * 3_500_000)
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
def task_set() -> TaskSet:
    return people_task_set()


def people_task_set() -> TaskSet:
    """48 people, 40 in the test split and 8 in train."""
    tasks = [
        Task(
            id=f"t{i}",
            input=f"Person{i} is {20 + i}.",
            gold={"name": f"Person{i}", "age": 20 + i},
            split="test" if i < 40 else "train",
        )
        for i in range(48)
    ]
    return TaskSet("people", Path("people"), Spec.json(SCHEMA), "Extract as JSON.", 256, tasks)


def _run(harness: FakeHarness, task_set: Any, tmp_path: Path, **kw: Any) -> Any:
    model = SimpleNamespace(name="fake", tokenizer=None)
    options = {"target": 0.9, **kw}
    return escalate(
        model,
        task_set,
        out_dir=tmp_path / "run",
        augment=2,
        command="test",
        steps=harness,
        **options,
    )


BASE = {
    "raw": Rung(8, 4),
    "prompted": Rung(16, 10),
    "repaired": Rung(18, 12),
    "reask": Rung(20, 14),
    "constrained": Rung(24, 16),
}
#: Clearly better than constrained (24/40 valid) on the same items: 38/40 valid, 34 correct.
CLEAR_WIN = (Rung(30, 26), Rung(38, 34, tokens=12))


def test_cheap_rung_wins_by_its_lower_bound_and_nothing_is_trained(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness({**BASE, "repaired": Rung(40, 16), "constrained": Rung(40, 16)})
    d = _run(harness, task_set, tmp_path)  # 40/40: Wilson lower bound 91% ≥ 90%
    assert d.outcome == "cheap_rung" and d.recommended == "repaired"  # the cheapest that meets it
    assert harness.trained == [] and len(harness.calls) == 1
    saved = json.loads((tmp_path / "run" / "decision.json").read_text())
    assert saved["recommended"] == "repaired" and saved["baseline"]["repaired"]["validity"] == 1.0
    assert saved["baseline"]["repaired"]["validity_interval"][0] == pytest.approx(0.912, abs=1e-3)
    assert saved["evidence"]["alpha"] == 0.05 and saved["evidence"]["test_items"] == 40
    assert "repaired" in (tmp_path / "run" / "decision.md").read_text()


def test_target_reached_by_point_estimate_but_not_lower_bound_is_insufficient(
    task_set: Any, tmp_path: Path
) -> None:
    small = {name: Rung(r.valid // 4, r.correct // 4, n=10) for name, r in BASE.items()}
    harness = FakeHarness({**small, "constrained": Rung(10, 8, n=10)})
    d = _run(harness, task_set, tmp_path, limit=10)  # 10/10 = 100% ≥ 90%, but the lower bound is 72%
    assert d.outcome == "insufficient_evidence" and harness.trained == []
    assert d.recommended == "constrained"
    assert any("point estimate only" in r and "72%" in r for r in d.reasons)
    # at a 100% rate, 35 items put the Wilson lower bound over 90%; the split has 40: --limit 35
    assert d.evidence["items_needed"] == 35
    assert "--limit 35" in d.evidence["advice"] and "25 more" in d.evidence["advice"]
    assert "to settle it" in d.summary()


def test_cheap_rung_losing_accuracy_does_not_count(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness({**BASE, "reask": Rung(30, 28), "constrained": Rung(40, 0)}, adapter=CLEAR_WIN)
    d = _run(harness, task_set, tmp_path)
    assert d.outcome != "cheap_rung" and harness.trained


def test_accuracy_target_uses_the_lower_bound_too(task_set: Any, tmp_path: Path) -> None:
    scores = {**BASE, "constrained": Rung(40, 24)}  # accuracy (40 + 24) / 80 = 80%
    assert _run(FakeHarness(scores), task_set, tmp_path / "a").outcome == "cheap_rung"
    harness = FakeHarness(scores, adapter=(Rung(40, 38), Rung(40, 40)))
    d = _run(harness, task_set, tmp_path / "b", accuracy_target=0.7)  # 80% point, lower bound 70.0%
    assert d.outcome == "insufficient_evidence" and not harness.trained
    d = _run(harness, task_set, tmp_path / "c", accuracy_target=0.85)  # point 80% < 85%: train
    assert d.outcome == "adapter_promoted" and len(harness.trained) == 1
    assert d.comparisons["field_accuracy"]["p_value"] < 0.05
    with pytest.raises(ConfigError, match="accuracy_target"):
        _run(FakeHarness(scores), task_set, tmp_path / "d", accuracy_target=0.0)


def test_missing_information_recommends_retrieval(task_set: Any, tmp_path: Path) -> None:
    scores = {**BASE, "constrained": Rung(34, 4, missing=30)}
    harness = FakeHarness(scores)
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "missing_information" and harness.trained == []
    assert d.failure_causes["missing_information"] == 30 and d.failure_causes["behaviour"] == 6  # 6 invalid
    assert any("retrieval" in r for r in d.reasons)
    forced = _run(FakeHarness(scores, adapter=CLEAR_WIN), task_set, tmp_path / "forced", force_train=True)
    assert forced.trained_adapter and any("would have stopped" in r for r in forced.reasons)


def test_clear_win_is_promoted_with_its_test_and_cost(task_set: Any, tmp_path: Path) -> None:
    harness = FakeHarness(BASE, adapter=CLEAR_WIN)
    d = _run(harness, task_set, tmp_path)
    assert d.outcome == "adapter_promoted" and d.promoted
    adapter_dir = str(tmp_path / "run" / "adapter")
    assert d.recommended == f"adapter:{adapter_dir}+constrained" and d.adapter_path == adapter_dir
    assert harness.calls[-1] == ([f"adapter:{adapter_dir}", f"adapter:{adapter_dir}+constrained"], "test")
    data = json.loads((tmp_path / "run" / "decision.json").read_text())
    v = data["comparisons"]["validity"]
    assert v["test"].startswith("exact McNemar") and v["a_only"] == 14 and v["b_only"] == 0
    assert v["p_value"] == pytest.approx(2 * 0.5**14) and v["significant"] and v["alpha"] == 0.05
    lo, hi = v["interval"]
    assert 0 < lo <= 0.35 <= hi
    assert data["comparisons"]["field_accuracy"]["verdict"] == "better"
    assert data["promoted"] is True and data["dataset"]["records"] > 0 and data["regression"]["passed"]
    cost = data["cost"]
    assert cost["training"]["adapter_mb"] == pytest.approx(3.5, abs=0.01)
    assert cost["training"]["peak_memory_mb"] > 0 and cost["per_item"]["constrained"]["mean_tokens"] == 20
    assert (
        "3.50 MB" in cost["budget"]
        and "−40 % tokens" in cost["budget"]
        and "vs constrained" in cost["budget"]
    )
    assert cost["regression"]["ppl_ratio"] == pytest.approx(1.01)
    md = (tmp_path / "run" / "decision.md").read_text()
    assert "## Paired comparison" in md and "## Cost" in md and "exact McNemar" in md
    assert set(data["seconds"]) >= {"measure_cheap_rungs", "build_dataset", "train_adapter", "total"}
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "dataset" / "train.jsonl").read_text().splitlines()
    ]
    test_ids = {t.id for t in task_set.tasks if t.split == "test"}
    assert rows and not any(r["id"].split("~")[0] in test_ids for r in rows)  # train items only


class ModelRecordingHarness(FakeHarness):
    """Also records which model measured each call, and the training settings."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.models: list[tuple[str, str]] = []
        self.configs: list[Any] = []

    def evaluate(self, model: Any, ts: Any, strategies: list[str], **kw: Any) -> Any:
        self.models.append((model.name, strategies[0]))
        return super().evaluate(model, ts, strategies, **kw)

    def train(self, model: Any, dataset: Path, out: Path, config: Any, spec_hash: str) -> dict[str, Any]:
        assert model.name == "fake"  # training stays on the main model
        self.configs.append(config)
        return super().train(model, dataset, out, config, spec_hash)


def test_fast_model_measures_the_cheap_rungs_only(task_set: Any, tmp_path: Path) -> None:
    from formbound.escalate import DefaultSteps, LadderSteps
    from formbound.escalate.train_config import default_train_config

    harness = ModelRecordingHarness(BASE, adapter=CLEAR_WIN)
    assert isinstance(harness, LadderSteps) and isinstance(DefaultSteps(), LadderSteps)
    fast = SimpleNamespace(name="fast", info=lambda: {"source": "llamacpp:x.gguf"})
    d = _run(harness, task_set, tmp_path, fast_model=fast, seed=3)
    assert harness.models == [("fast", "raw"), ("fake", f"adapter:{tmp_path / 'run' / 'adapter'}")]
    assert d.meta["cheap_rungs_model"] == "fast (llamacpp:x.gguf)"
    assert any(r.startswith("engines: cheap rungs measured with `fast (llamacpp:x.gguf)`") for r in d.reasons)
    # no train_config: the ladder's own settings for the built dataset (it grew with synthetic records:
    # the train split is small) and this machine, seeded with the run's seed
    records = json.loads((tmp_path / "run" / "dataset" / "train.card.json").read_text())["records"]
    want = default_train_config(3, records)
    assert [(c.max_steps, c.batch_size, c.seed) for c in harness.configs] == [
        (want.max_steps, want.batch_size, 3)
    ]
    plain = ModelRecordingHarness(BASE, adapter=CLEAR_WIN)
    d = _run(plain, task_set, tmp_path / "plain")
    assert [m for m, _ in plain.models] == ["fake", "fake"] and d.meta["cheap_rungs_model"] is None
    assert not any(r.startswith("engines:") for r in d.reasons)


def test_adapter_rungs_run_on_the_fast_model_when_it_can_switch_adapters(
    task_set: Any, tmp_path: Path
) -> None:
    # llama.cpp converts the PEFT adapter to a LoRA GGUF (set_adapter): the adapter rungs then run on the
    # engine that measured the cheap rungs, so the paired comparison is on one engine; training and the
    # regression check stay on the main model.
    harness = ModelRecordingHarness(BASE, adapter=CLEAR_WIN)
    switched: list[Any] = []
    fast = SimpleNamespace(
        name="fast", info=lambda: {"source": "llamacpp:x.gguf"}, set_adapter=switched.append
    )
    d = _run(harness, task_set, tmp_path, fast_model=fast)
    assert harness.models == [("fast", "raw"), ("fast", f"adapter:{tmp_path / 'run' / 'adapter'}")]
    assert d.meta["adapter_rungs_model"] == "fast (llamacpp:x.gguf)"
    engines = [r for r in d.reasons if r.startswith("engines:")]
    assert engines and "cheap rungs and adapter rungs measured with `fast (llamacpp:x.gguf)`" in engines[0]
    assert "on one engine" in engines[0]


def test_tie_within_noise_is_insufficient_evidence_with_a_power_estimate(
    task_set: Any, tmp_path: Path
) -> None:
    # 27 vs 24 valid of 40; the adapter is right on 5 items the baseline got wrong and wrong on 2
    adapter = (Rung(20, 14), Rung(27, 16, start=35))
    d = _run(FakeHarness(BASE, adapter=adapter), task_set, tmp_path)
    assert d.outcome == "insufficient_evidence" and d.adapter_path is None and d.trained_adapter
    v = d.comparisons["validity"]
    assert (v["a_only"], v["b_only"]) == (5, 2) and not v["significant"] and v["p_value"] > 0.05
    assert d.recommended == "constrained"
    need = d.evidence["items_needed"]
    assert need is not None and need > 40
    assert f"measure {need} test items" in d.evidence["advice"] and "add" in d.evidence["advice"]
    assert "p = " in d.summary()


def test_identical_answers_are_a_loss_not_insufficient_evidence(task_set: Any, tmp_path: Path) -> None:
    d = _run(FakeHarness(BASE, adapter=(Rung(20, 14), BASE["constrained"])), task_set, tmp_path)
    assert d.outcome == "adapter_rejected" and any("rule out a gain" in r for r in d.reasons)


def test_clear_loss_is_rejected(task_set: Any, tmp_path: Path) -> None:
    d = _run(FakeHarness(BASE, adapter=(Rung(4, 2), Rung(8, 4))), task_set, tmp_path)
    assert d.outcome == "adapter_rejected" and d.recommended == "constrained" and d.adapter_path is None
    assert d.comparisons["validity"]["verdict"] == "worse" and d.trained_adapter


def test_adapter_rejected_when_it_regresses_unless_flag_only(task_set: Any, tmp_path: Path) -> None:
    flags = ("perplexity on general text rose ×1.500",)
    d = _run(FakeHarness(BASE, adapter=CLEAR_WIN, flags=flags), task_set, tmp_path)
    assert d.outcome == "adapter_rejected" and any("regression" in r for r in d.reasons)
    d2 = _run(
        FakeHarness(BASE, adapter=CLEAR_WIN, flags=flags), task_set, tmp_path / "b", on_regression="flag"
    )
    assert d2.outcome == "adapter_promoted"


def test_alpha_is_configurable(task_set: Any, tmp_path: Path) -> None:
    adapter = (Rung(20, 14), Rung(30, 16))  # 6 discordant pairs, all for the adapter: p = 0.031
    assert _run(FakeHarness(BASE, adapter=adapter), task_set, tmp_path / "a").outcome == "adapter_promoted"
    d = _run(FakeHarness(BASE, adapter=adapter), task_set, tmp_path / "b", alpha=0.01)
    assert d.outcome == "insufficient_evidence" and d.comparisons["validity"]["alpha"] == 0.01


def test_bad_arguments(task_set: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target"):
        _run(FakeHarness(BASE), task_set, tmp_path, target=1.5)
    with pytest.raises(ConfigError, match="on_regression"):
        _run(FakeHarness(BASE), task_set, tmp_path, on_regression="ignore")
    with pytest.raises(ConfigError, match="alpha"):
        _run(FakeHarness(BASE), task_set, tmp_path, alpha=1.0)


def _n(name: str, valid: int, acc: float, n: int = 100) -> RungNumbers:
    return RungNumbers(name, n, valid, valid / n, acc, acc)


def test_rung_rules() -> None:
    rungs = [_n("raw", 30, 0.3), _n("prompted", 97, 0.5), _n("constrained", 100, 0.49)]
    assert reaches_target(rungs[1], 0.9) and not reaches_target(rungs[1], 0.95)  # 97/100: lower 91.5%
    assert pick_cheap_rung(rungs, 0.9).strategy == "prompted"
    assert pick_cheap_rung(rungs, 0.95).strategy == "constrained"  # within the 2-point tolerance
    assert pick_cheap_rung(rungs, 0.95, tolerance=0.0) is None
    assert pick_cheap_rung(rungs, 0.9, accuracy_target=0.3).strategy == "prompted"
    assert pick_cheap_rung(rungs, 0.9, accuracy_target=0.45) is None  # 50% of 100: lower bound 40%
    assert best_rung(rungs).strategy == "constrained"
    assert best_rung([_n("a", 5, 0.5), _n("b", 5, 0.5)]).strategy == "a"  # tie: the cheaper
    causes = failure_causes(RungNumbers("c", 10, 7, 0.7, 0.5, 0.4, missing_information=2, behaviour=1))
    assert causes["behaviour"] == 4 and causes["missing_share"] == pytest.approx(2 / 6)


def test_an_accuracy_loss_within_noise_does_not_disqualify_a_rung() -> None:
    top, cheap = Rung(40, 20), Rung(40, 17)  # 75% vs 71% field accuracy on the same 40 items
    items = {"a": item_scores(top.records("a")), "b": item_scores(cheap.records("b"))}
    numbers = [
        RungNumbers("b", 40, 40, 1.0, 57 / 80, 17 / 40),
        RungNumbers("a", 40, 40, 1.0, 60 / 80, 20 / 40),
    ]
    assert pick_cheap_rung(numbers, 0.9, tolerance=0.0) is numbers[1]  # by point estimate: not b
    assert pick_cheap_rung(numbers, 0.9, tolerance=0.0, items=items) is numbers[0]  # paired: no loss


def test_judge_adapter_outcomes() -> None:
    def judge_of(a: Rung, b: Rung) -> str:
        return judge_adapter(compare_rungs(item_scores(a.records("a")), item_scores(b.records("b"))))[0]

    assert judge_of(Rung(38, 30), Rung(20, 10)) == "wins"
    assert judge_of(Rung(20, 10), Rung(38, 30)) == "loses"
    assert judge_of(Rung(22, 11), Rung(20, 10)) == "insufficient"
    assert judge_of(Rung(20, 10), Rung(20, 10)) == "loses"  # identical: no gain possible
    assert judge_adapter({})[0] == "insufficient"  # nothing to pair


class TrainsOn(FakeHarness):
    """A harness that also records which dataset the trainer was given."""

    datasets: list[Path]

    def train(self, model: Any, dataset: Path, out: Path, config: Any, spec_hash: str) -> dict[str, Any]:
        self.datasets = [*getattr(self, "datasets", []), dataset]
        return super().train(model, dataset, out, config, spec_hash)


def _rebase(harness: FakeHarness, run: Path, task_set: Any, **kw: Any) -> Any:
    from formbound.escalate import rebase

    return rebase(
        SimpleNamespace(name="org/new-base", tokenizer=None),
        run,
        tasks=task_set,
        command="test",
        steps=harness,
        **kw,
    )


def test_rebase_says_whether_the_adapter_is_still_needed(task_set: Any, tmp_path: Path) -> None:
    first = _run(FakeHarness(BASE, adapter=CLEAR_WIN), task_set, tmp_path, alpha=0.01)
    assert first.outcome == "adapter_promoted"
    run = tmp_path / "run"
    # a better base model: a cheap rung now reaches the target, yet the adapter is retrained to compare
    better = TrainsOn({**BASE, "constrained": Rung(40, 30)}, adapter=(Rung(40, 30), Rung(40, 30)))
    d = _rebase(better, run, task_set)
    assert better.datasets == [run / "dataset" / "train.jsonl"]  # the stored dataset, not a new one
    assert d.meta["rebase"]["adapter_still_needed"] is False and d.meta["rebase"]["previous_outcome"] == (
        "adapter_promoted"
    )
    assert "still needed — no" in d.reasons[0] and "`constrained` reaches the target" in d.reasons[0]
    assert d.evidence["alpha"] == 0.01  # the run's significance level is kept
    saved = json.loads((run / "rebase" / "org_new-base" / "decision.json").read_text())
    assert saved["meta"]["rebase"]["adapter_still_needed"] is False
    # the same kind of base: the retrained adapter still wins
    d = _rebase(FakeHarness(BASE, adapter=CLEAR_WIN), run, task_set, out_dir=tmp_path / "same")
    assert d.meta["rebase"]["adapter_still_needed"] is True and d.outcome == "adapter_promoted"
    # within noise: undecided, with the command that settles it
    d = _rebase(
        FakeHarness(BASE, adapter=(Rung(20, 14), Rung(27, 16, start=35))),
        run,
        task_set,
        out_dir=tmp_path / "n",
    )
    assert d.meta["rebase"]["adapter_still_needed"] is None and "to settle it" in d.reasons[0]


def test_rebase_needs_a_finished_run_with_a_dataset(task_set: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no decision\.json"):
        _rebase(FakeHarness(BASE), tmp_path / "nothing", task_set)
    _run(FakeHarness({**BASE, "constrained": Rung(40, 30)}), task_set, tmp_path)  # cheap rung: no adapter
    with pytest.raises(ConfigError, match="trained no adapter"):
        _rebase(FakeHarness(BASE), tmp_path / "run", task_set)
    with pytest.raises(ConfigError, match="--tasks"):
        from formbound.escalate import rebase

        (tmp_path / "run" / "dataset").mkdir()
        (tmp_path / "run" / "dataset" / "train.jsonl").write_text("{}\n")
        rebase(SimpleNamespace(name="m"), tmp_path / "run")


def test_learning_curve_says_whether_more_data_would_help(task_set: Any, tmp_path: Path) -> None:
    harness = TrainsOn(BASE, adapter=CLEAR_WIN)  # subsets measure like the plain adapter: 30/40
    d = _run(harness, task_set, tmp_path, learning_curve=True)
    run = tmp_path / "run"
    sizes = [len(p.read_text().splitlines()) for p in harness.datasets]
    assert len(sizes) == 3 and sizes[1] < sizes[2] < sizes[0]  # the full set, then 25 % and 50 %
    full = (run / "dataset" / "train.jsonl").read_text().splitlines()
    quarter = (run / "curve" / "25pct" / "train.jsonl").read_text().splitlines()
    half = (run / "curve" / "50pct" / "train.jsonl").read_text().splitlines()
    assert set(quarter) <= set(half) <= set(full)  # nested
    lc = d.learning_curve
    assert [p["fraction"] for p in lc["points"]] == [0.25, 0.5, 1.0] and lc["rising"]
    assert lc["points"][-1]["validity"] == 38 / 40 and "rising" in lc["verdict"] and "p = " in lc["verdict"]
    assert any(r.startswith("learning curve: rising") for r in d.reasons)
    assert "## Learning curve" in (run / "decision.md").read_text()
    assert "learning_curve" in d.seconds
    flat = _run(
        FakeHarness(BASE, adapter=(CLEAR_WIN[1], CLEAR_WIN[1])), task_set, tmp_path / "f", learning_curve=True
    )
    assert flat.learning_curve is not None and not flat.learning_curve["rising"]
    assert "flat" in flat.learning_curve["verdict"]
    off = _run(FakeHarness(BASE, adapter=CLEAR_WIN), task_set, tmp_path / "off", learning_curve=False)
    assert off.learning_curve is None


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


def test_fast_model_option_resolves_to_llamacpp_only_for_the_default_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from formbound.cli.escalate import resolve_fast_model

    present = {"llama_cpp": True}
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (
            (object() if present["llama_cpp"] else None) if name == "llama_cpp" else real(name, *a)
        ),
    )
    assert resolve_fast_model("auto", "default") == "llamacpp:default"
    assert resolve_fast_model("auto", "openai:gpt") is None
    assert resolve_fast_model("none", "default") is None
    assert resolve_fast_model("llamacpp:x.gguf", "org/model") == "llamacpp:x.gguf"
    present["llama_cpp"] = False
    assert resolve_fast_model("auto", "default") is None

"""The escalation ladder: measure the cheap rungs, and train an adapter only when they are not enough.

1. Measure the cheap rungs on the whole test split (``limit`` to cut it). If one reaches the target —
   by the *lower bound* of its 95% interval — without losing accuracy, stop and recommend the
   cheapest such rung. If one reaches it only by point estimate, the evidence is insufficient: say how
   many test items would settle it.
2. If the failures of the best rung are mostly *missing information* (the gold value is not stated in
   the input in any written form), recommend retrieval or more context: fine-tuning teaches
   behaviour, not facts.
3. Otherwise build a dataset from the train split, train a LoRA adapter, measure ``adapter:PATH`` and
   ``adapter:PATH+constrained`` on the same test items with the same harness, run the regression
   check, and compare the better adapter rung with the best cheap rung item by item
   (:mod:`formbound.escalate.decision`): promoted only when the paired difference is significant at
   ``alpha`` and nothing regressed; rejected when it is significantly worse or cannot be better;
   otherwise "insufficient evidence" with the items needed.

Every number behind the decision, with the tests, p-values, intervals and what fine-tuning cost, is
written to ``decision.json``; ``decision.md`` shows them as tables.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError
from formbound.escalate._reasons import (
    adapter_reasons,
    cheap_reason,
    missing_reason,
    no_cheap_reason,
    point_reason,
)
from formbound.escalate._steps import ADAPTER_PROMPT, DefaultSteps, LadderSteps, distill_outputs
from formbound.escalate.adapter import TrainConfig
from formbound.escalate.cost import fine_tuning_cost, training_run_cost
from formbound.escalate.decision import (
    CHEAP_RUNGS,
    OUTCOMES,
    Decision,
    Item,
    RungNumbers,
    best_rung,
    compare_rungs,
    failure_causes,
    item_scores,
    items_for_target,
    judge_adapter,
    pick_cheap_rung,
    rung_numbers,
)
from formbound.escalate.deploy import deploy_for
from formbound.escalate.ladder_data import training_set
from formbound.escalate.regression import RegressionThresholds
from formbound.escalate.render import settle_advice, write_decision
from formbound.escalate.sources import DataSources
from formbound.escalate.stats import DEFAULT_ALPHA
from formbound.escalate.train_config import default_train_config
from formbound.strategies import parse_strategy

__all__ = [
    "ADAPTER_PROMPT",
    "CHEAP_RUNGS",
    "OUTCOMES",
    "Decision",
    "DefaultSteps",
    "LadderSteps",
    "RungNumbers",
    "default_train_config",
    "escalate",
    "settle_advice",
]


def escalate(
    model: Any,
    task_set: Any,
    *,
    target: float = 0.98,
    out_dir: str | os.PathLike[str],
    force_train: bool = False,
    limit: int | None = None,
    seed: int = 0,
    strategies: Sequence[str] = CHEAP_RUNGS,
    train_config: TrainConfig | None = None,
    augment: int = 64,
    distill: bool | None = None,
    accuracy_tolerance: float = 0.02,
    accuracy_target: float | None = None,
    missing_share: float = 0.5,
    regression_thresholds: RegressionThresholds | None = None,
    on_regression: str = "reject",
    alpha: float = DEFAULT_ALPHA,
    dataset: str | os.PathLike[str] | None = None,
    learning_curve: bool | None = None,
    data: DataSources | None = None,
    command: str | None = None,
    fast_model: Any = None,
    steps: LadderSteps | None = None,
) -> Decision:
    """Run the escalation ladder on a model and a task set; write ``decision.md``/``decision.json``.

    Args:
        model: A formbound model (:func:`formbound.models.load`); training needs a local one.
        task_set: A task set (:func:`formbound.measure.load_task_set`), its folder, or a bundled name.
        target: Schema validity to reach (share of test items), by the lower bound of its interval.
        out_dir: Where the reports, the dataset, the adapter and the decision go.
        force_train: Train an adapter even when a cheap rung meets the target, the evidence about it
            is insufficient, or failures are missing information.
        limit: Measure at most this many test items (the same seeded choice for every strategy);
            ``None`` (the default) measures the whole test split.
        seed: Seeds item choice, few-shot examples, dataset order, training and the resampling tests.
        strategies: The cheap rungs to measure, cheapest first.
        train_config: Adapter training settings (default: :func:`default_train_config` for the built dataset).
        augment: Template-substituted train inputs to add to the dataset.
        distill: Add the best rung's outputs on train inputs; ``None`` does so only for train items
            without gold (outputs matching gold would duplicate the gold records).
        accuracy_tolerance: Accuracy a rung may lose (absolute) and still count as "without losing
            accuracy"; also the smallest gain worth an adapter.
        accuracy_target: Field accuracy a cheap rung must also reach (lower bound) to stop the ladder
            (None: validity alone decides).
        missing_share: Share of failures from missing information above which retrieval is recommended.
        regression_thresholds: Limits of the regression check.
        on_regression: ``"reject"`` (an adapter past the thresholds is not promoted) or ``"flag"``
            (promoted with the flags in the reasons).
        alpha: Significance level of the paired tests.
        dataset: Train on this stored JSONL dataset instead of building one (re-measurement on a new
            base model, :func:`formbound.escalate.rebase`).
        learning_curve: Also train and measure the adapter on nested 25 % / 50 % subsets of the dataset
            and say whether the curve still rises (:mod:`formbound.escalate.curve`). ``None``: on when
            torch sees a CUDA GPU, off on CPU (where it costs about 1.75× the training time).
        data: Generated data (teacher, unlabelled inputs, synthesis) for the dataset; by default
            synthetic data is generated when the train split is small (:class:`DataSources`).
        command: The command line to record.
        fast_model: Measure the cheap rungs (and distil) with this model instead, e.g.
            ``models.load("llamacpp:default")``: the same weights through a faster engine. Training,
            the adapter rungs and the regression check stay on ``model``. The decision records both.
        steps: What measures, trains and checks for regression (:class:`LadderSteps`);
            :class:`DefaultSteps` when omitted.

    Returns:
        The :class:`Decision` (also written to ``out_dir``).
    """
    if not 0 < target <= 1:
        raise ConfigError(f"target is a share of valid answers in (0, 1], got {target}")
    if accuracy_target is not None and not 0 < accuracy_target <= 1:
        raise ConfigError(f"accuracy_target is a share in (0, 1], got {accuracy_target}")
    if on_regression not in ("reject", "flag"):
        raise ConfigError(f"on_regression must be 'reject' or 'flag', got {on_regression!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is a significance level in (0, 1), got {alpha}; e.g. 0.05")
    steps = steps if steps is not None else DefaultSteps()
    config = train_config if train_config is not None else default_train_config(seed)
    cheap_model = fast_model if fast_model is not None else model
    # Adapter rungs run where the cheap rungs ran when that engine can switch LoRA adapters (llama.cpp
    # converts the PEFT adapter to a LoRA GGUF): the paired comparison is then on one engine.
    adapter_model = cheap_model if callable(getattr(cheap_model, "set_adapter", None)) else model
    task_set_path = None
    if isinstance(task_set, (str, os.PathLike)):
        from formbound.measure import load_task_set

        task_set_path = _shown_path(Path(task_set))
        task_set = load_task_set(task_set)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    meta = {
        "model": getattr(model, "name", str(model)),
        "cheap_rungs_model": None if fast_model is None else _describe(fast_model),
        "adapter_rungs_model": None if adapter_model is model else _describe(adapter_model),
        "task_set": task_set.name,
        "task_set_path": task_set_path,
        "spec_hash": task_set.spec.hash,
        "split": "test",
        "target": target,
        "accuracy_target": accuracy_target,
        "limit": limit,
        "seed": seed,
        "strategies": list(strategies),
        "command": command if command is not None else shlex.join(["python", *sys.argv]),
    }
    available = sum(1 for t in task_set.tasks if t.split == "test")
    evidence: dict[str, Any] = {"alpha": alpha, "test_items": available}

    def finish(decision: Decision) -> Decision:
        seconds["total"] = round(time.perf_counter() - started, 1)
        decision.seconds = dict(seconds)
        decision.meta = meta
        decision.evidence = {**evidence, **decision.evidence}
        measured_on = adapter_model if parse_strategy(decision.recommended).adapter else cheap_model
        decision.deploy = deploy_for(decision, model, task_set, out, seed=seed, engine=measured_on)
        write_decision(decision, out)
        return decision

    def measure(
        names: list[str], folder: str, step: str, on: Any = None
    ) -> tuple[list[RungNumbers], dict[str, dict[str, Item]]]:
        """The same harness for every rung, on the same test items; timed as ``step`` (adapter rungs,
        on ``adapter_model``, unless ``on`` is given)."""
        t = time.perf_counter()
        report = steps.evaluate(
            on if on is not None else adapter_model,
            task_set,
            names,
            split="test",
            limit=limit,
            seed=seed,
            out_dir=out / folder,
            command=meta["command"],
        )
        seconds[step] = round(time.perf_counter() - t, 1)
        numbers = [rung_numbers(report.metrics[name]) for name in report.strategies]
        return numbers, {name: item_scores(report.records_for(name)) for name in report.strategies}

    def advice(needed: int | None) -> str:
        return settle_advice(needed, numbers[0].n if numbers else 0, available, str(meta["command"]))

    # 1. the cheap rungs
    numbers, items = measure(list(strategies), "baseline", "measure_cheap_rungs", cheap_model)
    baseline = {r.strategy: r.to_dict() for r in numbers}
    best = best_rung(numbers)
    causes = failure_causes(best)
    reasons: list[str] = []
    cheap = pick_cheap_rung(numbers, target, accuracy_tolerance, accuracy_target, items, alpha)
    by_point = (
        None
        if cheap is not None
        else pick_cheap_rung(numbers, target, accuracy_tolerance, accuracy_target, items, alpha, point=True)
    )
    if cheap is not None:
        evidence["cheap_rung"] = cheap.strategy
        reasons.append(cheap_reason(cheap, numbers, target))
        if not force_train:
            return finish(
                Decision("cheap_rung", cheap.strategy, reasons, target, baseline, failure_causes=causes)
            )
    elif by_point is not None:
        point = by_point
        needed = items_for_target(point, target, accuracy_target)
        reasons.append(point_reason(point, target, accuracy_target, needed))
        if not force_train:
            evidence_now = {"items_needed": needed, "advice": advice(needed), "about": point.strategy}
            d = Decision(
                "insufficient_evidence", point.strategy, reasons, target, baseline, failure_causes=causes
            )
            d.evidence = evidence_now
            return finish(d)
    else:
        reasons.append(no_cheap_reason(best, target, accuracy_target))
    # 2. missing information?
    if causes["missing_share"] > missing_share:
        reasons.append(missing_reason(causes, best))
        if not force_train:
            return finish(
                Decision(
                    "missing_information", best.strategy, reasons, target, baseline, failure_causes=causes
                )
            )
    if force_train and (cheap is not None or by_point is not None or causes["missing_share"] > missing_share):
        reasons.append("training forced (force_train): the ladder would have stopped here")

    # 3. dataset, adapter, re-measure, regression check
    t = time.perf_counter()
    train_file, card_dict = training_set(
        task_set,
        out,
        dataset=dataset,
        distill=distill,
        augment=augment,
        data=data,
        seed=seed,
        tokenizer=getattr(model, "tokenizer", None),
        distill_with=lambda: distill_outputs(
            steps, cheap_model, task_set, best.strategy, out / "distill", seed, meta["command"]
        ),
    )
    seconds["build_dataset"] = round(time.perf_counter() - t, 1)
    if train_config is None and card_dict is not None and card_dict.get("records"):
        config = default_train_config(seed, int(card_dict["records"]))

    t = time.perf_counter()
    adapter_dir = out / "adapter"
    metadata = steps.train(model, train_file, adapter_dir, config, task_set.spec.hash)
    seconds["train_adapter"] = round(time.perf_counter() - t, 1)
    training_cost = training_run_cost(seconds["train_adapter"], adapter_dir)

    names = [f"adapter:{adapter_dir}", f"adapter:{adapter_dir}+constrained"]
    adapter_numbers, adapter_items = measure(names, "adapter_eval", "measure_adapter")

    curve = None
    if learning_curve if learning_curve is not None else _on_gpu():
        from formbound.escalate.curve import curve_chart
        from formbound.escalate.curve import learning_curve as run_curve

        t = time.perf_counter()
        curve = run_curve(
            model=model,
            dataset=train_file,
            out=out,
            train_fn=steps.train,
            config=config,
            spec_hash=task_set.spec.hash,
            measure=measure,
            full=adapter_numbers[-1],
            full_items=adapter_items.get(adapter_numbers[-1].strategy, {}),
            seed=seed,
            alpha=alpha,
            tolerance=accuracy_tolerance,
        )
        chart = curve_chart(curve, out / "learning_curve.png")
        curve["chart"] = None if chart is None else chart.name
        seconds["learning_curve"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    regression = steps.regression(model, adapter_dir, thresholds=regression_thresholds, spec=task_set.spec)
    seconds["regression_check"] = round(time.perf_counter() - t, 1)

    candidate = best_rung(adapter_numbers)
    comparisons = compare_rungs(
        adapter_items.get(candidate.strategy, {}), items.get(best.strategy, {}), alpha=alpha, seed=seed
    )
    verdict, why, needed = judge_adapter(comparisons, accuracy_tolerance, sql=task_set.format == "sql")
    engines = (
        None
        if fast_model is None
        else (str(meta["cheap_rungs_model"]), _describe(adapter_model), _describe(model))
    )
    reasons += adapter_reasons(
        candidate, best, why, comparisons, numbers, adapter_numbers[0], regression, engines
    )
    regressed = bool(regression.flags) and on_regression == "reject"
    promoted = verdict == "wins" and not regressed
    if promoted:
        outcome = "adapter_promoted"
    elif verdict == "insufficient" and not regressed:
        outcome = "insufficient_evidence"
    else:
        outcome = "adapter_rejected"
    reg = regression.to_dict()
    cost = fine_tuning_cost(training_cost, [*numbers, *adapter_numbers], reg, candidate, best)
    decision = Decision(
        outcome=outcome,
        recommended=candidate.strategy if promoted else best.strategy,
        reasons=reasons,
        target=target,
        baseline=baseline,
        adapter={r.strategy: r.to_dict() for r in adapter_numbers},
        adapter_path=str(adapter_dir) if promoted else None,
        trained_adapter=str(adapter_dir),
        failure_causes=causes,
        regression=reg,
        dataset=card_dict,
        training={k: v for k, v in (metadata.get("metrics") or {}).items() if k != "losses"}
        | {
            "config": metadata.get("training_config"),
            "losses": (metadata.get("metrics") or {}).get("losses"),
        },
        comparisons={k: c.to_dict() for k, c in comparisons.items()},
        cost=cost,
        learning_curve=curve,
    )
    if curve is not None:
        decision.reasons.append(f"learning curve: {curve['verdict']}")
    if outcome == "insufficient_evidence":
        decision.evidence = {"items_needed": needed, "advice": advice(needed), "about": candidate.strategy}
    if promoted and candidate.validity < target:
        decision.reasons.append(f"note: the adapter wins but stays below the {target:.0%} target")
    return finish(decision)


def _describe(model: Any) -> str:
    info = model.info() if callable(getattr(model, "info", None)) else {}
    name = str(getattr(model, "name", model))
    source = info.get("source") if isinstance(info, dict) else None
    return f"{name} ({source})" if source and source != name else name


def _on_gpu() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


def _shown_path(path: Path) -> str:
    """``path`` relative to the working folder, or just its name: reports carry no machine's paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name

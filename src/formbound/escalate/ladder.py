"""The escalation ladder: measure the cheap rungs, and train an adapter only when they are not enough.

1. Measure the cheap rungs on the test split. If one reaches the target schema validity without
   losing accuracy, stop and recommend the cheapest such rung.
2. If the failures of the best rung are mostly *missing information* (the gold value is not in the
   input), recommend retrieval or more context: fine-tuning teaches behaviour, not facts.
3. Otherwise build a dataset from the train split, train a LoRA adapter, measure ``adapter:PATH`` and
   ``adapter:PATH+constrained`` on the same test items with the same harness, run the regression
   check, and promote the adapter only if it beats the best cheap rung and does not regress.

"Accuracy" here is field accuracy (share of gold leaves matched, over all items) where the task set
has fields (JSON/YAML), and whole-answer accuracy otherwise (SQL). Every number behind the decision
is written to ``decision.json``; ``decision.md`` shows them as tables.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError, DependencyError
from formbound.escalate.adapter import TrainConfig, train_adapter
from formbound.escalate.dataset import Distilled, build_dataset
from formbound.escalate.regression import RegressionThresholds, regression_check

__all__ = [
    "CHEAP_RUNGS",
    "OUTCOMES",
    "Decision",
    "RungNumbers",
    "adapter_wins",
    "best_rung",
    "escalate",
    "failure_causes",
    "pick_cheap_rung",
    "rung_numbers",
]

#: The rungs measured before any training, cheapest first.
CHEAP_RUNGS: tuple[str, ...] = ("raw", "prompted", "repaired", "reask", "constrained")
#: What a decision can be.
OUTCOMES: tuple[str, ...] = ("cheap_rung", "missing_information", "adapter_promoted", "adapter_rejected")
#: The prompt adapters are trained on (and evaluated with): the plain request, no few-shot examples.
ADAPTER_PROMPT: dict[str, Any] = {"style": "raw", "shots": 0}


@dataclass(frozen=True)
class RungNumbers:
    """The figures of one strategy that the decision uses.

    Attributes:
        strategy: Strategy name.
        n: Items measured.
        valid: Items whose answer passed every check of the spec.
        validity: ``valid / n``.
        accuracy: Field accuracy (JSON/YAML) or whole-answer accuracy (SQL), over all items.
        correct: Whole-answer accuracy.
        truncated: Items cut off by the token limit.
        missing_information: Wrong values of valid answers whose gold value is not in the input.
        behaviour: Wrong values of valid answers whose gold value is in the input.
    """

    strategy: str
    n: int
    valid: int
    validity: float
    accuracy: float
    correct: float
    truncated: int = 0
    missing_information: int = 0
    behaviour: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rung_numbers(metrics: Any) -> RungNumbers:
    """:class:`RungNumbers` from a :class:`formbound.measure.StrategyMetrics`."""
    n = int(metrics.n)
    valid = int(metrics.schema_valid.k)
    correct = float(metrics.correct.value or 0.0)
    accuracy = metrics.field_accuracy if metrics.field_accuracy is not None else correct
    causes = dict(metrics.wrong_causes or {})
    truncated = getattr(metrics, "truncated", None)
    return RungNumbers(
        strategy=str(metrics.strategy),
        n=n,
        valid=valid,
        validity=valid / n if n else 0.0,
        accuracy=float(accuracy or 0.0),
        correct=correct,
        truncated=int(truncated.k) if truncated is not None else 0,
        missing_information=int(causes.get("missing_information", 0)),
        behaviour=int(causes.get("behaviour", 0)),
    )


def pick_cheap_rung(
    numbers: Sequence[RungNumbers],
    target: float,
    tolerance: float = 0.02,
    accuracy_target: float | None = None,
) -> RungNumbers | None:
    """The cheapest rung (first in ``numbers``) with validity ≥ ``target`` and accuracy within
    ``tolerance`` of the best accuracy measured (and ≥ ``accuracy_target`` when one is set) — or None
    when no rung qualifies."""
    if not numbers:
        return None
    best_accuracy = max(r.accuracy for r in numbers)
    for r in numbers:
        if r.validity >= target and r.accuracy >= best_accuracy - tolerance:
            if accuracy_target is None or r.accuracy >= accuracy_target:
                return r
    return None


def best_rung(numbers: Sequence[RungNumbers]) -> RungNumbers:
    """The rung with the highest validity, then accuracy; the cheaper one on a tie."""
    if not numbers:
        raise ConfigError("no strategy was measured; nothing to choose from")
    best = numbers[0]
    for r in numbers[1:]:
        if (r.validity, r.accuracy) > (best.validity, best.accuracy):
            best = r
    return best


def failure_causes(rung: RungNumbers) -> dict[str, Any]:
    """Failures of a rung split by cause.

    ``behaviour`` counts invalid answers (format is behaviour) plus wrong values that were in the
    input; ``missing_information`` counts wrong values that were not in the input. Their share
    decides between fine-tuning and retrieval.
    """
    behaviour = (rung.n - rung.valid) + rung.behaviour
    missing = rung.missing_information
    total = behaviour + missing
    return {
        "behaviour": behaviour,
        "invalid_answers": rung.n - rung.valid,
        "wrong_values_in_input": rung.behaviour,
        "missing_information": missing,
        "missing_share": (missing / total) if total else 0.0,
    }


def adapter_wins(candidate: RungNumbers, baseline: RungNumbers, tolerance: float = 0.02) -> tuple[bool, str]:
    """Whether an adapter rung beats the best cheap rung: more valid answers without losing more than
    ``tolerance`` accuracy, or as many valid answers and more than ``tolerance`` better accuracy."""
    dv = candidate.validity - baseline.validity
    da = candidate.accuracy - baseline.accuracy
    what = (
        f"`{candidate.strategy}` validity {candidate.validity:.0%} vs {baseline.validity:.0%} "
        f"(`{baseline.strategy}`), accuracy {candidate.accuracy:.0%} vs {baseline.accuracy:.0%}"
    )
    if candidate.valid > baseline.valid and da >= -tolerance:
        return True, f"{what}: more valid answers, accuracy kept"
    if candidate.valid >= baseline.valid and da > tolerance:
        return True, f"{what}: as valid, more accurate"
    if dv < 0:
        return False, f"{what}: fewer valid answers"
    return False, f"{what}: not better"


@dataclass
class Decision:
    """What :func:`escalate` decided, with every number behind it.

    Attributes:
        outcome: One of :data:`OUTCOMES`.
        recommended: The strategy to use (``adapter:PATH`` / ``adapter:PATH+constrained`` when promoted).
        reasons: Why, in sentences with the numbers.
        target: The validity target.
        baseline: Numbers of every cheap rung on the test split.
        adapter: Numbers of the adapter rungs (when one was trained).
        adapter_path: The adapter folder when promoted, else None.
        trained_adapter: The adapter folder trained (promoted or not).
        failure_causes: Failures of the best cheap rung by cause.
        regression: The regression report (when an adapter was trained).
        dataset: The dataset card (when a dataset was built).
        training: The training metrics (when an adapter was trained).
        seconds: Wall time of each phase and in total.
        meta: Model, task set, split, limit, seed, command.
    """

    outcome: str
    recommended: str
    reasons: list[str]
    target: float
    baseline: dict[str, dict[str, Any]]
    adapter: dict[str, dict[str, Any]] | None = None
    adapter_path: str | None = None
    trained_adapter: str | None = None
    failure_causes: dict[str, Any] | None = None
    regression: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ConfigError(f"unknown outcome {self.outcome!r}; expected one of {OUTCOMES}")

    @property
    def promoted(self) -> bool:
        return self.outcome == "adapter_promoted"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promoted": self.promoted}

    def summary(self) -> str:
        """A few lines for a terminal."""
        head = {
            "cheap_rung": "a cheap rung meets the target",
            "missing_information": "failures are mostly missing information: add retrieval/context",
            "adapter_promoted": "the adapter wins: promoted",
            "adapter_rejected": "the adapter was trained but not promoted",
        }[self.outcome]
        lines = [f"decision: {head}", f"recommended strategy: {self.recommended}"]
        lines += [f"- {r}" for r in self.reasons]
        if self.adapter_path:
            lines.append(f"adapter: {self.adapter_path}")
        if "total" in self.seconds:
            lines.append(f"wall time: {self.seconds['total']:.0f} s")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The decision report (``decision.md``)."""
        return _markdown(self)


# ------------------------------------------------------------------------------------------ helpers
EvaluateFn = Callable[..., Any]
TrainFn = Callable[..., Any]
RegressionFn = Callable[..., Any]


def _numbers(report: Any) -> list[RungNumbers]:
    return [rung_numbers(report.metrics[name]) for name in report.strategies]


def _default_train(
    model: Any, dataset: Path, out: Path, config: TrainConfig, spec_hash: str
) -> dict[str, Any]:
    hf = getattr(model, "model", None)
    tok = getattr(model, "tokenizer", None)
    if hf is None or tok is None:
        raise ConfigError(
            f"model {getattr(model, 'name', model)!r} exposes no transformers model to train; "
            "escalation to an adapter needs a local model, e.g. formbound.models.load('default')"
        )
    result = train_adapter(
        hf,
        tok,
        dataset,
        out,
        config,
        base_model=str(getattr(model, "name", "")),
        spec_hash=spec_hash,
        extra_metadata={"prompt": dict(ADAPTER_PROMPT)},
    )
    return dict(result.metadata)


def _distill(
    evaluate_fn: EvaluateFn, model: Any, task_set: Any, strategy: str, out: Path, seed: int, command: str
) -> list[Distilled]:
    report = evaluate_fn(
        model, task_set, [strategy], split="train", limit=None, seed=seed, out_dir=out, command=command
    )
    by_id = {t.id: t for t in task_set.tasks}
    out_items = []
    for rec in report.records_for(strategy):
        if rec.schema_valid and rec.value is not None and rec.task_id in by_id:
            text = rec.value if isinstance(rec.value, str) else json.dumps(rec.value, ensure_ascii=False)
            out_items.append(Distilled(rec.task_id, by_id[rec.task_id].input, text))
    return out_items


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
    command: str | None = None,
    evaluate_fn: EvaluateFn | None = None,
    train_fn: TrainFn | None = None,
    regression_fn: RegressionFn | None = None,
) -> Decision:
    """Run the escalation ladder on a model and a task set; write ``decision.md``/``decision.json``.

    Args:
        model: A formbound model (:func:`formbound.models.load`); training needs a local one.
        task_set: A task set or its folder (``schemas/NAME``).
        target: Schema validity to reach (share of test items).
        out_dir: Where the reports, the dataset, the adapter and the decision go.
        force_train: Train an adapter even when a cheap rung meets the target or failures are missing
            information.
        limit: Measure at most this many test items (the same seeded choice for every strategy).
        seed: Seeds item choice, few-shot examples, dataset order and training.
        strategies: The cheap rungs to measure, cheapest first.
        train_config: Adapter training settings (:class:`TrainConfig` defaults when omitted).
        augment: Template-substituted train inputs to add to the dataset.
        distill: Add the best rung's outputs on train inputs; ``None`` does so only for train items
            without gold (outputs matching gold would duplicate the gold records).
        accuracy_tolerance: Accuracy a rung may lose (absolute) and still count as "without losing accuracy".
        accuracy_target: Field accuracy a cheap rung must also reach to stop the ladder (None: validity
            alone decides). Valid-but-wrong answers are what fine-tuning fixes and constraints cannot.
        missing_share: Share of failures from missing information above which retrieval is recommended.
        regression_thresholds: Limits of the regression check.
        on_regression: ``"reject"`` (an adapter past the thresholds is not promoted) or ``"flag"``
            (promoted with the flags in the reasons).
        command: The command line to record.
        evaluate_fn, train_fn, regression_fn: Replacements for the measure harness, the trainer and
            the regression check (tests use fakes).

    Returns:
        The :class:`Decision` (also written to ``out_dir``).
    """
    if not 0 < target <= 1:
        raise ConfigError(f"target is a share of valid answers in (0, 1], got {target}")
    if accuracy_target is not None and not 0 < accuracy_target <= 1:
        raise ConfigError(f"accuracy_target is a share in (0, 1], got {accuracy_target}")
    if on_regression not in ("reject", "flag"):
        raise ConfigError(f"on_regression must be 'reject' or 'flag', got {on_regression!r}")
    if evaluate_fn is None:
        from formbound.measure import evaluate

        evaluate_fn = evaluate
    run_eval: EvaluateFn = evaluate_fn
    if isinstance(task_set, (str, os.PathLike)):
        from formbound.measure import load_task_set

        task_set = load_task_set(task_set)
    train_fn = train_fn or _default_train
    regression_fn = regression_fn or regression_check
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    meta = {
        "model": getattr(model, "name", str(model)),
        "task_set": getattr(task_set, "name", str(task_set)),
        "spec_hash": task_set.spec.hash,
        "split": "test",
        "accuracy_target": accuracy_target,
        "limit": limit,
        "seed": seed,
        "strategies": list(strategies),
        "command": command if command is not None else shlex.join(["python", *sys.argv]),
    }

    def finish(decision: Decision) -> Decision:
        seconds["total"] = round(time.perf_counter() - started, 1)
        decision.seconds = dict(seconds)
        decision.meta = meta
        _write(decision, out)
        return decision

    def measure(names: list[str], folder: str, step: str) -> list[RungNumbers]:
        """The same harness for every rung, on the same test items; timed as ``step``."""
        t = time.perf_counter()
        report = run_eval(
            model,
            task_set,
            names,
            split="test",
            limit=limit,
            seed=seed,
            out_dir=out / folder,
            command=meta["command"],
        )
        seconds[step] = round(time.perf_counter() - t, 1)
        return _numbers(report)

    # 1. the cheap rungs
    numbers = measure(list(strategies), "baseline", "measure_cheap_rungs")
    baseline = {r.strategy: r.to_dict() for r in numbers}
    best = best_rung(numbers)
    causes = failure_causes(best)
    reasons: list[str] = []
    cheap = pick_cheap_rung(numbers, target, accuracy_tolerance, accuracy_target)
    if cheap is not None:
        reasons.append(
            f"`{cheap.strategy}` reaches {cheap.validity:.0%} schema validity ({cheap.valid}/{cheap.n}) "
            f"≥ target {target:.0%} with accuracy {cheap.accuracy:.0%} "
            f"(best measured {max(r.accuracy for r in numbers):.0%})"
        )
        if not force_train:
            return finish(
                Decision("cheap_rung", cheap.strategy, reasons, target, baseline, failure_causes=causes)
            )
    elif accuracy_target is not None and any(r.validity >= target for r in numbers):
        top = max((r for r in numbers if r.validity >= target), key=lambda r: r.accuracy)
        reasons.append(
            f"`{top.strategy}` reaches {top.validity:.0%} schema validity ({top.valid}/{top.n}) but its "
            f"field accuracy {top.accuracy:.0%} is under the accuracy target {accuracy_target:.0%}"
        )
    else:
        reasons.append(
            f"no cheap rung reaches {target:.0%} schema validity without losing accuracy; best is "
            f"`{best.strategy}` with {best.validity:.0%} ({best.valid}/{best.n}), "
            f"accuracy {best.accuracy:.0%}"
        )
    # 2. missing information?
    if causes["missing_share"] > missing_share:
        reasons.append(
            f"{causes['missing_information']} of {causes['missing_information'] + causes['behaviour']} "
            "failures of "
            f"`{best.strategy}` are missing information (the gold value is not in the input): fine-tuning "
            "teaches behaviour, not facts — add retrieval or more context to the prompt"
        )
        if not force_train:
            return finish(
                Decision(
                    "missing_information", best.strategy, reasons, target, baseline, failure_causes=causes
                )
            )
    if force_train and (cheap is not None or causes["missing_share"] > missing_share):
        reasons.append("training forced (force_train): the ladder would have stopped here")

    # 3. dataset, adapter, re-measure, regression check
    t = time.perf_counter()
    train_items = [it for it in task_set.tasks if it.split == "train"]
    if distill is None:
        distill = any(it.gold is None for it in train_items)
    distilled = []
    if distill:
        distilled = _distill(run_eval, model, task_set, best.strategy, out / "distill", seed, meta["command"])
    card = build_dataset(
        task_set,
        out / "dataset" / "train.jsonl",
        distilled=distilled,
        augment=augment,
        seed=seed,
        tokenizer=getattr(model, "tokenizer", None),
    )
    seconds["build_dataset"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    adapter_dir = out / "adapter"
    metadata = train_fn(
        model, out / "dataset" / "train.jsonl", adapter_dir, train_config or TrainConfig(), task_set.spec.hash
    )
    seconds["train_adapter"] = round(time.perf_counter() - t, 1)

    names = [f"adapter:{adapter_dir}", f"adapter:{adapter_dir}+constrained"]
    adapter_numbers = measure(names, "adapter_eval", "measure_adapter")

    t = time.perf_counter()
    regression = regression_fn(model, adapter_dir, thresholds=regression_thresholds, spec=task_set.spec)
    seconds["regression_check"] = round(time.perf_counter() - t, 1)

    candidate = best_rung(adapter_numbers)
    wins, why = adapter_wins(candidate, best, accuracy_tolerance)
    reasons.append(why)
    unconstrained = [r for r in numbers if r.strategy != "constrained"]
    plain_adapter = adapter_numbers[0]
    if unconstrained:
        ref = best_rung(unconstrained)
        reasons.append(
            f"unconstrained: `{plain_adapter.strategy}` {plain_adapter.validity:.0%} valid, accuracy "
            f"{plain_adapter.accuracy:.0%} vs best unconstrained cheap rung `{ref.strategy}` "
            f"{ref.validity:.0%} valid, accuracy {ref.accuracy:.0%}"
        )
    if regression.flags:
        reasons += [f"regression: {flag}" for flag in regression.flags]
    else:
        reasons.append(
            f"regression check passed: perplexity ×{regression.ppl_ratio:.3f}, general answers in "
            f"the trained format {regression.base_format_leak:.0%} → {regression.adapter_format_leak:.0%}, "
            f"overlap with base answers {regression.mean_overlap:.2f}"
        )
    regressed = bool(regression.flags) and on_regression == "reject"
    promoted = wins and not regressed
    decision = Decision(
        outcome="adapter_promoted" if promoted else "adapter_rejected",
        recommended=candidate.strategy if promoted else best.strategy,
        reasons=reasons,
        target=target,
        baseline=baseline,
        adapter={r.strategy: r.to_dict() for r in adapter_numbers},
        adapter_path=str(adapter_dir) if promoted else None,
        trained_adapter=str(adapter_dir),
        failure_causes=causes,
        regression=regression.to_dict(),
        dataset=card.to_dict(),
        training={k: v for k, v in (metadata.get("metrics") or {}).items() if k != "losses"}
        | {
            "config": metadata.get("training_config"),
            "losses": (metadata.get("metrics") or {}).get("losses"),
        },
    )
    if promoted and candidate.validity < target:
        decision.reasons.append(f"note: the adapter wins but stays below the {target:.0%} target")
    return finish(decision)


# ------------------------------------------------------------------------------------------ output
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _rows(numbers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [
        f"| `{name}` | {_pct(r['validity'])} ({r['valid']}/{r['n']}) | {_pct(r['accuracy'])} | "
        f"{_pct(r['correct'])} | {r['truncated']} | {r['missing_information']} | {r['behaviour']} |"
        for name, r in numbers.items()
    ]


def _markdown(d: Decision) -> str:
    lines = [
        "# Escalation decision",
        "",
        f"**{d.outcome.replace('_', ' ')}** — recommended strategy: `{d.recommended}`",
        "",
        *[f"- {r}" for r in d.reasons],
        "",
        f"Model `{d.meta.get('model')}`, task set `{d.meta.get('task_set')}` "
        f"(spec {d.meta.get('spec_hash')}), split `test`, limit {d.meta.get('limit')}, "
        f"seed {d.meta.get('seed')}, target validity {d.target:.0%}.",
        "",
        "## Measured on the test split",
        "",
        "| strategy | schema valid | accuracy | whole answer | truncated | wrong: missing info "
        "| wrong: behaviour |",
        "|---|---|---|---|---|---|---|",
        *_rows(d.baseline),
        *(_rows(d.adapter) if d.adapter else []),
        "",
        "Accuracy is field accuracy over all items (an invalid answer scores nothing).",
    ]
    if d.failure_causes:
        c = d.failure_causes
        lines += [
            "",
            f"Failures of the best cheap rung: {c['invalid_answers']} invalid answers, "
            f"{c['wrong_values_in_input']} wrong values present in the input, "
            f"{c['missing_information']} values missing from the input "
            f"(missing-information share {c['missing_share']:.0%}).",
        ]
    if d.regression:
        from formbound.escalate.regression import RegressionReport

        r = {k: v for k, v in d.regression.items() if k != "passed"}
        lines += ["", "## Regression check", "", RegressionReport(**r).markdown(), ""]
        for a in d.regression.get("answers", [])[:3]:
            lines.append(f"- *{a['prompt']}* — base: {a['base'][:80]!r}; adapter: {a['adapter'][:80]!r}")
    if d.dataset:
        s = d.dataset["sources"]
        lines += [
            "",
            "## Dataset",
            "",
            f"{d.dataset['records']} records (spec {d.dataset['spec_hash']}, "
            f"sha256 {d.dataset['dataset_sha256'][:12]}…); "
            + ", ".join(f"{k}: {v['kept']} kept of {v['offered']} offered" for k, v in s.items()),
        ]
        if d.dataset.get("token_lengths"):
            tl = d.dataset["token_lengths"]["total"]
            lines[-1] += f"; tokens per record {tl['min']}–{tl['max']} (mean {tl['mean']})."
    if d.training:
        t = d.training
        lines += [
            "",
            "## Training",
            "",
            f"{t.get('steps')} steps on {t.get('examples')} examples in {t.get('train_seconds')} s; "
            f"loss {t.get('first_loss')} → {t.get('final_loss')}.",
        ]
        if t.get("config"):
            cfg = t["config"]
            lines.append(
                f"LoRA r={cfg.get('r')}, alpha={cfg.get('lora_alpha')}, modules {cfg.get('target_modules')}, "
                f"lr {cfg.get('learning_rate')}, epochs {cfg.get('epochs')}, batch {cfg.get('batch_size')}."
            )
    if d.adapter_path:
        lines += ["", f"Promoted adapter: `{d.adapter_path}` (a standard PEFT folder)."]
    lines += [
        "",
        "## Time",
        "",
        ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in d.seconds.items()),
        "",
        f"Command: `{d.meta.get('command')}`",
        "",
    ]
    if d.adapter:
        lines.insert(-6, "\n![validity before and after](compare.png)\n")
    return "\n".join(lines)


def _write(decision: Decision, out: Path) -> None:
    write_atomic(
        out / "decision.json",
        json.dumps(decision.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
    )
    if (
        decision.adapter
        and (out / "baseline" / "report.json").is_file()
        and (out / "adapter_eval" / "report.json").is_file()
    ):
        from formbound.measure.report import compare

        try:
            compare(out / "baseline", out / "adapter_eval", out=out)
        except DependencyError as exc:
            decision.reasons.append(f"charts skipped: {exc}")
    write_atomic(out / "decision.md", decision.markdown())

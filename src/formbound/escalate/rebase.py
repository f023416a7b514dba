"""Re-measure an escalation run on a new base model: is the adapter still needed?

Better base models keep appearing; an adapter trained for the old one may no longer be worth its
cost. :func:`rebase` reads a finished run (``decision.json``, the stored ``dataset/train.jsonl``),
measures the cheap rungs on the new model, retrains the adapter on the same dataset with the same
settings, and runs the same paired comparison. The answer lands in ``decision.meta["rebase"]`` and the
first reason: *no* (a cheap rung now reaches the target, or the retrained adapter does not beat the
best cheap rung), *yes* (it still wins significantly), or *undecided* (insufficient evidence, with the
items that would settle it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError
from formbound.escalate._steps import LadderSteps
from formbound.escalate.adapter import TrainConfig
from formbound.escalate.decision import CHEAP_RUNGS, Decision
from formbound.escalate.render import write_decision

__all__ = ["rebase", "still_needed"]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _train_config(stored: Any) -> TrainConfig | None:
    if not isinstance(stored, dict):
        return None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in stored.items() if k in known})


def still_needed(decision: Decision) -> tuple[bool | None, str]:
    """Whether the adapter is still needed on the decision's model, and why, in one sentence."""
    cheap = decision.evidence.get("cheap_rung")
    model = decision.meta.get("model")
    if cheap:
        return False, f"`{cheap}` reaches the target on `{model}` without an adapter"
    if decision.outcome == "adapter_promoted":
        return True, f"the retrained adapter still beats the best cheap rung on `{model}` significantly"
    if decision.outcome == "adapter_rejected":
        return False, f"the retrained adapter does not beat `{decision.recommended}` on `{model}`"
    if decision.outcome == "missing_information":
        return False, f"failures on `{model}` are mostly missing information: retrieval, not an adapter"
    advice = decision.evidence.get("advice")
    return None, "the evidence is insufficient" + (f"; to settle it: {advice}" if advice else "")


def rebase(
    model: Any,
    run: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    tasks: Any = None,
    train_config: TrainConfig | None = None,
    alpha: float | None = None,
    command: str | None = None,
    steps: LadderSteps | None = None,
) -> Decision:
    """Re-measure the task set of escalation run ``run`` on a new base ``model``.

    Args:
        model: The new base model (a local one: the adapter is retrained on it).
        run: The folder of a finished :func:`~formbound.escalate.escalate` run that trained an adapter.
        out_dir: Where the new run goes (default ``RUN/rebase/<model>``).
        tasks: The task set (or its folder), when the run does not record its folder.
        train_config: Training settings (default: those stored in the run).
        alpha: Significance level (default: the run's).
        command: The command line to record.
        steps: What measures, trains and checks for regression (:class:`~formbound.escalate.LadderSteps`),
            as for :func:`~formbound.escalate.escalate`.

    Returns:
        The new :class:`Decision`, with ``meta["rebase"]`` saying whether the adapter is still needed.
    """
    from formbound.escalate.ladder import escalate

    run = Path(run)
    decision_file = run / "decision.json"
    if not decision_file.is_file():
        raise ConfigError(f"{str(run)!r} has no decision.json; pass the folder of a finished escalate run")
    previous = json.loads(decision_file.read_text(encoding="utf-8"))
    meta = previous.get("meta") or {}
    dataset = run / "dataset" / "train.jsonl"
    if not dataset.is_file():
        raise ConfigError(
            f"run {str(run)!r} trained no adapter (outcome {previous.get('outcome')!r}, "
            "no dataset/train.jsonl): nothing to re-measure; run `formbound escalate` on the new model"
        )
    task_set = tasks or meta.get("task_set_path")
    if not task_set:
        raise ConfigError(f"run {str(run)!r} does not record its task set folder; pass it with --tasks")
    name = str(getattr(model, "name", model))
    out = Path(out_dir) if out_dir is not None else run / "rebase" / _slug(name)
    decision = escalate(
        model,
        task_set,
        target=float(previous.get("target", 0.98)),
        accuracy_target=meta.get("accuracy_target"),
        out_dir=out,
        force_train=True,
        limit=meta.get("limit"),
        seed=int(meta.get("seed", 0)),
        strategies=meta.get("strategies") or CHEAP_RUNGS,
        train_config=train_config or _train_config((previous.get("training") or {}).get("config")),
        alpha=alpha if alpha is not None else float((previous.get("evidence") or {}).get("alpha", 0.05)),
        dataset=dataset,
        command=command,
        steps=steps,
    )
    needed, why = still_needed(decision)
    decision.meta["rebase"] = {
        "from_run": str(run),
        "previous_model": meta.get("model"),
        "previous_outcome": previous.get("outcome"),
        "previous_recommended": previous.get("recommended"),
        "adapter_still_needed": needed,
        "why": why,
    }
    verdict = {True: "yes", False: "no", None: "undecided"}[needed]
    decision.reasons.insert(
        0,
        f"rebased from `{meta.get('model')}` (run {run}) to `{name}`: "
        f"adapter still needed — {verdict}: {why}",
    )
    write_decision(decision, out)
    return decision

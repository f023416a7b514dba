"""The ladder's default steps: train an adapter on a local model; distil a rung's answers on train inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError
from formbound.escalate.adapter import TrainConfig, train_adapter
from formbound.escalate.dataset import Distilled

__all__ = ["ADAPTER_PROMPT", "default_train", "distill_outputs"]

#: The prompt adapters are trained on (and evaluated with): the plain request, no few-shot examples.
ADAPTER_PROMPT: dict[str, Any] = {"style": "raw", "shots": 0}


def default_train(
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


def distill_outputs(
    evaluate_fn: Callable[..., Any],
    model: Any,
    task_set: Any,
    strategy: str,
    out: Path,
    seed: int,
    command: str,
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

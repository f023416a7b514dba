"""The ladder's steps behind one small interface: measure, train, check for regression.

:func:`~formbound.escalate.escalate` orchestrates; what each step *does* is a :class:`LadderSteps`
object, passed as ``steps=``. :class:`DefaultSteps` is the real thing (the measure harness, LoRA
training on a local model, the regression check); tests and other harnesses pass their own object with
the same three methods.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from formbound.errors import ConfigError
from formbound.escalate.adapter import TrainConfig, train_adapter
from formbound.escalate.dataset import Distilled
from formbound.escalate.regression import RegressionReport, RegressionThresholds, regression_check

__all__ = ["ADAPTER_PROMPT", "DefaultSteps", "LadderSteps", "distill_outputs"]

#: The prompt adapters are trained on (and evaluated with): the plain request, no few-shot examples.
ADAPTER_PROMPT: dict[str, Any] = {"style": "raw", "shots": 0}


@runtime_checkable
class LadderSteps(Protocol):
    """What the ladder calls at each step."""

    def evaluate(
        self,
        model: Any,
        task_set: Any,
        strategies: list[str],
        *,
        split: str,
        limit: int | None,
        seed: int,
        out_dir: Path,
        command: str,
    ) -> Any:
        """Measure ``strategies`` on one split; return a report with ``strategies``, ``metrics`` and
        ``records_for(strategy)`` (per-item records, for pairing), like
        :class:`~formbound.measure.EvalReport`."""
        ...

    def train(
        self, model: Any, dataset: Path, out: Path, config: TrainConfig, spec_hash: str
    ) -> dict[str, Any]:
        """Train an adapter on ``dataset`` into ``out``; return its metadata (``metrics``,
        ``training_config``)."""
        ...

    def regression(
        self,
        model: Any,
        adapter: Path,
        *,
        thresholds: RegressionThresholds | None = None,
        spec: Any = None,
    ) -> RegressionReport:
        """Compare ``model`` with and without ``adapter`` on general text and prompts."""
        ...


class DefaultSteps:
    """The real steps: :func:`formbound.measure.evaluate`, :func:`~formbound.escalate.train_adapter`
    on the model's transformers weights, and :func:`~formbound.escalate.regression_check`."""

    def evaluate(
        self,
        model: Any,
        task_set: Any,
        strategies: list[str],
        *,
        split: str,
        limit: int | None,
        seed: int,
        out_dir: Path,
        command: str,
    ) -> Any:
        from formbound.measure import evaluate

        return evaluate(
            model, task_set, strategies, split=split, limit=limit, seed=seed, out_dir=out_dir, command=command
        )

    def train(
        self, model: Any, dataset: Path, out: Path, config: TrainConfig, spec_hash: str
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

    def regression(
        self,
        model: Any,
        adapter: Path,
        *,
        thresholds: RegressionThresholds | None = None,
        spec: Any = None,
    ) -> RegressionReport:
        return regression_check(model, adapter, thresholds=thresholds, spec=spec)


def distill_outputs(
    steps: LadderSteps,
    model: Any,
    task_set: Any,
    strategy: str,
    out: Path,
    seed: int,
    command: str,
) -> list[Distilled]:
    """``strategy``'s schema-valid answers on the train inputs, as dataset records."""
    report = steps.evaluate(
        model, task_set, [strategy], split="train", limit=None, seed=seed, out_dir=out, command=command
    )
    by_id = {t.id: t for t in task_set.tasks}
    out_items = []
    for rec in report.records_for(strategy):
        if rec.schema_valid and rec.value is not None and rec.task_id in by_id:
            text = rec.value if isinstance(rec.value, str) else json.dumps(rec.value, ensure_ascii=False)
            out_items.append(Distilled(rec.task_id, by_id[rec.task_id].input, text))
    return out_items

"""Escalate: when prompting, repair and constraints are not enough, train a LoRA adapter and prove it helps.

* :mod:`~formbound.escalate.dataset` — chat-format fine-tuning sets from gold, distilled and template items,
  a teacher's labels (:mod:`.teacher`), verified SQL (:mod:`.synth_sql`) and schema-sampled values
  (:mod:`.synth_schema`), with the quality controls of :mod:`.quality`;
* :mod:`~formbound.escalate.adapter` — LoRA training (answer-only loss, checkpoints, ``accelerate launch``);
* :mod:`~formbound.escalate.regression` — perplexity and general answers with and without the adapter;
* :mod:`~formbound.escalate.stats` — intervals and paired tests (scipy) behind the decision;
* :mod:`~formbound.escalate.decision` — lower-bound targets, adapter verdicts, :class:`Decision`;
* :mod:`~formbound.escalate.ladder` — :func:`escalate`, the orchestration, over :class:`LadderSteps`;
* :mod:`~formbound.escalate.rebase` — :func:`rebase`, re-measurement on a new base model.
"""

from __future__ import annotations

from formbound.escalate._steps import DefaultSteps, LadderSteps
from formbound.escalate.adapter import TrainConfig, TrainResult, read_metadata, train_adapter
from formbound.escalate.dataset import DatasetCard, Distilled, build_dataset
from formbound.escalate.decision import CHEAP_RUNGS, Decision
from formbound.escalate.ladder import escalate
from formbound.escalate.quality import QualityOptions
from formbound.escalate.rebase import rebase
from formbound.escalate.regression import RegressionReport, RegressionThresholds, regression_check
from formbound.escalate.sources import DataSources
from formbound.escalate.teacher import TeacherOptions, TeacherRejected

__all__ = [
    "CHEAP_RUNGS",
    "DataSources",
    "DatasetCard",
    "Decision",
    "DefaultSteps",
    "Distilled",
    "LadderSteps",
    "QualityOptions",
    "RegressionReport",
    "RegressionThresholds",
    "TeacherOptions",
    "TeacherRejected",
    "TrainConfig",
    "TrainResult",
    "build_dataset",
    "escalate",
    "read_metadata",
    "rebase",
    "regression_check",
    "train_adapter",
]

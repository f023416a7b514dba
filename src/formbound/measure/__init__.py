"""Measure failure rates of every strategy on a task set: validity, accuracy, latency, tokens; report them.

>>> from formbound.measure import evaluate                                      # doctest: +SKIP
>>> report = evaluate("default", "contacts", "raw,constrained", out_dir="runs/eval")  # doctest: +SKIP
>>> report.metrics["constrained"].schema_valid.value                             # doctest: +SKIP
"""

from __future__ import annotations

from formbound.hooks import Hooks
from formbound.measure.eval_report import EvalReport
from formbound.measure.metrics import Rate, StrategyMetrics, wilson
from formbound.measure.records import Record
from formbound.measure.report import compare, load_report, markdown, render, write_report
from formbound.measure.runner import DEFAULT_STRATEGIES, evaluate
from formbound.measure.strategies import RUNGS, Strategy, parse_strategies, parse_strategy
from formbound.measure.tasks import Task, TaskSet, load_task_set

__all__ = [
    "DEFAULT_STRATEGIES",
    "RUNGS",
    "EvalReport",
    "Hooks",
    "Rate",
    "Record",
    "Strategy",
    "StrategyMetrics",
    "Task",
    "TaskSet",
    "compare",
    "evaluate",
    "load_report",
    "load_task_set",
    "markdown",
    "parse_strategies",
    "parse_strategy",
    "render",
    "wilson",
    "write_report",
]

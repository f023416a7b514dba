"""One runner outcome (a :class:`~formbound.Result` or the error) turned into a scored :class:`Record`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from formbound.enforce import Result
from formbound.errors import EnforcementError
from formbound.measure.records import Record
from formbound.measure.scoring import score
from formbound.measure.strategies import Strategy
from formbound.measure.tasks import Task, TaskSet

__all__ = ["Item", "jsonable", "to_record"]


def jsonable(task_set: TaskSet, value: Any, text: str) -> Any:
    """The value as plain JSON data for the record (the text itself for SQL)."""
    if task_set.format == "sql":
        return text
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


@dataclass
class Item:
    """A task with its cache key and the messages of its first attempt."""

    task: Task
    key: str
    messages: list[dict[str, str]]


def to_record(
    task_set: TaskSet, strategy: Strategy, item: Item, outcome: Result[Any] | EnforcementError
) -> Record:
    """The record of ``item`` under ``strategy``, scored against its gold."""
    gens = outcome.generations
    rec = Record(
        strategy=strategy.name,
        task_id=item.task.id,
        key=item.key,
        texts=[g.text for g in gens],
        finish_reasons=[g.finish_reason for g in gens],
        prompt_tokens=sum(g.prompt_tokens for g in gens),
        generated_tokens=sum(g.generated_tokens for g in gens),
        seconds=sum(g.seconds for g in gens),
        reasks=len(gens) - 1,
        route=gens[-1].route if gens else None,
        chosen=-1 if len(gens) <= 1 else outcome.chosen - len(gens),
        forced_close=bool(gens) and bool(gens[outcome.chosen].extra.get("forced_close")),
    )
    if not isinstance(outcome, EnforcementError):
        rec.syntax_valid = rec.schema_valid = True
        rec.repairs = list(outcome.repairs)
        rec.value = jsonable(task_set, outcome.value, outcome.text)
    else:
        err = outcome
        first = err.errors[0]
        rec.syntax_valid = err.stage != "syntax"
        rec.repairs = list(err.repairs)
        rec.error = {"stage": err.stage, "kind": first.kind, "message": str(err)[:500], "path": first.path}
    return score(task_set, item.task, rec)

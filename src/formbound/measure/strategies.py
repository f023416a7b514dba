"""The ladder's rungs on a task set: few-shot examples from the train split and each item's messages.

The rungs themselves (:class:`~formbound.strategies.Strategy`, :func:`parse_strategy`) live in
:mod:`formbound.strategies`, below the measurement layer, because :class:`formbound.Generator` runs them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from formbound.measure.tasks import Task, TaskSet
from formbound.strategies import (
    DEFAULT_REASKS,
    DEFAULT_SHOTS,
    RUNGS,
    Strategy,
    parse_strategies,
    parse_strategy,
)

__all__ = [
    "DEFAULT_REASKS",
    "DEFAULT_SHOTS",
    "RUNGS",
    "Strategy",
    "choose_examples",
    "parse_strategies",
    "parse_strategy",
    "task_messages",
]


def choose_examples(task_set: TaskSet, k: int, seed: int = 0) -> list[Task]:
    """``k + 1`` few-shot candidates from the train split, a fixed seeded choice (never test items).

    One more than needed is returned so that, when the train split itself is evaluated, the item being
    answered can be left out and ``k`` examples still remain.
    """
    if k <= 0 or "train" not in task_set.splits:
        return []
    pool = sorted(task_set.split("train"), key=lambda t: t.id)
    rng = random.Random(seed)
    return rng.sample(pool, min(k + 1, len(pool)))


def example_pairs(task_set: TaskSet, task: Task, examples: Sequence[Task]) -> list[tuple[str, str]]:
    """``(input, gold text)`` few-shot pairs for ``task``, never ``task`` itself."""
    return [(e.input, task_set.gold_text(e)) for e in examples if e.id != task.id]


def task_messages(
    strategy: Strategy, task_set: TaskSet, task: Task, examples: Sequence[Task] = ()
) -> list[dict[str, str]]:
    """The chat messages of ``strategy``'s first attempt at ``task``."""
    return strategy.messages(
        task_set.spec,
        task.input,
        instruction=task_set.instruction,
        examples=example_pairs(task_set, task, examples),
    )

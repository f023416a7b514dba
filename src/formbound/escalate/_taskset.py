"""A narrow, read-only view of a task set, so the escalate code depends on four facts only.

The measure package owns task sets (:func:`formbound.measure.load_task_set`); the escalate code needs
just the spec, the one-line instruction and the items with their split. Reading them through this
view keeps that dependency in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from formbound.errors import ConfigError

__all__ = ["TaskItem", "instruction_of", "items_of", "normalize_input", "spec_of"]


@dataclass(frozen=True)
class TaskItem:
    """One task: an id, the input text, the gold answer (``None`` when there is none) and its split."""

    id: str
    input: str
    gold: Any
    split: str
    missing: tuple[str, ...] = field(default=())


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def spec_of(task_set: Any) -> Any:
    """The :class:`~formbound.Spec` of a task set."""
    spec = _get(task_set, "spec")
    if spec is None:
        raise ConfigError(f"task set {task_set!r} has no spec; load it with formbound.measure.load_task_set")
    return spec


def instruction_of(task_set: Any) -> str | None:
    """The task's one-line instruction, if the task set has one."""
    value = _get(task_set, "instruction")
    if value is None:
        task = _get(task_set, "task")
        value = _get(task, "instruction") if task is not None else None
    return value if isinstance(value, str) else None


def items_of(task_set: Any, split: str | None = None) -> list[TaskItem]:
    """The task set's items (of one split when ``split`` is given), in file order."""
    raw: Iterable[Any] | None = None
    for name in ("tasks", "items"):
        value = _get(task_set, name)
        if value is not None and not callable(value):
            raw = value
            break
    if raw is None:
        raise ConfigError(
            f"task set {task_set!r} has no 'tasks'; load it with formbound.measure.load_task_set"
        )
    items = []
    for obj in raw:
        missing = _get(obj, "missing") or ()
        item = TaskItem(
            id=str(_get(obj, "id")),
            input=str(_get(obj, "input")),
            gold=_get(obj, "gold"),
            split=str(_get(obj, "split", "test")),
            missing=tuple(missing),
        )
        if split is None or item.split == split:
            items.append(item)
    return items


def normalize_input(text: str) -> str:
    """Whitespace-normalised text, for comparing inputs (a test input reformatted is still a test input)."""
    return re.sub(r"\s+", " ", text).strip().lower()

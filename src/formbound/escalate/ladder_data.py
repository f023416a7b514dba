"""The ladder's training set: a stored dataset (for a new base model) or one built from the task set."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError
from formbound.escalate.dataset import Distilled, build_dataset
from formbound.escalate.sources import DataSources

if TYPE_CHECKING:
    import os

    from formbound.measure.tasks import TaskSet

__all__ = ["training_set"]


def training_set(
    task_set: TaskSet,
    out: Path,
    *,
    dataset: str | os.PathLike[str] | None,
    distill: bool | None,
    augment: int,
    data: DataSources | None,
    seed: int,
    tokenizer: Any,
    distill_with: Callable[[], Sequence[Distilled]],
) -> tuple[Path, dict[str, Any] | None]:
    """The JSONL file to train on and its card (as a dict; ``None`` for a stored set without one).

    Args:
        task_set: The task set the ladder measures.
        out: The run folder; a built set goes to ``dataset/train.jsonl`` in it.
        dataset: A stored JSONL dataset to reuse instead of building one.
        distill: Add the best rung's outputs on train inputs; ``None`` does so only when some train
            item has no gold.
        augment: Template-substituted train inputs to add.
        data: Generated data sources (:class:`DataSources` defaults when ``None``).
        seed: Seed of the augmentation and the record order.
        tokenizer: For the card's token-length figures (``None`` for none).
        distill_with: Runs the best rung on the train inputs; called only when distilling.

    Raises:
        ConfigError: ``dataset`` is given and does not exist.
    """
    if dataset is not None:
        train_file = Path(dataset)
        if not train_file.is_file():
            raise ConfigError(
                f"stored dataset {str(train_file)!r} does not exist; rerun escalate to build one"
            )
        card_file = train_file.with_name(train_file.stem + ".card.json")
        card_dict = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else None
        return train_file, card_dict
    train_file = out / "dataset" / "train.jsonl"
    train_items = [it for it in task_set.tasks if it.split == "train"]
    if distill is None:
        distill = any(it.gold is None for it in train_items)
    distilled = distill_with() if distill else []
    card = build_dataset(
        task_set,
        train_file,
        distilled=distilled,
        augment=augment,
        seed=seed,
        tokenizer=tokenizer,
        **(data or DataSources()).build_kwargs(len(train_items)),
    )
    return train_file, card.to_dict()

"""Which data sources the ladder adds to the fine-tuning set when the train split is small."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from formbound.errors import ConfigError
from formbound.escalate.quality import QualityOptions
from formbound.escalate.teacher import TeacherOptions, teacher_name

__all__ = ["SMALL_TRAIN", "DataSources", "read_inputs"]

#: Below this many train records the ladder generates data before training.
SMALL_TRAIN = 200


@dataclass
class DataSources:
    """Generated data for :func:`formbound.escalate.escalate`.

    Attributes:
        teacher: A stronger model that labels ``inputs`` (and paraphrases synthetic SQL questions).
        inputs: Unlabelled inputs for the teacher.
        teacher_options: Accuracy floor, self-consistency, second teacher.
        synthesize: Synthetic records (SQL with a database: verified question/query pairs; JSON/YAML:
            schema-sampled values). ``None``: :data:`SMALL_TRAIN` × 2 when the train split has fewer
            than :data:`SMALL_TRAIN` records, else none.
        quality: Cap per generated source and the dev slice.
    """

    teacher: Any = None
    inputs: Sequence[str] = ()
    teacher_options: TeacherOptions | None = None
    synthesize: int | None = None
    quality: QualityOptions = field(default_factory=QualityOptions)

    def __post_init__(self) -> None:
        if self.synthesize is not None and self.synthesize < 0:
            raise ConfigError(f"synthesize must be >= 0 (or None for automatic), got {self.synthesize!r}")
        if self.inputs and self.teacher is None:
            raise ConfigError(
                "unlabelled inputs need a teacher to label them; pass teacher= (--teacher MODEL)"
            )

    def build_kwargs(self, n_train: int) -> dict[str, Any]:
        """Keyword arguments of :func:`formbound.escalate.build_dataset`, with a note for the card."""
        small = n_train < SMALL_TRAIN
        n = self.synthesize if self.synthesize is not None else (2 * SMALL_TRAIN if small else 0)
        used = [
            s
            for s, on in (
                (f"up to {n} synthetic records (verified SQL or schema-sampled values)", n > 0),
                (teacher_name(self.teacher), self.teacher),
            )
            if on
        ]
        note = None
        if used:
            why = f"the train split has {n_train} records (< {SMALL_TRAIN})" if small else "asked for"
            note = f"Generated data before training ({why}): " + " and ".join(used) + "."
        return {
            "teacher": self.teacher,
            "inputs": list(self.inputs),
            "teacher_options": self.teacher_options,
            "synthesize": n,
            "quality": self.quality,
            "note": note,
        }


def read_inputs(path: str | os.PathLike[str]) -> list[str]:
    """Unlabelled inputs from a JSONL file: per line a JSON string or an object with ``"input"``.

    Raises:
        ConfigError: a line is not JSON, or neither a string nor an object with a string ``input``.
    """
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{os.fspath(path)!r} line {n} is not JSON: {exc}") from exc
            text = value.get("input") if isinstance(value, dict) else value
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(
                    f"{os.fspath(path)!r} line {n}: expected a string or an object with a string "
                    f"'input', got {line.strip()[:80]!r}"
                )
            out.append(text)
    return out

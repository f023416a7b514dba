"""A fine-tuning dataset on disk: the JSONL records, their card, and the counts per source.

:func:`formbound.escalate.dataset.build_dataset` writes both files; training and the ladder read them
back through :func:`load_records` and :func:`file_sha256`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError

__all__ = ["DatasetCard", "SourceCounts", "card_path", "file_sha256", "load_records"]


@dataclass
class SourceCounts:
    """What happened to the candidates of one source."""

    offered: int = 0
    invalid: int = 0
    mismatched: int = 0
    duplicate: int = 0
    test_excluded: int = 0
    near_duplicate: int = 0
    capped: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def validity(self) -> float | None:
        """Share of offered candidates whose answer validated (None when nothing was offered)."""
        return None if not self.offered else round(1 - self.invalid / self.offered, 4)


@dataclass
class DatasetCard:
    """Facts about a built dataset, written beside it as ``<name>.card.json``.

    Attributes:
        path: The JSONL file.
        records: Number of records written.
        sources: Per source: offered, invalid, mismatched (distilled answer differs from gold),
            duplicate, test_excluded, kept, validity.
        spec_hash: :attr:`formbound.Spec.hash` of the task set's spec.
        dataset_sha256: SHA-256 of the JSONL file.
        token_lengths: min/mean/max of prompt, answer and total tokens (when a tokenizer was given).
        instruction: The instruction used in the prompts.
        test_ids: Number of test items excluded by construction.
    """

    path: str
    records: int
    sources: dict[str, dict[str, Any]]
    spec_hash: str
    dataset_sha256: str
    token_lengths: dict[str, dict[str, float]] | None = None
    instruction: str | None = None
    test_ids: int = 0
    seed: int = 0
    formbound_version: str = field(default="")
    shares: dict[str, float] = field(default_factory=dict)
    cap_per_source: int | None = None
    dev: dict[str, Any] | None = None
    teacher: dict[str, Any] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path(dataset_path: str | Path) -> Path:
    """Where the card of a dataset file lives."""
    p = Path(dataset_path)
    return p.with_name(p.stem + ".card.json")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a dataset JSONL file (each with ``messages``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"dataset file {str(p)!r} does not exist; build it with formbound.escalate.build_dataset"
        )
    records = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p.name} line {n} is not JSON: {exc}") from exc
            msgs = rec.get("messages") if isinstance(rec, dict) else None
            if not msgs or msgs[-1].get("role") != "assistant":
                raise ConfigError(f"{p.name} line {n}: expected 'messages' ending with an assistant turn")
            records.append(rec)
    return records

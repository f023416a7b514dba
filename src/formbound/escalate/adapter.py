"""LoRA adapters: training (:mod:`.training`), its config (:mod:`.train_config`) and the published folder
(:mod:`.publish`), gathered under the name the rest of formbound imports them by."""

from __future__ import annotations

from formbound.escalate.publish import METADATA_FILE, read_metadata
from formbound.escalate.train_config import TrainConfig
from formbound.escalate.training import TrainResult, collate, encode_example, load_base, train_adapter

__all__ = [
    "METADATA_FILE",
    "TrainConfig",
    "TrainResult",
    "collate",
    "encode_example",
    "load_base",
    "read_metadata",
    "train_adapter",
]

"""The runner's default batch size follows the model source and device (chosen from bench_batch.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _measure_fakes import FakeModel, write_task_set
from formbound.measure import evaluate
from formbound.measure.runner import CPU_TRANSFORMERS_BATCH, default_batch_size


class _Described(FakeModel):
    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__()
        self._info = info

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "source": "test", **self._info}


@pytest.mark.parametrize(
    ("info", "size"),
    [
        ({"device": "cpu", "transformers": "5"}, CPU_TRANSFORMERS_BATCH),  # rows drop, prefix shared
        ({"device": "cpu", "llama_cpp_python": "0.3"}, 1),  # not measured batched: one by one
        ({"device": "cuda:0", "transformers": "5"}, 8),
    ],
)
def test_evaluate_batches_by_the_default_for_the_model(
    tmp_path: Path, info: dict[str, Any], size: int
) -> None:
    assert default_batch_size(info) == size
    model = _Described(info)
    evaluate(model, write_task_set(tmp_path / "people"), "raw", progress=False)
    calls = [len(c["prompts"]) for c in model.calls]
    assert calls == [min(size, 4 - i) for i in range(0, 4, size)]  # the 4 test items in chunks


def test_transformers_batches_on_cpu() -> None:
    assert CPU_TRANSFORMERS_BATCH > 1  # the measured choice: batch 1 was the slowest

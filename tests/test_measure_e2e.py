"""End to end: the runner on a real (tiny, random-weight) transformers model with a real grammar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _measure_fakes import write_task_set
from formbound.measure import evaluate


def test_evaluate_tiny_model_raw_and_constrained(shared_tiny_model: Any, tmp_path: Path) -> None:
    tasks = write_task_set(tmp_path / "people")
    out = tmp_path / "run"
    report = evaluate(
        shared_tiny_model, tasks, "raw,constrained", limit=2, max_new_tokens=24, out_dir=out, progress=False
    )
    constrained = report.records_for("constrained")
    assert len(constrained) == 2
    for rec in constrained:
        assert rec.route is not None  # the grammar was applied
        assert rec.generated_tokens > 0 and rec.seconds > 0
        # A grammar guarantees a valid prefix: a finished answer is valid; only the token limit stops it.
        assert rec.schema_valid or rec.truncated, rec.texts
    assert report.metrics["constrained"].schema_valid.k == sum(not r.truncated for r in constrained)
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["model"]["name"] == "tiny"
    assert data["metrics"]["raw"]["n"] == 2
    # forced closes are counted next to truncations, and a forced close is a finished answer
    assert data["metrics"]["constrained"]["forced_close"]["k"] == sum(r.forced_close for r in constrained)
    assert not any(r.forced_close and r.truncated for r in constrained)
    md = "\n".join(p.read_text() for p in out.glob("*.md"))
    assert "| forced close |" in md or "forced close" in md

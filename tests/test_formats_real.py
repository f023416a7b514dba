"""Constrained YAML and SQL on the embedded default model: every output loads and validates (YAML) or
parses, obeys the read-only policy and names only real tables and columns (SQL) — or is an explicit
"length" failure, never a silent one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from formbound import EnforcementError, enforce
from formbound.measure import load_task_set
from formbound.prompts import build_messages

pytestmark = pytest.mark.real_model

SCHEMAS = Path(__file__).parents[1] / "src" / "formbound" / "tasksets"


def _check_constrained(model: Any, name: str, n: int, max_new_tokens: int) -> list[str]:
    task_set = load_task_set(SCHEMAS / name)
    spec = task_set.spec
    items = task_set.split("test")[:n]
    prompts = [build_messages(spec, t.input, instruction=task_set.instruction) for t in items]
    gens = model.generate(prompts, constraint=spec.constraint(), max_new_tokens=max_new_tokens)
    outcomes = []
    for g in gens:
        assert g.route is not None and "llguidance" in g.route
        if g.finish_reason == "length":
            outcomes.append("length")
            continue
        try:
            enforce(g.text, spec, repair=False)
        except EnforcementError as err:  # pragma: no cover - the message is the point
            pytest.fail(f"constrained {name} output failed enforce: {g.text!r}: {err}")
        outcomes.append("valid")
    assert len(outcomes) == n
    return outcomes


def test_constrained_yaml_is_valid_or_reports_length(default_model: Any) -> None:
    outcomes = _check_constrained(default_model, "service_config", 5, 128)
    assert outcomes.count("valid") >= 3, outcomes


def test_constrained_sql_is_valid_or_reports_length(default_model: Any) -> None:
    outcomes = _check_constrained(default_model, "shop_sql", 5, 96)
    assert outcomes.count("valid") >= 3, outcomes

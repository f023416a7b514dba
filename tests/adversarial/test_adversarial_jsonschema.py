"""Hostile inputs to JSON Schema validation finish under a generous bound (time is measured, not tuned)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import formbound as fb

BOUND_S = 2.0


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    try:
        fn()
    except fb.FormboundError:
        pass
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        ({"uniqueItems": True}, json.dumps([{"id": i, "tags": ["x", i]} for i in range(5000)])),
        ({"uniqueItems": True}, json.dumps([{"id": i} for i in range(10000)] + [{"id": 0}])),
        ({"pattern": "^(a+)+$"}, json.dumps("a" * 30 + "!")),
        ({"type": "array", "items": {"pattern": "^(a+)+$"}}, json.dumps(["a" * 30 + "!"] * 200)),
        ({"patternProperties": {"^(a|a)+$": True}, "additionalProperties": False},
         json.dumps({"a" * 30 + f"!{i}": i for i in range(200)})),
        ({"multipleOf": 0.1}, "9" * 4000),
    ],
    ids=["unique-5k", "unique-10k-dup", "redos", "redos-200-strings", "redos-props", "huge-multipleof"],
)  # fmt: skip
def test_hostile_validation_is_bounded(schema: dict[str, Any], text: str) -> None:
    spec = fb.Spec.json(schema)
    assert _timed(lambda: fb.enforce(text, spec, repair=False)) < BOUND_S

"""Missing information judged by meaning: a gold value stated in another written form is in the input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from formbound.measure.metrics import classify_wrong
from formbound.measure.presence import UNITS, value_in_text

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "presence" / "cases.jsonl").read_text().splitlines()
]


def test_fixtures_cover_every_kind_both_ways() -> None:
    kinds = {c["kind"] for c in CASES}
    assert {"case", "whitespace", "date", "number_words", "unit"} <= kinds
    for kind in ("date", "number_words", "unit"):
        assert {c["in_input"] for c in CASES if c["kind"] == kind} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['kind']}:{c['gold']}" for c in CASES])
def test_value_in_text(case: dict[str, Any]) -> None:
    assert value_in_text(case["gold"], case["text"]) is case["in_input"]
    expected = "behaviour" if case["in_input"] else "missing_information"
    assert classify_wrong(case["gold"], case["text"]) == expected


def test_a_converted_date_is_behaviour_not_missing_information() -> None:
    # the failure the literal match made: the model had to write the date in ISO form and did not
    assert classify_wrong("2026-04-25", "Meeting moved to April 25, 2026 at 10:00.") == "behaviour"


@pytest.mark.parametrize("kind", sorted(UNITS))
def test_every_unit_kind_converts(kind: str) -> None:
    first, second = UNITS[kind][0], UNITS[kind][1]
    import pint

    ureg = pint.UnitRegistry()
    factor = float(ureg.Quantity(1, second).to(first).magnitude)
    assert value_in_text(round(3 * factor, 9), f"it is 3 {second}s") or value_in_text(
        3 * factor, f"it is 3 {second}"
    )

"""Bounded keywords: linear uniqueItems, time-limited patterns, exact multipleOf (no OverflowError)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import formbound as fb
from formbound.formats.jsonschema import SchemaValidator

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 1.5, -2.0])
    | st.text(max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6))
def test_unique_items_agrees_with_jsonschema(items: list[Any]) -> None:
    """Same equality as the stock keyword: 1 == 1.0, true != 1, object key order ignored."""
    schema = {"uniqueItems": True}
    expected = jsonschema.Draft202012Validator(schema).is_valid(items)
    assert SchemaValidator(schema)._validator.is_valid(items) is expected


def test_unique_items_error_names_the_equal_items() -> None:
    with pytest.raises(fb.EnforcementError, match="items 0 and 2 are equal") as info:
        fb.enforce('[{"a": 1, "b": [1]}, 2, {"b": [1.0], "a": 1}]', {"uniqueItems": True})
    assert info.value.errors[0].kind == "uniqueItems"


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"multipleOf": 0.5}, 10**400, True),
        ({"multipleOf": 0.5}, 10**400 + 1, True),
        ({"multipleOf": 0.3}, 10**400 + 1, False),
        ({"multipleOf": 10**400}, 1.5, False),
        ({"multipleOf": 10**400}, 10**401, True),
        ({"multipleOf": 0.0001}, 0.0075, True),
        ({"multipleOf": 0.0001}, 0.00751, False),
        ({"multipleOf": 0.123456789}, 1e308, False),
        ({"type": "integer", "multipleOf": 1e-8}, 12391239123, True),
        ({"multipleOf": 2}, 4.0, True),
        ({"multipleOf": 2}, True, True),  # not a number: the keyword does not apply
    ],
)
def test_multiple_of_is_exact_and_never_overflows(schema: dict[str, Any], value: Any, valid: bool) -> None:
    assert SchemaValidator(schema)._validator.is_valid(value) is valid


def test_huge_multiple_of_is_a_schema_error_not_a_crash() -> None:
    text = "1" + "0" * 400 + "1"
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(text, {"multipleOf": 0.3})
    assert info.value.errors[0].kind == "multipleOf"


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"pattern": "^(a|a)+$"}, "a" * 40 + "!"),
        ({"patternProperties": {"^(a|a)+$": {"type": "integer"}}}, {"a" * 40 + "!": "x"}),
        ({"additionalProperties": False, "patternProperties": {"^(a|a)+$": True}}, {"a" * 40 + "!": 1}),
        ({"type": "array", "items": {"pattern": "^(b|b)+$"}}, ["b" * 40 + "!"] * 50),
    ],
)
def test_catastrophic_patterns_are_a_bounded_schema_error(schema: dict[str, Any], value: Any) -> None:
    with pytest.raises(fb.EnforcementError, match=r"evaluation exceeded \d+ ms") as info:
        fb.enforce(json.dumps(value), schema, repair=False)
    assert info.value.stage == "schema"
    assert info.value.errors[0].kind in schema or info.value.errors[0].kind == "pattern"


def test_nested_quantifier_is_answered_not_hung() -> None:
    """``^(a+)+$`` is either matched quickly (regex optimises it) or refused with the limit: never a hang."""
    with pytest.raises(fb.EnforcementError, match=r"does not match|evaluation exceeded"):
        fb.enforce(json.dumps("a" * 30 + "!"), {"pattern": "^(a+)+$"}, repair=False)


@pytest.mark.parametrize(
    ("pattern", "text", "valid"),
    [("^a+$", "aaa", True), ("^a+$", "aab", False), ("b", "abc", True), (r"^\d{3}$", "123", True)],
)
def test_ordinary_patterns_keep_their_meaning(pattern: str, text: str, valid: bool) -> None:
    for schema in ({"pattern": pattern}, {"patternProperties": {pattern: False}}):
        value: Any = text if "pattern" in schema else {text: 1}
        expected = jsonschema.Draft202012Validator(schema).is_valid(value)
        assert SchemaValidator(schema)._validator.is_valid(value) is expected
    assert SchemaValidator({"pattern": pattern})._validator.is_valid(text) is valid


UNEVALUATED = [
    {"properties": {"a": True}, "unevaluatedProperties": False},
    {"patternProperties": {"^x": True}, "unevaluatedProperties": {"type": "integer"}},
    {"allOf": [{"properties": {"a": True}}], "unevaluatedProperties": False},
    {"anyOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": True}}],
     "unevaluatedProperties": False},
    {"if": {"properties": {"a": {"const": 1}}}, "then": {"properties": {"t": True}},
     "else": {"properties": {"e": True}}, "unevaluatedProperties": False},
    {"dependentSchemas": {"a": {"properties": {"d": True}}}, "unevaluatedProperties": False},
    {"$defs": {"p": {"properties": {"r": True}}}, "$ref": "#/$defs/p", "unevaluatedProperties": False},
    {"additionalProperties": {"type": "string"}, "unevaluatedProperties": False},
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(UNEVALUATED),
    st.dictionaries(
        st.sampled_from(["a", "b", "d", "e", "t", "r", "x1", "z"]), st.integers(0, 2) | st.text(max_size=1)
    ),
)
def test_unevaluated_properties_agrees_with_jsonschema(schema: dict[str, Any], value: dict[str, Any]) -> None:
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    assert SchemaValidator(schema)._validator.is_valid(value) is expected


def test_unevaluated_properties_bounds_its_patterns() -> None:
    schema = {"patternProperties": {"^(a|a)+$": True}, "unevaluatedProperties": False}
    with pytest.raises(fb.EnforcementError, match=r"evaluation exceeded \d+ ms"):
        fb.enforce(json.dumps({"a" * 40 + "!": 1}), schema, repair=False)


def test_pattern_budget_counts_pattern_time_only_not_a_slow_validation() -> None:
    # a large valid document validates slowly (or the machine is busy): the time outside the patterns
    # must not use up their budget, or valid data would be refused under load
    import time

    from formbound.formats.jsonschema.keywords import _search, pattern_budget

    with pattern_budget(ms=50):
        time.sleep(0.12)  # the rest of one validation call, longer than the whole pattern budget
        assert _search("^[0-9]{5}$", "12345")
        assert not _search("^[0-9]{5}$", "1234x")


def test_pattern_budget_is_shared_by_every_evaluation_of_one_call() -> None:
    from formbound.formats.jsonschema.keywords import PatternTimeout, _search, pattern_budget

    evil = "a" * 30 + "!"
    with pattern_budget(ms=30):
        with pytest.raises(PatternTimeout):
            _search("^(a|a)+$", evil)  # exponential backtracking: runs until the budget (30 ms) is gone
        with pytest.raises(PatternTimeout):
            _search("^[0-9]+$", "1")  # nothing left: refused without running

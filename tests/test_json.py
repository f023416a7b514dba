"""JSON format: strict checks, errors with positions and paths, named repairs, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import formbound as fb
from formbound.formats.json.repair import lenient_parse

FIXTURES = Path(__file__).parent / "fixtures" / "json"
PERSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "active": {"type": "boolean"},
        "email": {"type": ["string", "null"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def _cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", _cases("repairs.jsonl"), ids=lambda c: c["name"])
def test_repair_fixture(case: dict) -> None:
    result = fb.enforce(case["broken"], PERSON)
    assert result.value == case["fixed"]
    assert list(result.repairs) == case["repairs"]
    assert json.loads(result.text) == case["fixed"]


@pytest.mark.parametrize("case", _cases("repairs.jsonl"), ids=lambda c: c["name"])
def test_repair_false_rejects_broken(case: dict) -> None:
    with pytest.raises(fb.EnforcementError):
        fb.enforce(case["broken"], PERSON, repair=False)


@pytest.mark.parametrize("case", _cases("unrepairable.jsonl"), ids=lambda c: c["name"])
def test_unrepairable_fixture(case: dict) -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(case["broken"], PERSON)
    assert info.value.stage == case["stage"]
    assert case["contains"] in str(info.value)


def test_valid_text_has_no_repairs_and_canonical_text() -> None:
    r = fb.enforce('{ "name" : "Ada",\n "age": 36 }', PERSON)
    assert r.value == {"name": "Ada", "age": 36}
    assert r.repairs == ()
    assert r.text == '{"name": "Ada", "age": 36}'
    assert not r.repaired


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"name": "Ada",\n "age": }', PERSON, repair=False)
    err = info.value
    assert err.stage == "syntax"
    assert (err.errors[0].line, err.errors[0].column) == (2, 9)
    assert err.text == '{"name": "Ada",\n "age": }'


def test_schema_errors_carry_json_pointers() -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"name": "", "age": -1, "tags": ["x", 3], "extra": 1}', PERSON)
    err = info.value
    assert err.stage == "schema"
    paths = {e.path for e in err.errors}
    assert {"/name", "/age", "/tags/1", ""} <= paths
    kinds = {e.kind for e in err.errors}
    assert {"minLength", "minimum", "type", "additionalProperties"} <= kinds


def test_pointer_escaping() -> None:
    schema = {"properties": {"a/b": {"properties": {"c~d": {"type": "integer"}}}}}
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"a/b": {"c~d": "x"}}', schema)
    assert info.value.errors[0].path == "/a~1b/c~0d"


def test_never_repairs_into_schema_violation() -> None:
    # truncation closes the object, but the result misses a required field: still an error
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"name": "Ada", "ag', PERSON, allow_truncated=True)
    assert info.value.stage == "schema"
    assert info.value.repairs == ("truncated",)
    assert info.value.raw == '{"name": "Ada", "ag'


@pytest.mark.parametrize("case", _cases("truncated.jsonl"), ids=lambda c: c["name"])
def test_truncated_fails_by_default(case: dict) -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(case["broken"], PERSON)
    assert (info.value.stage, info.value.errors[0].kind) == ("syntax", "truncated")
    assert "allow_truncated=True" in str(info.value)


@pytest.mark.parametrize("case", _cases("truncated.jsonl"), ids=lambda c: c["name"])
def test_truncated_on_request_drops_the_unfinished_member(case: dict) -> None:
    if case["allowed"] is None:
        with pytest.raises(fb.EnforcementError) as info:
            fb.enforce(case["broken"], PERSON, allow_truncated=True)
        assert info.value.stage == case["stage"]
        assert case["contains"] in str(info.value)
        return
    result = fb.enforce(case["broken"], PERSON, allow_truncated=True)
    assert result.value == case["allowed"]
    assert list(result.repairs) == case["repairs"]


def test_formats_are_checked() -> None:
    schema = {"properties": {"d": {"type": "string", "format": "date"}, "e": {"format": "email"}}}
    assert fb.enforce('{"d": "2024-02-29", "e": "a@b.org"}', schema).value["d"] == "2024-02-29"
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"d": "2023-02-30"}', schema)
    assert info.value.errors[0].kind == "format"


def test_refs_and_older_drafts() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"pos": {"type": "integer", "minimum": 1}},
        "properties": {"n": {"$ref": "#/definitions/pos"}},
    }
    assert fb.enforce('{"n": 2}', schema).value == {"n": 2}
    with pytest.raises(fb.EnforcementError):
        fb.enforce('{"n": 0}', schema)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "cannot be resolved"),
        ({"type": "strnig"}, "invalid JSON Schema at /type"),
        ({"properties": {"a": {"$ref": "https://example.com/s.json"}}}, "remote schema"),
        ({"$schema": "https://example.com/my-draft"}, "unknown $schema"),
        ([1, 2], "must be a dict"),
        ({"minimum": "zero"}, "invalid JSON Schema at /minimum"),
    ],
)
def test_broken_schema_raises_spec_error_at_build_time(schema: object, message: str) -> None:
    with pytest.raises(fb.SpecError, match=message.replace("$", r"\$")):
        fb.Spec.json(schema)


def test_schema_from_file(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text(json.dumps(PERSON))
    spec = fb.Spec.json(p)
    assert fb.enforce('{"name": "A", "age": 1}', spec).value["age"] == 1
    with pytest.raises(fb.SpecError, match="does not exist"):
        fb.Spec.json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(fb.SpecError, match="not valid JSON"):
        fb.Spec.json(tmp_path / "bad.json")


def test_pydantic_spec_returns_instance_and_runs_validators() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

        @pydantic.field_validator("name")
        @classmethod
        def capitalised(cls, v: str) -> str:
            if not v[:1].isupper():
                raise ValueError("name must be capitalised")
            return v

    r = fb.enforce("```json\n{'name': 'Ada', 'age': 36}\n```", Person)
    assert isinstance(r.value, Person)
    assert r.value.age == 36
    assert json.loads(r.text) == {"name": "Ada", "age": 36}
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"name": "ada", "age": 36}', Person)
    assert info.value.errors[0].path == "/name"
    assert "capitalised" in info.value.errors[0].message


# ------------------------------------------------------------------ bad input
def test_huge_text_is_rejected_quickly() -> None:
    text = '{"name": "' + "a" * 50_000_000 + '"}'
    t0 = time.perf_counter()
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(text, PERSON)
    assert time.perf_counter() - t0 < 2.0
    assert info.value.errors[0].kind == "too_large"
    assert len(info.value.text) <= 1000


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_a_clear_error(opener: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(opener * 10_000, {})
    assert time.perf_counter() - t0 < 5.0
    assert "nesting deeper than" in str(info.value)


def test_moderate_nesting_validates_without_recursion_error() -> None:
    text = "[" * 90 + "]" * 90
    assert fb.enforce(text, {"type": "array"}).text.startswith("[[")


def test_invalid_utf8_bytes() -> None:
    with pytest.raises(fb.EnforcementError, match="not valid UTF-8"):
        fb.enforce(b'{"a": "\xff"}', {})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(text: str) -> None:
    with pytest.raises(fb.EnforcementError, match="empty"):
        fb.enforce(text, PERSON)


def test_non_text_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        fb.enforce(123, PERSON)  # type: ignore[arg-type]


def test_lenient_parse_reports_repairs() -> None:
    pv = lenient_parse("{'a': [1, 2,], b: None}")
    assert pv.value == {"a": [1, 2], "b": None}
    assert pv.repairs == {"single_quotes", "trailing_comma", "unquoted_keys", "python_literals"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_any_text_gives_result_or_enforcement_error(text: str) -> None:
    try:
        r = fb.enforce(text, PERSON)
    except fb.EnforcementError as err:
        assert err.errors and err.stage in ("syntax", "schema")
    else:
        fb.enforce(r.text, PERSON, repair=False)  # what we hand back is valid as is


_json_chars = st.sampled_from(
    [*list("{}[]:,\"'\\ \n0123456789.-eE"), "true", "True", "None", "null", "//", "/*"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_json_chars, max_size=80).map("".join))
def test_fuzz_json_like_text(text: str) -> None:
    try:
        r = fb.enforce(text, {})
    except fb.EnforcementError:
        return
    assert json.loads(r.text) == r.value


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
        max_leaves=20,
    )
)
def test_fuzz_valid_json_round_trips_without_repairs(value: object) -> None:
    r = fb.enforce(json.dumps(value), {})
    assert r.value == value and r.repairs == ()

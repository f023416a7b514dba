"""JSON never lies: no piece for the whole, no partial scalars, no non-JSON values, no silent coercion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import formbound as fb
from formbound.models.base import Generation

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: (
        st.lists(c, min_size=1, max_size=3) | st.dictionaries(st.text(max_size=5), c, min_size=1, max_size=3)
    ),
    max_leaves=8,
).filter(lambda v: isinstance(v, (dict, list)))

#: Outer structures broken after (or around) a valid inner value ``{v}``.
_BROKEN_OUTER = [
    '{{"a": 1, "b": {v}, "c": active}}',
    '{{"a": [1, 2}}, "b": {v}}}',
    '{{"name": "Alice", "manager": {v}, "status": active}}',
    "[1, {v}, }}",
    '{{"k": {v} "x" ]}}',
    '{{"k": [{v}}}',
    '{{"a": "x", "b": {v}, "c": -}}',
    '"a": 1, "b": {v}, "c": 2',
    '{{"a": 1 "b": {v} !!}}',
    '{{"a": "```json\n{v}\n```", "c": bad}}',
    '{{"a": "x", "b": ```json\n{v}\n``` ]]',
]


@settings(max_examples=150, deadline=None)
@given(_values, st.sampled_from(_BROKEN_OUTER))
def test_a_broken_outer_value_never_yields_its_inner_value(inner: Any, template: str) -> None:
    text = template.format(v=json.dumps(inner))
    try:
        result = fb.enforce(text, {}, allow_truncated=True)
    except fb.EnforcementError:
        return
    assert result.value != inner, (text, result.repairs)


@pytest.mark.parametrize(
    ("text", "schema"),
    [
        ('{"name": "Alice", "manager": {"name": "Bob"}, "status": active}', {}),
        ('{"key1": ["v1", "v2"}, "key2": ["v3", "v4"]}', {}),
        ('"https://example.org/foobar{}.txt"', {"type": "string", "format": "uri"}),
        ('"see [1, 2] here"', {"type": "array"}),
        ('Use {name} as the key: {"a": 1}', {}),
        ('{"a": 1}}', {}),
        ('{"a": "```json\n{"b": 1}\n```", "c": bad}', {}),
        ('Sure: ```json\n{"b": 1}\n``` and {"c": 2}', {"type": "object"}),
    ],
)
def test_examples_of_pieces_are_refused(text: str, schema: dict[str, Any]) -> None:
    with pytest.raises(fb.EnforcementError):
        fb.enforce(text, schema)


def test_several_values_need_exactly_one_that_fits() -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"a": 1} {"b": 2}', {"type": "object"})
    assert info.value.errors[0].kind == "multiple_values"
    assert '{"a": 1}' in str(info.value) and '{"b": 2}' in str(info.value)
    result = fb.enforce('{"a": 1} {"b": 2}', {"required": ["b"]})
    assert result.value == {"b": 2} and "multiple_values" in result.repairs
    with pytest.raises(fb.EnforcementError) as fenced:
        fb.enforce("```json\n[1]\n```\n```json\n[2]\n```", {"type": "array"})
    assert fenced.value.errors[0].kind == "multiple_values"


# ------------------------------------------------------------------ truncation
@settings(max_examples=25, deadline=None)  # every cut of each object: ~2,000 enforce calls
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6), st.text(max_size=12) | st.integers(), min_size=1, max_size=4
    )
)
def test_a_cut_never_keeps_part_of_a_scalar(obj: dict[str, Any]) -> None:
    full = json.dumps(obj)
    for cut in range(1, len(full) - 1):
        text = full[:cut]
        with pytest.raises(fb.EnforcementError):
            fb.enforce(text, {})  # truncation fails by default
        try:
            value = fb.enforce(text, {}, allow_truncated=True).value
        except fb.EnforcementError:
            continue
        # whatever is kept is a complete member of the original, never a prefix of a value
        assert isinstance(value, dict)
        assert all(k in obj and obj[k] == v for k, v in value.items()), (text, value)


@pytest.mark.parametrize("cut", ['{"name": "Ada Lov', '{"age": 3'])
def test_quoted_partial_scalars(cut: str) -> None:
    schema = {"properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(cut, schema)
    assert info.value.errors[0].kind == "truncated"
    assert fb.enforce(cut, schema, allow_truncated=True).value == {}
    with pytest.raises(fb.EnforcementError):
        fb.enforce(cut, {**schema, "required": ["name", "age"]}, allow_truncated=True)


def test_finish_reason_length_fails_by_default() -> None:
    gen = Generation('{"n": 3}', 5, 5, 0.1, "length")
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(gen, {})
    assert (info.value.stage, info.value.errors[0].kind) == ("syntax", "truncated")
    with pytest.raises(fb.EnforcementError):
        fb.enforce('{"n": 3}', {}, finish_reason="length")
    assert fb.enforce(gen, {}, allow_truncated=True).value == {"n": 3}
    assert fb.enforce(Generation('{"n": 3}', 5, 5, 0.1, "stop"), {}).value == {"n": 3}


# ------------------------------------------------------------------ not JSON values
@pytest.mark.parametrize(
    "text",
    [
        '{"x": 1e999}',
        '{"x": -1e999,}',
        "[1e400]",
        '{"x": NaN}',
        '{"x": Infinity}',
        '{"x": "\\ud800"}',
        '{"x": "\\udc00",}',
        '{"x": "a\\ud83d"}',
        '{"x": "\udcff"}',
        "{'x': '\ud800'}",
        '{"\\ud800": 1}',
    ],
)
def test_values_that_are_not_json_are_syntax_errors(text: str) -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(text, {})
    assert info.value.stage == "syntax"


def test_surrogate_pairs_still_read() -> None:
    assert fb.enforce('{"x": "\\ud83d\\ude00"}', {}).value == {"x": "\U0001f600"}
    assert fb.enforce('{"x": "\\ud83d\\ude00",}', {}).value == {"x": "\U0001f600"}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_result_text_is_always_encodable(s: str) -> None:
    for text in (json.dumps({"s": s}), json.dumps({"s": s}) + ",", "{'s': " + json.dumps(s) + "}"):
        try:
            result = fb.enforce(text, {})
        except fb.EnforcementError:
            continue
        result.text.encode("utf-8")
        assert json.loads(result.text) == result.value


# ------------------------------------------------------------------ crashes become FormboundErrors
@pytest.mark.parametrize("text", ["1" * 5000, '{"n": ' + "1" * 5000 + "}", '{"n": ' + "1" * 5000 + ",}"])
def test_huge_integers_are_syntax_errors(text: str) -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(text, {})
    assert info.value.stage == "syntax"


def test_multiple_of_on_a_huge_number_is_not_an_overflow() -> None:
    # exact arithmetic: every integer is a multiple of 0.1; an odd one is not a multiple of 2
    huge = "1" * 400
    assert fb.enforce('{"n": ' + huge + "}", {"properties": {"n": {"multipleOf": 0.1}}}).value["n"] == int(
        huge
    )
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce('{"n": ' + huge + "}", {"properties": {"n": {"multipleOf": 2}}})
    assert info.value.stage == "schema"


def test_guard_handles_none_and_checks_retries() -> None:
    answers = iter([None, '{"n": 2}'])
    ask = fb.guard({"properties": {"n": {"type": "integer"}}})(lambda p, feedback=None: next(answers))
    result = ask("how many?")
    assert result.value == {"n": 2}
    assert "None" in str(result.attempts[0].error)
    with pytest.raises(fb.ConfigError):
        fb.guard({}, retries=-1)
    nothing = fb.guard({}, retries=0)(lambda p, feedback=None: None)
    with pytest.raises(fb.EnforcementError):
        nothing("x")


def test_spec_path_is_accepted_everywhere(tmp_path: Path) -> None:
    p = tmp_path / "person.schema.json"
    p.write_text(json.dumps({"required": ["n"]}))
    assert fb.enforce('{"n": 1}', p).value == {"n": 1}
    assert fb.enforce('{"n": 1}', str(p)).value == {"n": 1}
    with pytest.raises(fb.EnforcementError):
        fb.enforce("{}", str(p))
    assert fb.guard(str(p))(lambda q, feedback=None: '{"n": 1}')("q").value == {"n": 1}


# ------------------------------------------------------------------ pydantic
def _models() -> tuple[type, type, type]:
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        code: str = pydantic.Field(alias="Code")
        note: str = pydantic.Field(default="", exclude=True)

    class Person(pydantic.BaseModel):
        name: str = pydantic.Field(alias="fullName")
        age: int
        secret: str = pydantic.Field(exclude=True)
        inner: Inner
        items: list[Inner] = pydantic.Field(default_factory=list)
        other: str = pydantic.Field(default="x", validation_alias="otherName")

    class Picky(pydantic.BaseModel):
        n: int

        @pydantic.field_validator("n")
        @classmethod
        def broken(cls, v: int) -> int:
            if v == 1:
                raise KeyError("missing")
            if v == 2:
                raise TypeError("bad type")
            return v

    return Inner, Person, Picky


def test_pydantic_text_validates_against_its_own_spec() -> None:
    _, person, _ = _models()
    text = json.dumps(
        {
            "fullName": "Ada",
            "age": 36,
            "secret": "s",
            "inner": {"Code": "c", "note": "n"},
            "items": [{"Code": "d"}],
            "otherName": "y",
        }
    )
    result = fb.enforce(text, person)
    assert result.repairs == ()
    again = fb.enforce(result.text, person, repair=False)
    assert again.value == result.value
    assert again.value.secret == "s" and again.value.other == "y"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ({"n": "36"}, "string for int"),
        ({"n": 36, "flag": "yes"}, "string for bool"),
        ({"n": 36, "unknown": 1}, "unknown key"),
        ({"n": 36.0}, "float for int"),
    ],
)
def test_pydantic_coercions_are_named_or_refused(data: dict[str, Any], what: str) -> None:
    pydantic = pytest.importorskip("pydantic")

    class M(pydantic.BaseModel):
        n: int
        flag: bool = False

    lax = fb.enforce(json.dumps(data), M)
    assert "coerce" in lax.repairs, what
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(json.dumps(data), fb.Spec.json(M, strict=True))
    assert (info.value.stage, info.value.errors[0].kind) == ("schema", "coerce")
    exact = fb.enforce('{"n": 36, "flag": true}', fb.Spec.json(M, strict=True))
    assert exact.repairs == () and exact.value.n == 36


def test_pydantic_unknown_nested_key_is_reported() -> None:
    inner, _, _ = _models()
    pydantic = pytest.importorskip("pydantic")

    class Outer(pydantic.BaseModel):
        inner: inner  # type: ignore[valid-type]

    assert fb.enforce('{"inner": {"Code": "c"}}', Outer).repairs == ()
    assert fb.enforce('{"inner": {"Code": "c", "zzz": 1}}', Outer).repairs == ("coerce",)


@pytest.mark.parametrize("n", [1, 2])
def test_pydantic_validator_raising_other_errors_is_a_schema_error(n: int) -> None:
    _, _, picky = _models()
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(json.dumps({"n": n}), picky)
    assert (info.value.stage, info.value.errors[0].kind) == ("schema", "validator_error")


def test_guard_re_asks_a_generation_cut_by_the_token_limit() -> None:
    answers = iter([Generation('{"n": 1', 5, 5, 0.1, "length"), Generation('{"n": 12}', 5, 5, 0.1, "stop")])
    ask = fb.guard({"required": ["n"]})(lambda p, feedback=None: next(answers))
    result = ask("how many?")
    assert result.value == {"n": 12}
    assert result.attempts[0].text == '{"n": 1'
    assert result.attempts[0].error is not None and result.attempts[0].error.errors[0].kind == "truncated"

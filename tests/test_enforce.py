"""enforce/guard behaviour independent of a format's details."""

from __future__ import annotations

import pytest

import formbound as fb

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_guard_reasks_with_feedback_and_returns_attempts() -> None:
    answers = iter(['{"n": "three"}', "not json", '{"n": 3}'])
    seen: list[str | None] = []

    def fn(prompt: str, feedback: str | None = None) -> str:
        seen.append(feedback)
        return next(answers)

    r = fb.guard(SCHEMA, retries=2)(fn)("count")
    assert r.value == {"n": 3}
    assert len(r.attempts) == 3
    assert seen[0] is None
    assert seen[1] is not None and "/n" in seen[1] and "integer" in seen[1]
    assert seen[2] is not None and "syntax" in seen[2]
    assert [a.ok for a in r.attempts] == [False, False, True]


def test_guard_final_error_carries_every_attempt() -> None:
    calls = []

    def fn(prompt: str, feedback: str | None = None) -> str:
        calls.append(prompt)
        return '{"n": "x"}'

    with pytest.raises(fb.EnforcementError) as info:
        fb.guard(SCHEMA, retries=1)(fn)("p")
    assert len(calls) == 2
    assert len(info.value.attempts) == 2
    assert all(a.error is not None and a.error.stage == "schema" for a in info.value.attempts)
    assert "after 2 attempts" in str(info.value)


def test_guard_rejects_negative_retries() -> None:
    with pytest.raises(ValueError):
        fb.guard(SCHEMA, retries=-1)


def test_spec_coerce_rejects_other_types() -> None:
    with pytest.raises(fb.SpecError, match=r"expected a formbound\.Spec"):
        fb.enforce("{}", 42)


def test_errors_hierarchy() -> None:
    for cls in (fb.SpecError, fb.EnforcementError, fb.ConfigError, fb.DependencyError, fb.GenerationError):
        assert issubclass(cls, fb.FormboundError)


def test_issue_str_forms() -> None:
    assert str(fb.Issue("bad", line=2, column=3)) == "line 2, column 3: bad"
    assert str(fb.Issue("bad", path="/a")) == "at /a: bad"
    assert str(fb.Issue("bad", path="")) == "at /: bad"
    assert str(fb.Issue("unknown column", suggestion="name")) == "unknown column (did you mean 'name'?)"


def test_unknown_format_suggests() -> None:
    with pytest.raises(fb.SpecError, match="did you mean 'yaml'"):
        fb.Spec.from_dict({"format": "yml", "schema": {}})


def test_describe_round_trip_and_hash() -> None:
    spec = fb.Spec.json(SCHEMA)
    again = fb.Spec.from_dict(spec.describe())
    assert again.hash == spec.hash
    assert fb.Spec.json({"type": "string"}).hash != spec.hash


def test_constraint_bounds_and_unenforced() -> None:
    schema = {"properties": {"s": {"type": "string"}, "u": {"type": "array", "uniqueItems": True}}}
    spec = fb.Spec.json(schema)
    c = spec.constraint()
    assert c.kind == "json_schema"
    # no fixed bounds by default: a fixed string bound would reject valid long strings (the token
    # budget bounds arrays per generation instead)
    assert "maxLength" not in c.value["properties"]["s"]
    assert "maxItems" not in c.value["properties"]["u"]
    assert spec.unenforced == ("uniqueItems",)
    bounded = fb.Spec.json(schema, max_string_length=256, max_items=32).constraint()
    assert bounded.value["properties"]["s"]["maxLength"] == 256
    assert bounded.value["properties"]["u"]["maxItems"] == 32
    assert "maxLength" not in spec.schema["properties"]["s"]  # the spec itself is untouched


def test_render_schema_is_compact() -> None:
    spec = fb.Spec.json(
        {
            "properties": {"n": {"type": "integer", "description": "how many"}, "k": {"enum": ["a", "b"]}},
            "required": ["n"],
        }
    )
    text = spec.render_schema()
    assert '"n": integer,  // how many' in text
    assert '"k"?: "a" | "b",' in text

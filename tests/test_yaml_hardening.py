"""YAML hardening: alias/merge-key budgets, non-JSON values, prose stripping, ambiguous candidates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.errors import EnforcementError
from formbound.formats.yaml import load_yaml


def syntax_error(text: str, **options: Any) -> EnforcementError:
    with pytest.raises(EnforcementError) as info:
        load_yaml(text, **options)
    assert info.value.stage == "syntax"
    return info.value


def merge_bomb(levels: int, own_keys: bool = False) -> str:
    """``lN: &lN {<<: [*lN-1, *lN-1]}``: each line doubles what the document expands to."""
    lines = ["l0: &l0 {a: 1, b: 2}"]
    for i in range(1, levels + 1):
        extra = f", k{i}: {i}" if own_keys else ""
        lines.append(f"l{i}: &l{i} {{<<: [*l{i - 1}, *l{i - 1}]{extra}}}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- merge keys
@pytest.mark.parametrize("own_keys", [False, True])
def test_merge_key_doubling_is_refused_as_too_many_nodes(own_keys: bool) -> None:
    err = syntax_error(merge_bomb(20, own_keys))
    issue = err.errors[0]
    assert issue.kind == "too_many_nodes"
    assert "merge" in issue.message and "max_nodes" in issue.message
    assert issue.line is not None


def test_merge_expansions_count_against_max_nodes() -> None:
    text = "a: &a {x: 1, y: 2, z: 3}\nb: {<<: [*a, *a, *a, *a]}\n"
    assert load_yaml(text)["b"] == {"x": 1, "y": 2, "z": 3}
    assert syntax_error(text, max_nodes=12).errors[0].kind == "too_many_nodes"


def test_small_merge_chains_still_load() -> None:
    value = load_yaml(merge_bomb(6, own_keys=True))
    assert value["l6"] == {"a": 1, "b": 2, **{f"k{i}": i for i in range(1, 7)}}


def test_duplicate_keys_next_to_a_merge_key_are_still_errors() -> None:
    err = syntax_error("a: &a {x: 1}\nb: {<<: *a, y: 1, y: 2}\n")
    assert err.errors[0].kind == "duplicate_key"
    assert '"y"' in err.errors[0].message


def test_duplicate_merge_key_is_an_error() -> None:
    assert syntax_error("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n").errors[0].kind == "duplicate_key"


def test_merging_a_scalar_is_an_error() -> None:
    assert "for merging" in syntax_error("a: &a 1\nb: {<<: *a}\n").errors[0].message


def test_recursive_alias_names_its_line() -> None:
    err = syntax_error("x: 1\na: &a [1, *a]\n")
    assert err.errors[0].kind == "recursive_alias"
    assert err.errors[0].line == 2


SMALL_MAPS = st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 9), max_size=5)


def _flow(mapping: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SMALL_MAPS, min_size=1, max_size=4), SMALL_MAPS)
def test_merge_keys_follow_the_merge_spec(sources: list[dict[str, int]], own: dict[str, int]) -> None:
    """Own keys win over merged ones; among merged mappings the earlier one wins."""
    lines = [f"s{i}: &s{i} {_flow(m)}" for i, m in enumerate(sources)]
    refs = ", ".join(f"*s{i}" for i in range(len(sources)))
    own_text = "".join(f", {k}: {v}" for k, v in own.items())
    lines.append(f"x: {{<<: [{refs}]{own_text}}}")
    expected: dict[str, int] = {}
    for m in reversed(sources):
        expected.update(m)
    expected.update(own)
    assert load_yaml("\n".join(lines) + "\n")["x"] == expected


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 9), st.integers(2, 12))
def test_alias_fan_out_is_counted_as_expanded(fan: int, levels: int) -> None:
    """A document of ``fan ** levels`` values loads only when that is within ``max_nodes``."""
    lines = ["l0: &l0 [" + ", ".join(["0"] * fan) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]")
    text = "\n".join(lines) + "\n"
    expanded = 1 + sum(sum(fan**j for j in range(i + 2)) for i in range(levels + 1))
    limit = 10_000
    if expanded <= limit:
        value = load_yaml(text, max_nodes=limit)
        assert len(json.dumps(value)) > 0
    else:
        assert syntax_error(text, max_nodes=limit).errors[0].kind == "too_many_nodes"


# --------------------------------------------------------------------------------------- non-JSON values
BOUNDED = {"type": "object", "properties": {"x": {"type": "number", "minimum": 0, "maximum": 10}}}
NON_FINITE = ["x: .nan", "x: .NaN", "x: .inf", "x: -.Inf", "x: +.INF", "x: 1e999", "x: -1e999", "[.nan]"]


@pytest.mark.parametrize("text", NON_FINITE)
def test_nan_and_infinities_are_syntax_errors_naming_the_value(text: str) -> None:
    err = syntax_error(text)
    issue = err.errors[0]
    assert issue.kind == "non_json_number"
    assert ".nan" in issue.message or ".inf" in issue.message
    assert "finite number" in issue.message


@pytest.mark.parametrize("text", NON_FINITE[:-1])
def test_nan_never_passes_minimum_or_maximum(text: str) -> None:
    from formbound.enforce import enforce
    from formbound.spec import Spec

    with pytest.raises(EnforcementError) as info:
        enforce(text, Spec.yaml(BOUNDED))
    assert info.value.stage == "syntax"


def test_strict_json_fallback_refuses_overflowing_numbers_too() -> None:
    # tabs make it JSON that ruamel refuses, so the strict-JSON path loads it
    assert syntax_error('{\n\t"x": 1e999\n}').errors[0].kind == "non_json_number"


def test_quoted_nan_is_a_string() -> None:
    assert load_yaml('x: ".nan"') == {"x": ".nan"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0xD800, 0xDFFF), st.sampled_from(['x: "a\\u{:04x}b"', '"k\\u{:04x}": 1', '["\\u{:04x}"]']))
def test_lone_surrogates_are_errors(code: int, template: str) -> None:
    err = syntax_error(template.format(code))
    assert err.errors[0].kind == "surrogate"
    assert f"U+{code:04X}" in err.errors[0].message


@pytest.mark.parametrize("text", ['{\n\t"x": "\\ud800"\n}', 'x: "\\udfff"', "x: a\udc80b"])
def test_lone_surrogates_in_every_loading_path(text: str) -> None:
    assert syntax_error(text).errors[0].kind in ("surrogate", "yaml_syntax")


def test_a_valid_surrogate_pair_is_one_character() -> None:
    assert load_yaml('x: "\\ud83d\\ude00"') == {"x": "\U0001f600"}


# --------------------------------------------------------------------------------------- prose and candidates
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}


def _enforce(text: str, schema: Any = PERSON) -> Any:
    from formbound.enforce import enforce
    from formbound.spec import Spec

    return enforce(text, Spec.yaml(schema))


def _ambiguous(text: str, schema: Any = PERSON) -> EnforcementError:
    with pytest.raises(EnforcementError) as info:
        _enforce(text, schema)
    assert info.value.errors[0].kind == "ambiguous", info.value.errors
    return info.value


def test_keys_after_a_prose_line_are_never_dropped() -> None:
    schema = {**PERSON, "required": ["name", "age"]}
    result_or_error: Any
    try:
        result_or_error = _enforce("name: Ada\nSome words in between.\nage: 36\n", schema).value
    except EnforcementError as err:
        result_or_error = err
    # either both keys are kept, or the text is refused: never {"name": "Ada"} alone
    assert result_or_error != {"name": "Ada"}
    assert not isinstance(result_or_error, dict) or result_or_error.get("age") == 36


def test_two_blocks_that_both_validate_are_ambiguous_and_named() -> None:
    err = _ambiguous("Here is one.\nname: Ada\nThen another one.\nname: Bob\n")
    message = err.errors[0].message
    assert "2 YAML blocks" in message and "name: Ada" in message and "name: Bob" in message
    assert "line 2" in message and "line 4" in message


def test_of_two_blocks_the_one_that_validates_is_taken() -> None:
    result = _enforce("Here is the record.\nname: Ada\nage: 36\nAnd a note follows.\nnote: hello\n")
    assert result.value == {"name": "Ada", "age": 36}
    assert result.repairs == ("strip_prose",)


def test_blocks_where_none_validates_are_named() -> None:
    err = _ambiguous("Here is one.\nname: [1]\nAlso this.\nage: x\n")
    assert "none of them" in err.errors[0].message


def test_two_fenced_blocks_are_ambiguous_unless_one_validates() -> None:
    both = "```yaml\nname: Ada\n```\nor\n```yaml\nname: Bob\n```\n"
    assert "2 fenced blocks" in _ambiguous(both).errors[0].message
    one = "```yaml\nname: Ada\n```\nor\n```yaml\nage: 3\n```\n"
    assert _enforce(one).value == {"name": "Ada"}


@pytest.mark.parametrize(
    "text",
    ["? [a, b]\n: 1\n", "? [a, b]\n", "? {a: 1}\n: x\n", "Here:\n? [a, b]\n: 1\n"],
)
def test_a_complex_key_never_becomes_the_document(text: str) -> None:
    with pytest.raises(EnforcementError):
        _enforce(text, {"type": "array"})


def test_json_in_prose_is_refused_when_yaml_follows_it() -> None:
    with pytest.raises(EnforcementError):
        _enforce('The answer is {"name": "Ada"} and also\nname: Bob\n', {"type": "object"})


BLOCK = st.dictionaries(
    st.sampled_from(["name", "age", "city", "zip"]), st.integers(0, 99), min_size=1, max_size=4
)
PROSE = st.sampled_from(["Here you go.", "Some words in between.", "I hope this helps!", "Thanks"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PROSE, BLOCK), min_size=1, max_size=3), PROSE)
def test_strip_prose_never_returns_part_of_a_block(
    parts: list[tuple[str, dict[str, int]]], tail: str
) -> None:
    """Whatever is returned is one whole block as written, or the text is refused."""
    text = "".join(p + "\n" + "".join(f"{k}: {v}\n" for k, v in b.items()) for p, b in parts) + tail
    try:
        value = _enforce(text, {"type": "object"}).value
    except EnforcementError:
        assert len(parts) > 1
        return
    assert value in [b for _, b in parts]
    assert len(parts) == 1 or [b for _, b in parts].count(value) >= 1

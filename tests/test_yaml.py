"""YAML format: safe loading, limits, validation, repairs, canonical text, description."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.enforce import Result, enforce
from formbound.errors import EnforcementError, SpecError
from formbound.formats import get_format
from formbound.formats.yaml import REPAIRS, YamlSpec, load_yaml
from formbound.spec import Spec

FIXTURES = Path(__file__).parent / "fixtures" / "yaml"
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
}
# Generous bound for a loaded 2-core machine; the real cost is milliseconds.
FAST = 2.0


def syntax_error(text: str, **options: Any) -> EnforcementError:
    with pytest.raises(EnforcementError) as info:
        load_yaml(text, **options)
    assert info.value.stage == "syntax"
    return info.value


# --------------------------------------------------------------------------------------- loading
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country: no", {"country": "no"}),  # YAML 1.2: no Norway problem
        ("answer: yes\nswitch: off", {"answer": "yes", "switch": "off"}),
        ("on: true", {"on": True}),
        ("since: 2024-01-31", {"since": "2024-01-31"}),  # timestamps stay strings
        ("at: 2001-12-14t21:59:43.10-05:00", {"at": "2001-12-14t21:59:43.10-05:00"}),
        ("n: 0o17\nh: 0x1f\nf: 1.5e3\nz: ~", {"n": 15, "h": 31, "f": 1500.0, "z": None}),
        ('{"a": [1, 2.5, true, null], "b": "\\u00e9"}', {"a": [1, 2.5, True, None], "b": "é"}),
        ('{\n\t"a": 1,\n\t"b": [1,\n\t\t2]\n}', {"a": 1, "b": [1, 2]}),  # JSON indented with tabs
        ("base: &b {x: 1}\nother: *b", {"base": {"x": 1}, "other": {"x": 1}}),
        ("- 1\n- two", [1, "two"]),
        ("just text", "just text"),
    ],
)
def test_loads_yaml_1_2_into_json_data(text: str, expected: Any) -> None:
    assert load_yaml(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "needle"),
    [
        ("!!python/object:os.system x", "tag", "unsupported tag"),
        ("a: !!python/name:os.system ''", "tag", "python/name"),
        ("a: !custom x", "tag", "!custom"),
        ("a: !!binary aGVsbG8=", "tag", "no JSON equivalent"),
        ("a: !!set {x}", "tag", "no JSON equivalent"),
        ("a: !!omap [x: 1]", "tag", "no JSON equivalent"),
        ("a: 1\nb: 2\na: 3", "duplicate_key", 'duplicate key "a"'),
        ("1: one", "key_type", "not a string"),
        ("a: 1\n---\nb: 2", "multi_document", "multi_document=True"),
        ("# only a comment", "empty", "no YAML document"),
        ("a: [1, 2", "yaml_syntax", ""),
        ("%YAML 1.10\n---\na: 1", "yaml_syntax", "version"),  # the loader asserts on this one
    ],
)
def test_rejects_unsafe_or_non_json_yaml(text: str, kind: str, needle: str) -> None:
    err = syntax_error(text)
    assert err.errors[0].kind == kind
    assert needle in err.errors[0].message


def test_duplicate_key_error_points_at_the_second_key() -> None:
    err = syntax_error("a: 1\nb: 2\na: 3\n")
    issue = err.errors[0]
    assert (issue.line, issue.column) == (3, 1)
    assert "first defined on line 1" in issue.message


def test_syntax_error_has_line_and_column() -> None:
    err = syntax_error("name: Ada\nage: [1, 2\nx: 3\n")
    assert err.errors[0].line is not None and err.errors[0].line >= 2
    assert err.errors[0].column is not None


def test_tab_indentation_error_suggests_spaces() -> None:
    err = syntax_error("a:\n\t- x\n")
    assert err.errors[0].suggestion == "indent with spaces, not tabs"
    assert err.errors[0].line == 2


# --------------------------------------------------------------------------------------- hostile
def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast() -> None:
    start = time.perf_counter()
    err = syntax_error(billion_laughs())
    assert time.perf_counter() - start < FAST
    assert err.errors[0].kind == "too_many_nodes"
    assert "alias" in err.errors[0].message


def test_billion_laughs_through_enforce_fails_fast_with_repairs_on() -> None:
    spec = YamlSpec()  # built outside the timing: the first spec imports jsonschema
    start = time.perf_counter()
    with pytest.raises(EnforcementError) as info:
        enforce(billion_laughs(), spec)
    assert time.perf_counter() - start < FAST
    assert info.value.errors[0].kind == "too_many_nodes"


def test_small_aliases_stay_under_the_node_limit() -> None:
    assert load_yaml(billion_laughs(2))["l2"][0][0] == ["lol"] * 9


def test_max_nodes_is_configurable() -> None:
    assert syntax_error("[1, 2, 3, 4, 5]", max_nodes=3).errors[0].kind == "too_many_nodes"


def test_recursive_alias_is_an_error() -> None:
    err = syntax_error("a: &a [*a]")
    assert err.errors[0].kind == "recursive_alias"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20_000 + "]" * 20_000,
        "{a: " * 5_000 + "1" + "}" * 5_000,
        "".join(" " * i + "k:\n" for i in range(300)) + " " * 300 + "k: 1\n",
        "- " * 3_000 + "x",
    ],
)
def test_deep_nesting_is_a_clean_syntax_error(text: str) -> None:
    start = time.perf_counter()
    err = syntax_error(text, max_chars=100_000)  # over the default size limit, which would answer first
    assert time.perf_counter() - start < FAST
    assert err.errors[0].kind == "too_deep"


def test_nesting_limit_is_configurable() -> None:
    assert load_yaml("a: {b: {c: 1}}", max_depth=3) == {"a": {"b": {"c": 1}}}
    assert syntax_error("a: {b: {c: {d: 1}}}", max_depth=3).errors[0].kind == "too_deep"


def test_huge_document_is_rejected_before_parsing() -> None:
    text = "k: " + "x" * 2_000_000
    start = time.perf_counter()
    err = syntax_error(text)
    assert time.perf_counter() - start < 0.5
    assert err.errors[0].kind == "too_large"
    assert "max_chars" in err.errors[0].message


def test_huge_document_through_enforce() -> None:
    spec = YamlSpec(max_chars=1_000)
    start = time.perf_counter()
    with pytest.raises(EnforcementError) as info:
        enforce("```yaml\n" + "a: b\n" * 1_000 + "```", spec)
    assert time.perf_counter() - start < FAST
    assert info.value.errors[0].kind == "too_large"


# --------------------------------------------------------------------------------------- validation
def test_enforce_validates_against_the_schema_with_paths() -> None:
    with pytest.raises(EnforcementError) as info:
        enforce("name: Ada\nage: old\n", Spec.yaml(PERSON))
    assert info.value.stage == "schema"
    assert info.value.errors[0].path == "/age"


def test_string_no_validates_as_a_string() -> None:
    spec = Spec.yaml({"type": "object", "properties": {"country": {"type": "string"}}})
    assert enforce("country: no", spec).value == {"country": "no"}


def test_json_where_yaml_was_asked_is_accepted_as_is() -> None:
    result = enforce('{"name": "Ada", "age": 36}', Spec.yaml(PERSON))
    assert result.value == {"name": "Ada", "age": 36}
    assert result.repairs == ()
    assert result.text == "name: Ada\nage: 36\n"


def test_multi_document_stream() -> None:
    spec = YamlSpec(PERSON, multi_document=True)
    result = enforce("name: Ada\n---\nname: Alan\nage: 41\n", spec)
    assert result.value == [{"name": "Ada"}, {"name": "Alan", "age": 41}]
    assert result.text == "name: Ada\n---\nname: Alan\nage: 41\n"
    with pytest.raises(EnforcementError) as info:
        enforce("name: Ada\n---\nage: 41\n", spec, repair=False)
    assert info.value.stage == "schema"
    assert info.value.errors[0].path == "/1"


def test_single_document_spec_rejects_a_stream() -> None:
    with pytest.raises(EnforcementError) as info:
        enforce("name: Ada\n---\nname: Alan\n", Spec.yaml(PERSON))
    assert "multi_document=True" in str(info.value)


def test_pydantic_model_spec_returns_an_instance() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int | None = None

    spec = Spec.yaml(Person)
    result = enforce("age: 36\nname: Ada\n", spec)
    assert isinstance(result.value, Person)
    assert result.value.age == 36
    assert result.text == "name: Ada\nage: 36\n"


# --------------------------------------------------------------------------------------- repairs
CASES = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["broken"] for c in CASES])
def test_broken_to_fixed_fixtures(case: dict[str, Any]) -> None:
    spec = Spec.yaml(FIXTURES / "schema.json")
    broken = (FIXTURES / case["broken"]).read_text(encoding="utf-8")
    with pytest.raises(EnforcementError):
        enforce(broken, spec, repair=False)
    result = enforce(broken, spec)
    assert result.repairs == tuple(case["repairs"])
    assert result.text == case["fixed"]
    assert result.raw == broken


def test_every_repair_has_a_fixture() -> None:
    used = {name for case in CASES for name in case["repairs"]}
    assert used == set(REPAIRS)


def test_prose_with_a_colon_is_not_taken_for_a_key() -> None:
    result = enforce(
        "Here is the YAML:\nname: Ada\nage: 3\n", Spec.yaml({**PERSON, "additionalProperties": False})
    )
    assert result.value == {"name": "Ada", "age": 3}


def test_unterminated_fence_is_stripped() -> None:
    result = enforce("```yaml\nname: Ada\n", Spec.yaml(PERSON))
    assert result.value == {"name": "Ada"}
    assert result.repairs == ("strip_fence",)


def test_repairs_are_not_tried_when_disabled() -> None:
    with pytest.raises(EnforcementError):
        enforce("```yaml\nname: Ada\n```", Spec.yaml(PERSON), repair=False)


# --------------------------------------------------------------------------------------- canonical text
def test_dump_orders_keys_by_schema_then_sorted() -> None:
    spec = YamlSpec(PERSON)
    text = spec.dump({"zeta": 1, "tags": ["a", "yes"], "alpha": {"b": 1, "a": []}, "age": 3, "name": "Ada L"})
    assert text == ('name: Ada L\nage: 3\ntags:\n  - a\n  - "yes"\nalpha:\n  a: []\n  b: 1\nzeta: 1\n')


def test_dump_quotes_strings_yaml_would_read_as_something_else() -> None:
    spec = YamlSpec()
    value = {"a": "123", "b": "null", "c": "true", "d": "no", "e": "1.5", "f": "", "g": "a: b", "h": "-x"}
    text = spec.dump(value)
    assert load_yaml(text) == value
    assert 'a: "123"' in text and 'd: "no"' in text


def test_dump_nested_sequences_and_mappings_in_sequences() -> None:
    value = [{"a": 1, "b": [1, [2, 3]]}, [], {}, [[1]]]
    text = YamlSpec().dump(value)
    assert text == "- a: 1\n  b:\n    - 1\n    - - 2\n      - 3\n- []\n- {}\n- - - 1\n"
    assert load_yaml(text) == value


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_dump_round_trips(value: Any) -> None:
    text = YamlSpec().dump(value)
    assert load_yaml(text) == value


def test_dump_large_and_small_floats() -> None:
    text = YamlSpec().dump([1e300, -1e300, 5e-324, 0.1])
    assert load_yaml(text) == [1e300, -1e300, 5e-324, 0.1]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"a": [math.inf]}, "\ud800"])
def test_dump_refuses_values_json_cannot_hold(value: Any) -> None:
    with pytest.raises(EnforcementError) as info:
        YamlSpec().dump(value)
    assert info.value.errors[0].kind in ("non_json_number", "surrogate")


# --------------------------------------------------------------------------------------- fuzzing
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_enforce_never_crashes_on_arbitrary_text(text: str) -> None:
    try:
        result = enforce(text, Spec.yaml(PERSON))
    except EnforcementError as err:
        assert err.errors
    else:
        assert isinstance(result, Result)


YAMLISH = st.lists(
    st.sampled_from(
        [
            "a",
            ":",
            " ",
            "\n",
            "\t",
            "-",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&x",
            "*x",
            "!!str",
            "!",
            "'",
            '"',
            "#",
            "---",
            "...",
            "?",
            "|",
            ">",
            "%YAML 1.2",
            "name",
            "0",
            "1e5",
            "<<",
            "\\",
            "@",
            "`",
            "\ufeff",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_enforce_never_crashes_on_yaml_like_text(text: str) -> None:
    try:
        result = enforce(text, Spec.yaml(PERSON))
    except EnforcementError as err:
        assert err.stage in ("syntax", "schema")
    else:
        assert isinstance(result, Result)


# --------------------------------------------------------------------------------------- the spec
def test_registry_and_factory_build_a_yaml_spec() -> None:
    assert get_format("yaml") is YamlSpec
    assert isinstance(Spec.yaml(PERSON), YamlSpec)
    assert Spec.yaml(PERSON).format == "yaml"


def test_describe_round_trips_through_from_dict() -> None:
    spec = YamlSpec(PERSON, multi_document=True, max_items=5)
    data = spec.describe()
    assert json.loads(json.dumps(data)) == data
    assert data["format"] == "yaml" and data["multi_document"] is True and data["max_items"] == 5
    again = Spec.from_dict(data)
    assert isinstance(again, YamlSpec)
    assert again.describe() == data
    assert again.hash == spec.hash


def test_from_dict_resolves_a_schema_file_against_base_dir() -> None:
    spec = Spec.from_dict({"format": "yaml", "schema": "schema.json"}, base_dir=FIXTURES)
    assert isinstance(spec, YamlSpec)
    assert spec.schema == json.loads((FIXTURES / "schema.json").read_text(encoding="utf-8"))


def test_from_dict_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(SpecError, match="did you mean 'multi_document'"):
        Spec.from_dict({"format": "yaml", "schema": {}, "multi_documents": True})


@pytest.mark.parametrize(
    ("options", "needle"),
    [({"max_items": 0}, "max_items"), ({"max_chars": "big"}, "max_chars"), ({"multi_document": 1}, "multi")],
)
def test_bad_options_are_spec_errors(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(SpecError, match=needle):
        YamlSpec(PERSON, **options)


def test_broken_schema_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        Spec.yaml({"type": "nonsense"})


def test_render_schema_is_compact_and_readable() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40, "description": "Full name"},
            "status": {"enum": ["active", "no"]},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "scores": {"type": "array", "items": {"type": ["number", "null"]}, "maxItems": 3},
        },
        "required": ["name", "status"],
    }
    text = YamlSpec(schema).render_schema()
    assert text == (
        "name: <string, 0-40 chars>  # Full name\n"
        'status: <one of: active | "no">\n'
        "address:  # optional\n"
        "  city: <string>\n"
        "scores:  # optional\n"
        "  # list, at most 3 items\n"
        "  - <number or null>\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: Ada\n---\nname: Alan\nage: 41\n", {"name": "Alan", "age": 41}),
        ("---\nage: 3\n---\nname: Grace\nage: 85\n...\n", {"name": "Grace", "age": 85}),
        ("- 1\n---\nname: Ada\nage: 36\n---\njust prose\n", {"name": "Ada", "age": 36}),
        ("Here:\n```yaml\nname: Ada\n---\nname: Alan\nage: 41\n```\n", {"name": "Alan", "age": 41}),
    ],
)
def test_several_documents_take_the_only_one_that_matches(text: str, expected: dict[str, Any]) -> None:
    spec = Spec.yaml({**PERSON, "required": ["name", "age"]})
    result = enforce(text, spec)
    assert result.value == expected
    assert "multiple_values" in result.repairs
    assert load_yaml(result.text) == expected


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("name: Ada\nage: 36\n---\nname: Alan\nage: 41\n", "2 of them match"),
        ("name: Ada\n---\nname: Alan\n", "none of them matches"),
        ("```yaml\nname: Ada\nage: 36\n---\nname: Alan\nage: 41\n```", "2 of them match"),
    ],
)
def test_several_documents_are_an_error_unless_exactly_one_matches(text: str, verdict: str) -> None:
    spec = Spec.yaml({**PERSON, "required": ["name", "age"]})
    with pytest.raises(EnforcementError) as info:
        enforce(text, spec)
    issue = info.value.errors[0]
    assert issue.kind == "multiple_values"
    assert verdict in issue.message
    assert "document 1: 'name: Ada" in issue.message and "document 2: 'name: Alan" in issue.message
    assert "multi_document=True" in issue.message


def test_several_documents_without_repair_stay_an_error() -> None:
    spec = Spec.yaml({**PERSON, "required": ["name", "age"]})
    with pytest.raises(EnforcementError) as info:
        enforce("name: Ada\n---\nname: Alan\nage: 41\n", spec, repair=False)
    assert info.value.errors[0].kind == "multi_document"


def test_too_many_documents_are_refused_without_validating_each() -> None:
    text = "".join(f"---\nname: n{i}\nage: {i}\n" for i in range(40))
    with pytest.raises(EnforcementError) as info:
        enforce(text, Spec.yaml(PERSON))
    assert info.value.errors[0].kind == "multiple_values"
    assert "more than 16 to try" in info.value.errors[0].message

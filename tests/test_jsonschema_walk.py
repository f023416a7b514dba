"""Walkers over schemas visit schema positions only: keyword-named properties and data never crash them."""

from __future__ import annotations

import warnings
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import formbound as fb
from formbound._schema_walk import walk_schemas
from formbound.constraints.bounds import grammar_schema
from formbound.errors import SpecWarning
from formbound.formats.jsonschema import SchemaValidator, render_shape

KEYWORDS = [
    "type", "properties", "items", "enum", "const", "default", "examples", "required", "$ref", "$defs",
    "allOf", "anyOf", "not", "dependencies", "dependentSchemas", "patternProperties", "minLength",
    "maxItems", "format", "additionalProperties", "prefixItems", "if", "then", "description",
]  # fmt: skip
names = st.sampled_from(KEYWORDS) | st.text(max_size=3)
# data that looks like schemas: dicts keyed by keywords, with values of the wrong type for a keyword
data = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
scalar_types = st.sampled_from(["string", "integer", "number", "boolean", "null"])


def _schemas() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.booleans(),
        st.builds(lambda t: {"type": t}, scalar_types),
        st.builds(lambda v: {"enum": v}, st.lists(data, min_size=1, max_size=3)),
        st.builds(lambda v: {"const": v, "default": v, "examples": [v]}, data),
        st.just({"$ref": "#"}),
    )

    def nest(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        props = st.dictionaries(names, inner, max_size=4)
        return st.one_of(
            st.builds(
                lambda p, r: {"type": "object", "properties": p, "required": sorted(set(r) & set(p))},
                props,
                st.lists(names, max_size=3),
            ),
            st.builds(lambda i: {"type": "array", "items": i}, inner),
            st.builds(lambda xs: {"anyOf": xs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda xs: {"allOf": xs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(
                lambda d: {"type": "object", "dependencies": d},
                st.dictionaries(names, inner | st.lists(names, max_size=2, unique=True), max_size=3),
            ),
            st.builds(lambda d: {"dependentSchemas": d}, st.dictionaries(names, inner, max_size=2)),
            st.builds(
                lambda d, s: {"$defs": d, **s},
                st.dictionaries(names, inner, max_size=2),
                inner.filter(lambda x: isinstance(x, dict)),
            ),
        )

    return st.recursive(leaf, nest, max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(_schemas())
def test_walkers_never_crash_on_keyword_named_properties(schema: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        try:
            spec = fb.Spec.json(schema)
        except fb.SpecError:
            return  # refused with a formbound error is an answer, a TypeError is not
    assert isinstance(render_shape(schema), str)
    bounded, unenforced = grammar_schema(schema, max_string_length=8, max_items=2)
    assert all(isinstance(k, str) for k in unenforced)
    assert spec.constraint().kind == "json_schema"
    SchemaValidator(bounded)  # the bounded schema is still a valid schema


def test_dependencies_with_a_keyword_named_property_builds_a_constraint() -> None:
    spec = fb.Spec.json({"type": "object", "dependencies": {"type": {"required": ["id"]}}})
    assert spec.constraint().kind == "json_schema"


def test_bounding_touches_schemas_and_never_data() -> None:
    schema = {
        "type": "object",
        "properties": {"type": {"type": "string"}, "items": {"type": "array"}},
        "default": {"type": "string", "items": {"type": "array"}},
        "enum": [{"type": "string"}],
        "dependencies": {"a": ["type"], "type": {"properties": {"x": {"type": "string"}}}},
    }
    bounded, _ = grammar_schema(schema, max_string_length=8, max_items=2)
    assert isinstance(bounded, dict)
    assert bounded["properties"]["type"]["maxLength"] == 8
    assert bounded["properties"]["items"]["maxItems"] == 2
    assert bounded["default"] == schema["default"]
    assert bounded["enum"] == schema["enum"]
    assert bounded["dependencies"]["a"] == ["type"]
    assert bounded["dependencies"]["type"]["properties"]["x"]["maxLength"] == 8


def test_walk_schemas_yields_only_schema_positions() -> None:
    schema = {
        "properties": {"enum": {"type": "integer"}},
        "enum": [{"type": "x"}],
        "const": {"properties": {}},
        "items": [{"type": "string"}],
        "dependencies": {"a": ["b"], "c": {"minimum": 1}},
    }
    paths = [path for path, _ in walk_schemas(schema)]
    assert paths == [(), ("properties", "enum"), ("items", 0), ("dependencies", "c")]


def test_misspelt_keyword_warns_with_did_you_mean() -> None:
    import pytest

    with pytest.warns(SpecWarning, match=r"'requird' at / \(did you mean 'required'\?\)"):
        fb.Spec.json({"type": "object", "requird": ["id"]})
    with pytest.warns(SpecWarning, match=r"'maxLenght' at /properties/name"):
        fb.Spec.json({"properties": {"name": {"type": "string", "maxLenght": 3}}})


def test_custom_annotations_and_extensions_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fb.Spec.json(
            {"type": "object", "x-owner": "team", "discriminator": {}, "properties": {"requird": {}}}
        )


def test_a_data_file_is_refused_as_a_schema(tmp_path: Any) -> None:
    import pytest

    data = tmp_path / "data.json"
    data.write_text('{"name": "Ada", "age": 36}', encoding="utf-8")
    with pytest.raises(fb.SpecError, match=r"looks like a data object \(keys 'name', 'age'\)"):
        fb.Spec.json(str(data))
    with pytest.raises(fb.SpecError, match="looks like a data object"):
        fb.Spec.load(data)
    fb.Spec.json({})  # the empty schema (anything goes) is a schema


def test_render_cut_off_says_the_type() -> None:
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer"},
                    "tags": {"type": "array"},
                    "child": {"$ref": "#/$defs/node"},
                },
            }
        },
        "$ref": "#/$defs/node",
    }
    text = render_shape(schema)
    deepest = [line.strip() for line in text.splitlines() if line.strip().startswith('"n"')][-1]
    assert deepest.startswith('"n"?: integer')
    assert '"child"?: object' in text
    assert '"tags"?: any[]' in text


def test_cli_refuses_a_data_file_and_warns_about_a_typo(tmp_path: Any) -> None:
    import pytest
    from click.testing import CliRunner

    from formbound.cli import main

    data = tmp_path / "data.json"
    data.write_text('{"name": "Ada", "age": 36}', encoding="utf-8")
    refused = CliRunner().invoke(main, ["check", "--spec", str(data)], input="{}")
    assert refused.exit_code == 2
    assert "looks like a data object" in refused.output
    typo = tmp_path / "typo.json"
    typo.write_text('{"type": "object", "requird": ["id"]}', encoding="utf-8")
    with pytest.warns(SpecWarning, match="did you mean 'required'"):
        CliRunner().invoke(main, ["check", "--spec", str(typo)], input="{}")

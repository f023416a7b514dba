"""The flattened 2020-12 metaschema accepts exactly the schemas jsonschema's own check accepts."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formbound.errors import SpecError
from formbound.formats.jsonschema import SchemaValidator
from formbound.formats.jsonschema.meta import check_schema, flat_metaschema

V = jsonschema.Draft202012Validator
OFFICIAL = V(V.META_SCHEMA, format_checker=V.FORMAT_CHECKER)
FLAT = V(flat_metaschema(), format_checker=V.FORMAT_CHECKER)

SCHEMAS: list[Any] = [
    True,
    False,
    {},
    {"type": "object", "properties": {"$id": {"type": "string"}, "$dynamicRef": {}}},
    {"$defs": {"n": {"$dynamicAnchor": "n", "type": "object"}}, "$dynamicRef": "#n"},
    {"type": "array", "prefixItems": [{"type": "string"}], "items": False, "uniqueItems": True},
    {"allOf": [{"type": "object"}, {"required": ["a"]}], "unevaluatedProperties": False},
    {"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}, "else": False},
    {"dependentRequired": {"a": ["b"]}, "dependentSchemas": {"a": {"minProperties": 2}}},
    {"contentMediaType": "application/json", "contentEncoding": "base64", "deprecated": True},
    {"definitions": {"x": {"type": "integer"}}, "dependencies": {"a": ["b"], "c": {"type": "object"}}},
    {"$anchor": "here", "$comment": "c", "title": "t", "examples": [1], "format": "email"},
    {"type": 5},
    {"type": ["string", "strin"]},
    {"minLength": -1},
    {"properties": {"a": {"type": "strin"}}},
    {"$defs": {"x": {"enum": 3}}},
    {"items": [1]},
    {"pattern": "("},
    {"allOf": []},
    {"$ref": 3},
    {"required": ["a", "a"]},
    {"dependentRequired": {"a": [1]}},
    {"prefixItems": {}},
    {"unevaluatedProperties": 3},
    {"format": 3},
    {"contentMediaType": 1},
    {"$id": "#foo"},
    {"$anchor": "1x"},
    {"deprecated": "yes"},
    {"dependencies": {"a": 3}},
    {"definitions": {"a": 3}},
    {"properties": {"a": {"$dynamicRef": 3}}},
    {"not": {"maximum": "x"}},
    {"then": {"items": {"minItems": 1.5}}},
    {"$vocabulary": {"https://example.org/v": "yes"}},
]
KEYWORDS = sorted({k for s in SCHEMAS if isinstance(s, dict) for k in s} | {"maxItems", "enum", "const"})
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.5, "", "a", "string", "object", "#", "#/$defs/x", "^a", "(", "email"]),
)


def _schemas() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.booleans(), st.dictionaries(st.sampled_from(KEYWORDS), VALUES, max_size=3)),
        lambda inner: st.one_of(
            st.dictionaries(st.sampled_from(KEYWORDS), st.one_of(VALUES, inner, st.lists(inner, max_size=3)),
                            max_size=4),
            st.dictionaries(st.sampled_from(["a", "$id", "type"]), inner, max_size=3).map(
                lambda props: {"properties": props}
            ),
        ),
        max_leaves=12,
    )  # fmt: skip


def test_flat_metaschema_has_no_dynamic_or_remote_references() -> None:
    text = json.dumps(flat_metaschema())
    assert '"$dynamicRef": "#meta"' not in text  # "$dynamicRef" stays only as a property name
    refs = set(re.findall(r'"\$ref": "([^"]*)"', text))
    assert refs and all(ref.startswith("#") for ref in refs)


@pytest.mark.parametrize("schema", SCHEMAS, ids=[json.dumps(s)[:50] for s in SCHEMAS])
def test_flat_metaschema_agrees_with_the_published_one(schema: Any) -> None:
    assert FLAT.is_valid(schema) == OFFICIAL.is_valid(schema)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas())
def test_flat_metaschema_agrees_on_random_schemas(schema: Any) -> None:
    assert FLAT.is_valid(schema) == OFFICIAL.is_valid(schema)


def test_invalid_schema_keeps_jsonschemas_own_message() -> None:
    with pytest.raises(jsonschema.SchemaError) as info:
        check_schema(V, {"properties": {"a": {"type": "strin"}}})
    assert "'strin' is not valid" in info.value.message
    with pytest.raises(SpecError, match="invalid JSON Schema at /properties/a/type"):
        SchemaValidator({"properties": {"a": {"type": "strin"}}})


def test_other_drafts_use_their_own_check() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    check_schema(jsonschema.Draft7Validator, draft7)
    with pytest.raises(jsonschema.SchemaError):
        check_schema(jsonschema.Draft7Validator, {"items": [1]})

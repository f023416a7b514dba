"""The block-YAML grammar: whatever it lets a model write loads and validates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formbound.constraints import Constraint
from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.formats.yaml import YamlSpec, load_yaml
from formbound.formats.yaml.grammar import PLAIN_RESERVED, is_plain_safe, render_scalar, yaml_grammar

pytest.importorskip("llguidance")

from _tiny import random_walk, tiny_tokenizer

SCHEMAS: dict[str, dict[str, Any]] = {
    "nested": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer"},
            "address": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "minLength": 2, "maxLength": 8},
                    "geo": {
                        "type": "object",
                        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                        "required": ["lat", "lon"],
                    },
                },
                "required": ["city"],
            },
        },
        "required": ["name", "address"],
        "additionalProperties": False,
    },
    "array_of_objects": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "maxLength": 5},
                        "qty": {"type": "integer"},
                        "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2},
                    },
                    "required": ["sku"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["items"],
    },
    "enums_and_nullable": {
        "type": "object",
        "properties": {
            "status": {"enum": ["yes", "no", "123", "null", "ok", "a: b", 3, None, True]},
            "note": {"type": ["string", "null"], "maxLength": 6},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            "flag": {"type": "boolean"},
            "kind": {"const": "on"},
        },
        "required": ["status", "note", "score", "flag", "kind"],
    },
    "all_optional": {
        "type": "object",
        "properties": {
            "a": {"type": "string", "maxLength": 3},
            "b": {"type": "integer"},
            "c": {"type": "object", "properties": {"d": {"type": "boolean"}}},
        },
        "additionalProperties": False,
    },
    "root_array_of_arrays": {
        "type": "array",
        "maxItems": 3,
        "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2},
    },
    "recursive_tree": {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                },
                "required": ["v", "kids"],
            }
        },
        "$ref": "#/$defs/node",
    },
    "flow_parts": {
        "type": "object",
        "properties": {
            "meta": {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 99},
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "string", "maxLength": 3}, {"type": "integer"}],
            },
            "anything": {},
        },
        "required": ["pair", "anything"],
    },
    "pydantic_like": {
        "$defs": {
            "Item": {
                "properties": {"name": {"title": "Name", "type": "string", "maxLength": 6}},
                "required": ["name"],
                "title": "Item",
                "type": "object",
            }
        },
        "properties": {
            "items": {"items": {"$ref": "#/$defs/Item"}, "type": "array", "maxItems": 2},
            "best": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}], "default": None},
        },
        "required": ["items"],
        "type": "object",
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_random_walks_always_load_and_validate(name: str) -> None:
    spec = YamlSpec(SCHEMAS[name], max_string_length=8, max_items=3)
    grammar = spec.constraint().value
    samples = random_walk(grammar, n=25, seed=7, max_tokens=250)
    finished = [text for text, done in samples if done]
    assert len(finished) >= 10, f"too few finished samples: {samples[:3]}"
    for text in finished:
        try:
            enforce(text, spec, repair=False)
        except EnforcementError as err:  # pragma: no cover - the failure message is the point
            pytest.fail(f"grammar emitted {text!r}, which fails: {err}")


def test_random_walks_cover_optional_keys_and_nesting() -> None:
    spec = YamlSpec(SCHEMAS["all_optional"], max_string_length=3)
    texts = [t for t, done in random_walk(spec.constraint().value, n=40, seed=3) if done]
    values = [load_yaml(t) for t in texts]
    assert {} in values  # every property omitted: written as {}
    assert any(list(v) == ["a"] for v in values)
    assert any("c" in v for v in values)
    assert any("a" in v and "b" in v for v in values)
    # property order is the schema's
    for v in values:
        keys = list(v)
        assert keys == sorted(keys)


def test_multi_document_grammar() -> None:
    spec = YamlSpec(SCHEMAS["all_optional"], multi_document=True, max_items=3)
    texts = [t for t, done in random_walk(spec.constraint().value, n=25, seed=5) if done]
    assert any("---\n" in t for t in texts)
    for text in texts:
        assert isinstance(enforce(text, spec, repair=False).value, list)


def matcher_accepts(grammar: str, text: str) -> bool:
    import llguidance
    import llguidance.hf

    tok = tiny_tokenizer()
    m = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tok), grammar)
    assert not m.is_error(), m.get_error()
    ids = tok.encode(text, add_special_tokens=False)
    if m.validate_tokens(ids) != len(ids):
        return False
    for i in ids:
        assert m.consume_token(i)
    return bool(m.is_accepting())


STRING_FIELD = {"type": "object", "properties": {"s": {"type": "string", "maxLength": 10}}, "required": ["s"]}


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("s: hello you\n", True),
        ('s: "yes"\n', True),
        ('s: "123"\n', True),
        ('s: "null"\n', True),
        ("s: yes\n", False),  # a YAML 1.1 reader would see a boolean
        ("s: 123\n", False),  # an integer
        ("s: null\n", False),
        ("s: True\n", False),
        ("s: a: b\n", False),
        ("s: trailing \n", False),  # plain scalars lose trailing spaces
        ('s: "0123456789"\n', True),
        ('s: "01234567890"\n', False),  # maxLength 10
        ('s: "a\\"b\\\\c\\n"\n', True),  # escapes count as one character each
    ],
)
def test_string_scalars_that_yaml_would_retype_must_be_quoted(text: str, ok: bool) -> None:
    grammar = YamlSpec(STRING_FIELD).constraint().value
    assert matcher_accepts(grammar, text) is ok


def test_indentation_and_required_keys_are_enforced() -> None:
    grammar = YamlSpec(SCHEMAS["nested"]).constraint().value
    good = "name: Ada\naddress:\n  city: London\n  geo:\n    lat: 51.5\n    lon: -0.1\n"
    assert matcher_accepts(grammar, good)
    assert not matcher_accepts(grammar, "name: Ada\n")  # address is required
    assert not matcher_accepts(grammar, "name: Ada\naddress:\n city: London\n")  # one-space indent
    assert not matcher_accepts(grammar, "address:\n  city: London\nname: Ada\n")  # schema order


def test_constraint_is_a_lark_grammar_with_unenforced_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
            "n": {"type": "integer", "minimum": 1, "multipleOf": 2},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "one": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
    constraint = YamlSpec(schema).constraint()
    assert isinstance(constraint, Constraint)
    assert constraint.kind == "lark"
    assert constraint.value.startswith("start:")
    assert set(constraint.unenforced) == {"minimum", "multipleOf", "uniqueItems", "oneOf"}
    assert YamlSpec(schema).unenforced == constraint.unenforced
    assert YamlSpec(SCHEMAS["nested"]).unenforced == ()
    lookahead = {
        "type": "object",
        "properties": {"p": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]+$"}},
    }
    assert YamlSpec(lookahead).unenforced == ("pattern",)  # no lookaround in the grammar engine


def test_patterns_are_enforced_by_the_grammar() -> None:
    schema = {
        "type": "object",
        "properties": {
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"},  # digits: must come out quoted
            "slug": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,10}$"},
            "code": {"type": "string", "pattern": "[0-9]{3}", "maxLength": 12},  # a search, unanchored
        },
        "required": ["zip", "slug", "code"],
        "additionalProperties": False,
    }
    import llguidance

    spec = YamlSpec(schema)
    grammar = llguidance.LLMatcher.grammar_from_lark(spec.constraint().value)
    finished = [text for text, done in random_walk(grammar, n=30, max_tokens=200, seed=3) if done]
    assert len(finished) >= 10
    for text in finished:
        enforce(text, spec, repair=False)  # raises if a pattern were broken


def test_default_bounds_stop_runaway_strings_and_arrays() -> None:
    grammar, _ = yaml_grammar(
        {"type": "array", "items": {"type": "string"}}, max_string_length=4, max_items=2
    )
    assert matcher_accepts(grammar, "- abcd\n- efgh\n")
    assert not matcher_accepts(grammar, "- abcde\n")
    assert not matcher_accepts(grammar, "- a\n- b\n- c\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_render_scalar_reads_back_as_the_same_string(s: str) -> None:
    assert load_yaml("v: " + render_scalar(s) + "\n") == {"v": s}
    assert load_yaml("[" + render_scalar(s, flow=True) + "]") == [s]


@pytest.mark.parametrize("word", PLAIN_RESERVED)
def test_reserved_words_are_never_plain(word: str) -> None:
    assert not is_plain_safe(word)
    assert render_scalar(word).startswith('"')

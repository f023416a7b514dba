"""Formats: iri checked without rfc3987-syntax (no grammar built at import); the others still checked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import formbound as fb
from formbound.formats.jsonschema.formats import is_iri, is_iri_reference


def _ok(schema: dict[str, str], value: str) -> bool:
    try:
        fb.enforce(json.dumps(value), schema, repair=False)
    except fb.EnforcementError:
        return False
    return True


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("iri", "http://ƒøø.ßår/?∂éœ=πîx#πîüx", "âππ"),
        ("iri", "http://[::1]:8080/", "http://2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("iri-reference", "#ƒrägmênt", "\\\\WINDOWS\\filëßåré"),
        ("uri", "https://a.example/x?y=1", "//no scheme"),
        ("uri-reference", "../x", "\\\\WINDOWS\\x"),
        ("email", "a@b.co", "nope"),
        ("date-time", "2020-01-01T00:00:00Z", "2020-13-01T00:00:00Z"),
        ("duration", "P1D", "1D"),
        ("hostname", "a.example", "-x-"),
        ("uri-template", "http://x/{a}", "http://x/{a"),
        ("json-pointer", "/a/b", "a/b"),
    ],
)
def test_formats_are_checked(fmt: str, good: str, bad: str) -> None:
    assert _ok({"format": fmt}, good)
    assert not _ok({"format": fmt}, bad)


def test_private_use_characters_only_in_the_query() -> None:
    assert is_iri("http://a/b?q=\ue000")
    assert not is_iri("http://a/\ue000")
    assert not is_iri("http://a/b#\ue000")
    assert is_iri_reference("x?\U000f0000")
    assert not is_iri("http://a/\ufffe")  # a noncharacter is never allowed


def test_checking_a_spec_does_not_import_a_grammar_library() -> None:
    code = (
        "import sys, formbound as fb; fb.enforce('\"http://x\"', {'format': 'iri'}); "
        "print(sorted(m for m in ('rfc3987_syntax', 'lark', 'rfc3987') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

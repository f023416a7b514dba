"""``$ref``: never a fetch (network or file) without a user registry; self-contained schemas accepted."""

from __future__ import annotations

import builtins
import io
import json
import os
import socket
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

import formbound as fb
from formbound.errors import SpecWarning
from formbound.formats.jsonschema import ref_target, resolve_local

CASES = Path(__file__).parent / "fixtures" / "jsonschema" / "refs.json"


def _forbid(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every network and file access fail the test (and record it)."""
    calls: list[str] = []

    def refuse(name: str) -> Any:
        def fn(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name}{args[:1]!r}")
            raise AssertionError(f"{name} called with {args[:1]!r}")

        return fn

    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    monkeypatch.setattr(builtins, "open", refuse("open"))
    monkeypatch.setattr(io, "open", refuse("io.open"))
    monkeypatch.setattr(os, "open", refuse("os.open"))
    monkeypatch.setattr(Path, "read_text", refuse("Path.read_text"))
    monkeypatch.setattr(Path, "read_bytes", refuse("Path.read_bytes"))
    return calls


def _ok(spec: Any, data: Any) -> bool:
    try:
        fb.enforce(json.dumps(data), spec, repair=False)
    except fb.EnforcementError:
        return False
    return True


@pytest.fixture(scope="module")
def cases() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CASES.read_text(encoding="utf-8"))
    # warm up lazy imports (they read files legitimately) before file access is forbidden
    fb.enforce('"aa"', {"pattern": "a", "uniqueItems": True, "multipleOf": 2})
    return data


def test_remote_refs_are_refused_without_any_access(
    cases: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _forbid(monkeypatch)
    for case in cases["refused"]:
        with pytest.raises(fb.SpecError, match="never fetches") as info:
            fb.Spec.json(case["schema"])
        assert case["uri"] in str(info.value), case["description"]
    assert calls == []


def test_self_contained_schemas_are_accepted_offline(
    cases: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _forbid(monkeypatch)
    for case in cases["accepted"]:
        spec = fb.Spec.json(case["schema"])
        for test in case["tests"]:
            valid = _ok(spec, test["data"])
            assert valid is test["valid"], f"{case['description']}: {test['data']!r}"
    assert calls == []


def test_accepted_cases_agree_with_jsonschema(cases: dict[str, Any]) -> None:
    import jsonschema

    for case in cases["accepted"]:
        validator = jsonschema.Draft202012Validator(case["schema"])
        for test in case["tests"]:
            assert validator.is_valid(test["data"]) is test["valid"], case["description"]


def test_user_registry_makes_an_external_ref_reachable() -> None:
    from referencing import Registry, Resource

    external = Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "integer"}
    )
    registry: Any = Registry().with_resource("https://example.com/int.json", external)
    schema = {"properties": {"n": {"$ref": "https://example.com/int.json"}}}
    with pytest.raises(fb.SpecError, match="never fetches"):
        fb.Spec.json(schema)
    spec = fb.Spec.json(schema, registry=registry)
    assert fb.enforce('{"n": 3}', spec).value == {"n": 3}
    assert not _ok(spec, {"n": "x"})


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("#/$defs/a", {"type": "integer"}),
        ("#/$defs/b%25c", {"type": "string"}),
        ("#/$defs/d~1e", {"type": "null"}),
        ("#here", {"$anchor": "here", "type": "boolean"}),
        ("inner.json", {"$id": "inner.json", "type": "number"}),
        ("https://example.com/inner.json#/type", "number"),
        ("https://elsewhere.example/x.json", None),
        ("#/$defs/missing", None),
    ],
)
def test_ref_target_resolves_inside_the_document_only(ref: str, expected: Any) -> None:
    root = {
        "$id": "https://example.com/root.json",
        "$defs": {
            "a": {"type": "integer"},
            "b%c": {"type": "string"},
            "d/e": {"type": "null"},
            "f": {"$anchor": "here", "type": "boolean"},
            "g": {"$id": "inner.json", "type": "number"},
        },
    }
    assert ref_target(root, ref) == expected


def test_resolve_local_keeps_siblings_and_stops_on_cycles() -> None:
    root = {"$defs": {"a": {"$ref": "#/$defs/a"}, "n": {"type": "integer"}}}
    assert resolve_local({"$ref": "#/$defs/n", "description": "d"}, root) == {
        "type": "integer",
        "description": "d",
    }
    assert isinstance(resolve_local({"$ref": "#/$defs/a"}, root), dict)  # bounded, no hang
    wrapped = {"allOf": [{"$ref": "#/$defs/n"}], "description": "d"}
    assert resolve_local(wrapped, root, inline_single_allof=True) == {"type": "integer", "description": "d"}
    assert resolve_local(wrapped, root) == wrapped


SUITE = os.environ.get("FORMBOUND_JSON_SCHEMA_TEST_SUITE")


@pytest.mark.skipif(
    not SUITE,
    reason="set FORMBOUND_JSON_SCHEMA_TEST_SUITE to a JSON-Schema-Test-Suite checkout to run it "
    "(it is not on PyPI; the npm package json-schema-test-suite 0.0.10 holds only draft3/draft4)",
)
def test_agrees_with_jsonschema_on_the_offline_draft2020_12_suite() -> None:
    import jsonschema
    import referencing.exceptions

    from formbound.formats.jsonschema import refusing_registry

    folder = Path(str(SUITE)) / "tests" / "draft2020-12"
    disagreements: list[str] = []
    checked = 0
    for path in sorted(folder.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            reference = jsonschema.Draft202012Validator(case["schema"], registry=refusing_registry())
            try:
                expected = [reference.is_valid(t["data"]) for t in case["tests"]]
            except referencing.exceptions.Unresolvable:
                continue  # needs a remote: not an offline case
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SpecWarning)  # the suite tests unknown keywords
                    spec = fb.Spec.json(case["schema"])
            except fb.SpecError as exc:
                if "never fetches" in str(exc) and "localhost:1234" in str(exc):
                    continue  # the suite's remote server: jsonschema just did not reach that $ref
                disagreements.append(f"{path.name}: {case['description']}: refused: {exc}")
                continue
            for test, want in zip(case["tests"], expected, strict=True):
                checked += 1
                got = _ok(spec, test["data"])
                if got is not want:
                    disagreements.append(f"{path.name}: {case['description']}: {test['description']}")
    assert checked > 1000
    assert disagreements == []

"""`formbound check`: output, exit codes 0/1/2 (3: tests/test_cli.py), --json, every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from formbound.cli import main

SCHEMA = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    p = tmp_path / "schema.json"
    p.write_text(json.dumps(SCHEMA))
    return p


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_valid_prints_canonical_value(schema_file: Path) -> None:
    code, out, err = run("check", "--spec", str(schema_file), input='{ "count" : 3 }')
    assert code == 0
    assert out.strip() == '{"count": 3}'
    assert err == ""


def test_repaired_value_names_repairs(schema_file: Path) -> None:
    code, out, err = run("check", "--spec", str(schema_file), input="```json\n{'count': 3,}\n```")
    assert code == 0
    assert out.strip() == '{"count": 3}'
    assert "strip_fence, single_quotes, trailing_comma" in err


def test_no_repair_flag(schema_file: Path) -> None:
    code, _, err = run("check", "--spec", str(schema_file), "--no-repair", input="{'count': 3}")
    assert code == 1
    assert "invalid (syntax)" in err


def test_invalid_human_readable(schema_file: Path, tmp_path: Path) -> None:
    f = tmp_path / "out.txt"
    f.write_text('{"count": "three"}')
    code, out, err = run("check", "--spec", str(schema_file), str(f))
    assert code == 1
    assert out == ""
    assert "invalid (schema)" in err and "at /count: 'three' is not of type 'integer'" in err


def test_invalid_json_output(schema_file: Path) -> None:
    code, out, _ = run("check", "--spec", str(schema_file), "--json", input='{"m": 1}')
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False and data["stage"] == "schema"
    assert data["errors"][0]["kind"] == "required"


def test_valid_json_output(schema_file: Path) -> None:
    code, out, _ = run("check", "--spec", str(schema_file), "--json", input='{"count": 1,}')
    assert code == 0
    assert json.loads(out) == {"valid": True, "text": '{"count": 1}', "repairs": ["trailing_comma"]}


def test_invalid_utf8_input(schema_file: Path) -> None:
    code, _, err = run("check", "--spec", str(schema_file), input=b'{"count": "\xff"}')
    assert code == 1
    assert "not valid UTF-8" in err


@pytest.mark.parametrize(
    "args",
    [
        ["check"],  # --spec missing
        ["check", "--spec", "/no/such/spec.json"],
        ["check", "--spec", "SCHEMA", "--format", "xml"],
    ],
)
def test_usage_errors_exit_2(args: list[str], schema_file: Path) -> None:
    args = [str(schema_file) if a == "SCHEMA" else a for a in args]
    code, _, _ = run(*args, input="{}")
    assert code == 2


def test_broken_schema_is_usage_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"type": "strnig"}')
    code, _, err = run("check", "--spec", str(p), input="{}")
    assert code == 2
    assert "invalid JSON Schema" in err


def test_yaml_format(schema_file: Path) -> None:
    code, out, _ = run("check", "--spec", str(schema_file), "--format", "yaml", input="count: 4\n")
    assert code == 0
    assert out.strip() == "count: 4"
    code, _, err = run("check", "--spec", str(schema_file), "--format", "yaml", input="count: four\n")
    assert code == 1 and "/count" in err


def test_sql_format(tmp_path: Path) -> None:
    ddl = tmp_path / "schema.sql"
    ddl.write_text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")
    code, out, _ = run("check", "--spec", str(ddl), "--format", "sql", input="SELECT name FROM users")
    assert code == 0
    assert "SELECT name FROM users" in out
    code, _, err = run("check", "--spec", str(ddl), "--format", "sql", input="DROP TABLE users")
    assert code == 1 and "invalid (policy)" in err
    code, _, err = run("check", "--spec", str(ddl), "--format", "sql", input="SELECT nme FROM users")
    assert code == 1 and "did you mean 'name'" in err


def test_spec_json_description(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "spec.json").write_text(json.dumps({"format": "yaml", "schema": "schema.json"}))
    code, out, _ = run("check", "--spec", str(tmp_path / "spec.json"), input="count: 2")
    assert code == 0 and out.strip() == "count: 2"


def test_model_options_route_to_the_right_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from formbound import ConfigError
    from formbound.cli import _model_options

    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr("formbound.models.load", lambda name, **kw: calls.append((name, kw)) or name)
    monkeypatch.setenv("MY_KEY", "sk-test")
    _model_options.load_model("openai:m", "http://127.0.0.1:1/v1", "MY_KEY", None)
    _model_options.load_model("default", None, "MY_KEY", "outlines_core")
    assert calls == [
        ("openai:m", {"base_url": "http://127.0.0.1:1/v1", "api_key": "sk-test", "lazy": True}),
        ("default", {"backend": "outlines_core", "lazy": True}),
    ]
    with pytest.raises(ConfigError, match="--base-url applies to openai"):
        _model_options.load_model("default", "http://x", "MY_KEY", None)
    with pytest.raises(ConfigError, match="--backend applies to in-process"):
        _model_options.load_model("openai:m", None, "MY_KEY", "llguidance")


def test_eval_and_escalate_accept_model_options() -> None:
    for cmd in ("eval", "escalate"):
        code, out, _ = run(cmd, "--help")
        assert code == 0 and "--base-url" in out and "--api-key-env" in out and "--backend" in out

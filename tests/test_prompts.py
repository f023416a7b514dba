"""Prompt templates: format instructions, schema shape, few-shot turns, re-asks."""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar

import pytest

from formbound import Spec
from formbound.errors import ConfigError, EnforcementError, Issue
from formbound.prompts import build_messages, reask_messages, render_template

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
}


class _SqlLikeSpec:
    """Just what the prompt builder reads from a spec (format, dialect, render_schema)."""

    format: ClassVar[str] = "sql"
    dialect = "sqlite"

    def render_schema(self) -> str:
        return "customers(id INTEGER, name TEXT)"


def test_templates_ship_as_package_data() -> None:
    names = {p.name for p in resources.files("formbound.prompts").iterdir()}
    assert {"raw.j2", "system.j2", "reask.j2"} <= names


def test_raw_style_is_the_input_and_one_request() -> None:
    spec = Spec.json(SCHEMA)
    assert build_messages(spec, "Ada, 36", style="raw") == [
        {"role": "user", "content": "Ada, 36\n\nAnswer in JSON only."}
    ]
    (msg,) = build_messages(spec, "Ada, 36", style="raw", instruction="Extract the person as JSON.")
    assert msg["content"] == "Ada, 36\n\nExtract the person as JSON."


def test_prompted_style_has_instructions_shape_examples_then_input() -> None:
    spec = Spec.json(SCHEMA)
    examples = [("Bob, 3", '{"name": "Bob", "age": 3}'), ("Eve", '{"name": "Eve"}')]
    msgs = build_messages(spec, "Ada Lovelace, 36", instruction="Extract the person.", examples=examples)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = msgs[0]["content"]
    assert system.startswith("Extract the person.\n")
    assert "one JSON value only" in system
    assert spec.render_schema() in system  # the compact shape, not a raw dump
    assert '"$schema"' not in system and '"properties"' not in system
    assert [m["content"] for m in msgs[1:5]] == ["Bob, 3", examples[0][1], "Eve", examples[1][1]]
    assert msgs[-1] == {"role": "user", "content": "Ada Lovelace, 36"}


def test_prompted_without_instruction_or_examples() -> None:
    msgs = build_messages(Spec.json(SCHEMA), "text")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"].startswith("Reply with one JSON value only")


def test_sql_prompt_names_the_dialect_and_the_tables() -> None:
    spec: Any = _SqlLikeSpec()
    system = build_messages(spec, "How many customers?")[0]["content"]
    assert "one SQL query only in the sqlite dialect" in system
    assert "Database schema:\ncustomers(id INTEGER, name TEXT)" in system
    assert build_messages(spec, "q", style="raw")[0]["content"].endswith("Answer in SQL only.")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"style": "fancy"}, "unknown prompt style 'fancy'"),
        ({"examples": [("only input",)]}, "an \\(input, output\\) pair"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_messages(Spec.json(SCHEMA), "x", **kwargs)


def test_reask_appends_the_answer_and_the_validator_errors() -> None:
    messages = build_messages(Spec.json(SCHEMA), "Ada")
    err = EnforcementError(
        "schema",
        [Issue("'name' is a required property", path=""), Issue("-1 is less than 0", path="/age")],
        '{"age": -1}',
    )
    out = reask_messages(messages, '{"age": -1}', err, format="json")
    assert out[: len(messages)] == messages and messages[-1]["role"] == "user"  # input not modified
    assert out[-2] == {"role": "assistant", "content": '{"age": -1}'}
    assert out[-1]["role"] == "user"
    assert out[-1]["content"] == (
        "Your previous answer was rejected (schema error):\n"
        "- at /: 'name' is a required property\n"
        "- at /age: -1 is less than 0\n"
        "Answer again with the corrected JSON only."
    )


def test_reask_lists_at_most_eight_issues() -> None:
    err = EnforcementError("schema", [Issue(f"problem {i}", path=f"/{i}") for i in range(11)], "{}")
    content = reask_messages([], "{}", err)[-1]["content"]
    assert content.count("\n- at /") == 8
    assert "- … 3 more" in content
    assert content.endswith("corrected output only.")


def test_reask_needs_an_enforcement_error() -> None:
    with pytest.raises(ConfigError, match="needs an EnforcementError"):
        reask_messages([], "x", ValueError("nope"))  # type: ignore[arg-type]


def test_render_template_rejects_missing_variables() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_template("raw.j2", task_input="x")

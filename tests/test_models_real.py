"""The embedded default model (SmolLM2-135M-Instruct): special tokens, and constrained JSON extraction."""

from __future__ import annotations

from typing import Any

import pytest

from formbound import Spec
from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.prompts import build_messages

pytestmark = pytest.mark.real_model

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "city": {"type": "string", "maxLength": 30},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
EVENT = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "day": {"enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
        "attendees": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
    },
    "required": ["title", "day", "attendees"],
    "additionalProperties": False,
}
TASKS: list[tuple[dict[str, Any], str]] = [
    (PERSON, "Ada Lovelace, 36 years old, lives in London."),
    (PERSON, "Meet Carlos (age 52), a baker from Lisbon."),
    (PERSON, "Yuki is 29 and moved to Osaka last year."),
    (PERSON, "From Nairobi: Amina, aged 41."),
    (PERSON, "The 8-year-old Tom lives in Dublin."),
    (EVENT, "Team standup on Monday with Ana and Raj."),
    (EVENT, "Friday: budget review, attendees Lee, Kim and Sam."),
    (EVENT, "Book club meets Sunday; Mia and Noah will come."),
    (EVENT, "Wednesday lunch with Priya."),
    (EVENT, "Saturday hackathon, Omar, Lina, Jo, Max attending."),
]


def test_end_of_turn_is_eos_and_pad(default_model: Any) -> None:
    tok = default_model.tokenizer
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    assert tok.eos_token_id == tok.pad_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    (g,) = default_model.generate([[{"role": "user", "content": "Say only: hi"}]], max_new_tokens=24)
    assert g.finish_reason == "stop"  # the model's <|im_end|> ends generation
    assert "<|im" not in g.text


def test_constrained_json_extraction_is_valid_or_reports_length(default_model: Any) -> None:
    messages = [
        build_messages(Spec.json(schema), text, instruction="Extract the fields from the text.")
        for schema, text in TASKS
    ]
    constraints = {id(schema): Spec.json(schema).constraint() for schema, _ in TASKS}
    outcomes: list[str] = []
    for schema in (PERSON, EVENT):
        idx = [i for i, (s, _) in enumerate(TASKS) if s is schema]
        gens = default_model.generate(
            [messages[i] for i in idx], constraint=constraints[id(schema)], max_new_tokens=64
        )
        for g in gens:
            assert g.route == "llguidance"
            if g.finish_reason == "length":
                outcomes.append("length")
                continue
            try:
                enforce(g.text, schema, repair=False)
            except EnforcementError as err:  # pragma: no cover - the failure message is the point
                pytest.fail(f"constrained output failed validation: {g.text!r}: {err}")
            outcomes.append("valid")
    assert len(outcomes) == len(TASKS) >= 10
    assert outcomes.count("valid") >= 5, outcomes  # the constraint must actually produce data

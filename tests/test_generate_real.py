"""The README's Quick start, run on the embedded default model: a typed pydantic value in one call."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.real_model


def test_quick_start_returns_a_person(default_model: Any) -> None:
    from pydantic import BaseModel

    from formbound import Generator

    class Person(BaseModel):
        name: str
        age: int

    # the README's lines, with the session's already-loaded models.load("default")
    gen = Generator(default_model, Person, strategy="constrained")
    result = gen("Grace Hopper, 85, computer scientist.")
    person = result.value
    assert isinstance(person, Person)
    assert person.name == "Grace Hopper" and person.age == 85  # README output, copied from a real run
    assert result.generations[result.chosen].finish_reason == "stop"

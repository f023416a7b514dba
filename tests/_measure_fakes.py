"""A scripted fake model and a tiny task set for the measure tests (no real model)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound.models.base import Generation, Model

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Person",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Full name."},
        "age": {"type": "integer", "description": "Age in years."},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}

TASKS = [
    {"id": "p-01", "input": "Ann is 30.", "gold": {"name": "Ann", "age": 30}, "split": "train"},
    {"id": "p-02", "input": "Ben is 41.", "gold": {"name": "Ben", "age": 41}, "split": "train"},
    {"id": "p-03", "input": "Cat is 25.", "gold": {"name": "Cat", "age": 25}, "split": "train"},
    {"id": "p-04", "input": "Ada is 36.", "gold": {"name": "Ada", "age": 36}, "split": "test"},
    {"id": "p-05", "input": "Bob is 41.", "gold": {"name": "Bob", "age": 41}, "split": "test"},
    {"id": "p-06", "input": "Cy is 19.", "gold": {"name": "Cy", "age": 19}, "split": "test"},
    {"id": "p-07", "input": "Dee is 52.", "gold": {"name": "Dee", "age": 52}, "split": "test"},
]

#: What the fake model answers on a first attempt, by input: (text, finish_reason).
FIRST: dict[str, tuple[str, str]] = {
    "Ada is 36.": ('{"name": "Ada", "age": 36}', "stop"),  # valid, right
    "Bob is 41.": ('```json\n{"name": "Bob", "age": 41}\n```', "stop"),  # fenced: repairs fix it
    "Cy is 19.": ('{"name": "Cy", "nickname": "Cyyyyyyyyyyyyyyyyyyy', "length"),  # runaway, cut off
    "Dee is 52.": ('{"name": "Dee", "age": 25}', "stop"),  # valid, wrong age (25 is not in the input)
}
#: What it answers to a re-ask.
REASK = '{"name": "Cy", "age": 19}'
#: What it answers under a constraint.
CONSTRAINED = {"Cy is 19.": ('{"name": "Cy", "age": 19}', "stop")}


def write_task_set(folder: Path, tasks: Sequence[dict[str, Any]] = TASKS, **task_opts: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    opts = {"instruction": "Extract the person as JSON.", "max_new_tokens": 32, **task_opts}
    spec = {"format": "json", "schema": "schema.json", "task": opts}
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    return folder


class FakeModel(Model):
    """Answers from the tables above; counts calls; can be told to fail after some calls."""

    name = "fake"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_after = fail_after
        self.adapters: list[str | None] = []

    def set_adapter(self, path: str | None) -> None:
        self.adapters.append(path)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "source": "test"}

    def generate(
        self,
        prompts: Sequence[Any],
        *,
        constraint: Any = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(
            {
                "prompts": list(prompts),
                "constraint": constraint,
                "max_new_tokens": max_new_tokens,
                "seed": seed,
            }
        )
        out = []
        for messages in prompts:
            last = messages[-1]["content"]
            if last.startswith("Your previous answer was rejected"):
                text, finish = REASK, "stop"
            else:
                task = next(t for t in TASKS if t["input"] in last)
                task_input = task["input"]
                text, finish = FIRST.get(task_input, (json.dumps(task["gold"]), "stop"))
                if constraint is not None:
                    text, finish = CONSTRAINED.get(task_input, (text.strip("`json\n"), "stop"))
            out.append(Generation(text, 10, 4 if finish == "stop" else max_new_tokens, 0.5, finish))  # type: ignore[arg-type]
        return out

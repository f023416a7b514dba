"""The JSON format: strict parsing with positions, JSON Schema / pydantic validation, named repairs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from formbound.constraints import Constraint
from formbound.errors import SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.json.parse import strict_parse
from formbound.formats.json.repair import json_candidates
from formbound.formats.schema import SchemaValidator, grammar_schema

__all__ = ["JsonSpec"]

#: Repairs are attempted on texts up to this size; longer invalid texts are reported, not rewritten.
MAX_REPAIR_CHARS = 1_000_000


class JsonSpec(Spec):
    """A JSON value matching a JSON Schema (or a pydantic model).

    Args:
        schema: JSON Schema dict, path to a ``.json`` schema file, or a pydantic model class. ``None``
            or ``{}`` accepts any JSON value.
        max_string_length, max_items: bounds added to the decoding grammar where the schema has none.
    """

    format = "json"
    stages = ("syntax", "schema")

    def __init__(
        self, schema: Any = None, *, max_string_length: int | None = 256, max_items: int | None = 32
    ) -> None:
        self.validator = SchemaValidator({} if schema is None else schema)
        self.max_string_length = max_string_length
        self.max_items = max_items
        self._constraint: Constraint | None = None

    @property
    def schema(self) -> dict[str, Any] | bool:
        """The JSON Schema (generated from the model for a pydantic spec)."""
        return self.validator.schema

    @property
    def model(self) -> type | None:
        return self.validator.model

    @classmethod
    def from_description(cls, data: dict[str, Any], base_dir: Path) -> JsonSpec:
        schema = data.get("schema", {})
        if isinstance(schema, str):
            schema = base_dir / schema
        unknown = set(data) - {"schema", "max_string_length", "max_items"}
        if unknown:
            raise SpecError(f"unknown option(s) for a json spec: {', '.join(sorted(unknown))}")
        opts = {k: data[k] for k in ("max_string_length", "max_items") if k in data}
        return cls(schema, **opts)

    # ------------------------------------------------------------------ checking
    def parse(self, text: str) -> Any:
        return strict_parse(text)

    def validate(self, value: Any, text: str) -> Any:
        return self.validator.validate(value, text)

    def candidates(self, text: str) -> Iterator[Candidate]:
        if len(text) > MAX_REPAIR_CHARS:
            return
        for value, repairs in json_candidates(text):
            if not repairs:
                continue  # identical to the strict reading, already judged
            yield Candidate(json.dumps(value, ensure_ascii=False), repairs, parsed=value)

    def dump(self, value: Any) -> str:
        return json.dumps(self.validator.to_python(value), ensure_ascii=False)

    # ------------------------------------------------------------------ decoding
    def constraint(self) -> Constraint:
        if self._constraint is None:
            bounded, unenforced = grammar_schema(
                self.schema, max_string_length=self.max_string_length, max_items=self.max_items
            )
            self._constraint = Constraint("json_schema", bounded, unenforced=unenforced)
        return self._constraint

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": "json", "schema": self.schema}
        if self.max_string_length != 256:
            d["max_string_length"] = self.max_string_length
        if self.max_items != 32:
            d["max_items"] = self.max_items
        return d

    def render_schema(self) -> str:
        from formbound.formats.schema_render import render_shape

        return render_shape(self.schema)

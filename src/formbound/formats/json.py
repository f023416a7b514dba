"""The JSON format: strict parsing with positions, JSON Schema / pydantic validation, named repairs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from formbound.constraints import Constraint
from formbound.constraints.bounds import grammar_schema
from formbound.errors import EnforcementError, Issue, SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.json_repair import json_candidates
from formbound.formats.schema import SchemaValidator

__all__ = ["JsonSpec"]

#: Repairs are attempted on texts up to this size; longer invalid texts are reported, not rewritten.
MAX_REPAIR_CHARS = 1_000_000
_NO_EQUIVALENT = re.compile(r"-?(NaN|Infinity|undefined|nan|inf)\b")


class _DuplicateKey(ValueError):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(dup)
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} has no JSON equivalent")


#: Built once: ``json.loads`` with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_no_constant)


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
        try:
            value = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            msg = exc.msg
            m = _NO_EQUIVALENT.match(text, exc.pos)
            if m:
                msg = f"{m.group(1)} has no JSON equivalent; give a value or null"
            raise EnforcementError(
                "syntax", [Issue(msg, kind="json_syntax", line=exc.lineno, column=exc.colno)], text
            ) from None
        except _DuplicateKey as exc:
            raise EnforcementError(
                "syntax", [Issue(f"duplicate key {exc.args[0]!r}", kind="duplicate_key")], text
            ) from None
        except ValueError as exc:  # parse_constant
            raise EnforcementError("syntax", [Issue(str(exc), kind="no_json_equivalent")], text) from None
        except RecursionError:
            raise EnforcementError(
                "syntax", [Issue("nesting deeper than the parser allows", kind="too_deep")], text
            ) from None
        return value

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

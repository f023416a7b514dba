"""The JSON format: strict parsing with positions, JSON Schema / pydantic validation, named repairs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from formbound.constraints import Constraint
from formbound.constraints.bounds import grammar_schema
from formbound.errors import EnforcementError, Issue, SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.json.parse import strict_parse, surrogate_issue
from formbound.formats.json.pydantic_spec import dump_model, dump_typed, validate_adapted, validate_model
from formbound.formats.json.scan import ScanFailed, json_candidates
from formbound.formats.jsonschema import SchemaValidator

__all__ = ["JsonSpec"]

#: Repairs are attempted on texts up to this size; longer invalid texts are refused with a clear error
#: (the repairing reader is pure Python: this bound keeps a failed repair well under a second).
MAX_REPAIR_CHARS = 100_000


class JsonSpec(Spec):
    """A JSON value matching a JSON Schema (or a pydantic model).

    Args:
        schema: JSON Schema dict, path to a ``.json`` schema file, a pydantic model class, or any type
            pydantic validates through a ``TypeAdapter`` (``list[Person]``, ``Person | None``, a
            dataclass, a ``TypedDict``, ``Literal[...]``, ``dict[str, int]``; the value comes back as that
            type). ``None`` or ``{}`` accepts any JSON value.
        strict: For a pydantic model: refuse values that pydantic would convert (``"36"`` for an int,
            ``"yes"`` for a bool) or keys it would drop. By default (``False``) such values are accepted
            and each change is reported as the repair ``coerce`` in ``Result.repairs``.
        max_string_length, max_items: fixed bounds added to the decoding grammar where the schema has none
            (default none: a fixed string bound rejects valid long strings; arrays are bounded per
            generation from the token budget, and forced completion closes a value near the limit).
        registry: a :class:`referencing.Registry` with the schemas ``$ref`` may reach outside this one;
            by default nothing outside it (and the bundled draft metaschemas) is reachable or fetched.
    """

    format = "json"
    stages = ("syntax", "schema")

    def __init__(
        self,
        schema: Any = None,
        *,
        strict: bool = False,
        max_string_length: int | None = None,
        max_items: int | None = None,
        registry: Any = None,
    ) -> None:
        self.validator = SchemaValidator({} if schema is None else schema, registry=registry)
        self.strict = bool(strict)
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
        unknown = set(data) - {"schema", "strict", "max_string_length", "max_items"}
        if unknown:
            raise SpecError(f"unknown option(s) for a json spec: {', '.join(sorted(unknown))}")
        opts = {k: data[k] for k in ("strict", "max_string_length", "max_items") if k in data}
        return cls(schema, **opts)

    # ------------------------------------------------------------------ checking
    def parse(self, text: str) -> Any:
        return strict_parse(text)

    def validate(self, value: Any, text: str) -> Any:
        return self._validate(value, text)[0]

    def _validate(self, value: Any, text: str) -> tuple[Any, bool]:
        """The validated value and whether validation changed the data (pydantic coercion)."""
        if self.model is not None:
            return validate_model(self.model, value, text, strict=self.strict, lax=self.validator.validate)
        if self.validator.adapter is not None:
            return validate_adapted(
                self.validator.adapter, value, text, strict=self.strict, lax=self.validator.validate
            )
        try:
            return self.validator.validate(value, text), False
        except (OverflowError, ValueError, TypeError) as exc:  # e.g. multipleOf on a huge integer
            if isinstance(exc, EnforcementError):
                raise
            raise EnforcementError(
                "schema",
                [Issue(f"the value cannot be checked against the schema: {exc}", kind="unverifiable")],
                text,
            ) from exc

    def validate_with_repairs(self, value: Any, text: str) -> tuple[Any, tuple[str, ...]]:
        checked, changed = self._validate(value, text)
        return checked, ("coerce",) if changed else ()

    def candidates(self, text: str) -> Iterator[Candidate]:
        if surrogate_issue(text) is not None:
            return
        if len(text) > MAX_REPAIR_CHARS:
            raise EnforcementError(
                "syntax",
                [
                    Issue(
                        f"text is {len(text):,} characters and not valid JSON; repairs are tried only up to "
                        f"{MAX_REPAIR_CHARS:,} characters: send valid JSON or a shorter text",
                        kind="too_large_to_repair",
                    )
                ],
                text[:1000],
            )
        try:
            found = json_candidates(text)
        except ScanFailed:
            return  # structure that is not one readable value: the strict error stands
        if len(found) > 1:
            fits = [f for f in found if self._fits(f.value)]
            if len(fits) != 1:
                shown = "; ".join(json.dumps(f.value, ensure_ascii=False)[:60] for f in found[:5])
                raise EnforcementError(
                    "syntax",
                    [
                        Issue(
                            f"{len(found)} JSON values found ({shown}) and {len(fits)} of them match the "
                            "schema: give exactly one value",
                            kind="multiple_values",
                        )
                    ],
                    text[:1000],
                )
            found = fits
        for f in found:
            if not f.repairs:
                continue  # identical to the strict reading, already judged
            yield Candidate(json.dumps(f.value, ensure_ascii=False), f.repairs, parsed=f.value)

    def _fits(self, value: Any) -> bool:
        try:
            self.validate(value, "")
        except EnforcementError:
            return False
        return True

    def dump(self, value: Any) -> str:
        if self.model is not None and isinstance(value, self.model):
            return json.dumps(dump_model(value), ensure_ascii=False)
        if self.validator.adapter is not None:
            return json.dumps(dump_typed(value), ensure_ascii=False)
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
        if self.strict:
            d["strict"] = True
        if self.max_string_length is not None:
            d["max_string_length"] = self.max_string_length
        if self.max_items is not None:
            d["max_items"] = self.max_items
        return d

    def render_schema(self) -> str:
        from formbound.formats.jsonschema.render import render_shape

        return render_shape(self.schema)

"""The YAML spec: a document (or stream) that must load safely and match a JSON Schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from formbound.constraints import Constraint
from formbound.errors import EnforcementError, Issue, SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.jsonschema import SchemaValidator
from formbound.formats.yaml import repair
from formbound.formats.yaml.dump import dump_block, shape, top_keys
from formbound.formats.yaml.grammar import yaml_grammar
from formbound.formats.yaml.load import MAX_CHARS, MAX_DEPTH, MAX_NODES, check_json_data, load_yaml

__all__ = ["YamlSpec"]

_DEFAULTS: dict[str, Any] = {
    "multi_document": False,
    "max_chars": MAX_CHARS,
    "max_nodes": MAX_NODES,
    "max_depth": MAX_DEPTH,
    "max_string_length": 256,
    "max_items": 32,
}
#: Repairs stop once the candidates tried add up to this many times ``max_chars`` (each is parsed).
_REPAIR_BUDGET = 1
#: More blocks than this in one text are refused without validating each (that would be a parse each).
_MAX_BLOCKS = 16
#: A document marker line: the text may be a stream of several documents.
_MARKER_LINE = re.compile(r"^---(?:[ \t]|$)", re.M)


def _preview(body: str) -> str:
    text = " ".join(body.split())
    return repr(text if len(text) <= 40 else text[:39] + "…")


class YamlSpec(Spec):
    """A YAML document (or stream) that must load safely and match a JSON Schema.

    Args:
        schema: A JSON Schema dict, a path to a ``.json`` schema file, a pydantic model class, or ``None``
            (any YAML value).
        multi_document: Accept a stream of ``---``-separated documents; the value is then the list of
            documents, each validated against ``schema``.
        max_chars: Longest text parsed; longer texts are refused at once, before any repair. Pure-Python
            YAML parsing reads only about 5-20 KB/s of token-dense YAML (``- 1`` lines, flow lists), so
            the default of 10,000 keeps a call (one parse, then at most as much again for repairs) near
            a second (measured: a 10,000-character flow list of numbers takes 0.63 s of CPU, unclosed
            and after a prose line, so parsed twice, 1.05 s; cost is linear in the length, so the cap
            cannot go higher without a faster parser); raise it for longer documents. Strict JSON is
            read by the C parser.
        max_nodes: Most values in a document once aliases are expanded.
        max_depth: Deepest nesting accepted.
        max_string_length: Longest string the decoding grammar allows where the schema sets no ``maxLength``.
        max_items: Most array items (and documents) the grammar allows where the schema sets no ``maxItems``.

    Raises:
        SpecError: the schema is broken or an option is out of range.

    >>> spec = YamlSpec({"type": "object", "properties": {"country": {"type": "string"}}})
    >>> spec.check("country: no")
    {'country': 'no'}
    """

    format: ClassVar[str] = "yaml"

    def __init__(
        self,
        schema: Any = None,
        *,
        multi_document: bool = False,
        max_chars: int = _DEFAULTS["max_chars"],
        max_nodes: int = _DEFAULTS["max_nodes"],
        max_depth: int = _DEFAULTS["max_depth"],
        max_string_length: int = _DEFAULTS["max_string_length"],
        max_items: int = _DEFAULTS["max_items"],
    ) -> None:
        self._validator = SchemaValidator({} if schema is None else schema)
        if not isinstance(multi_document, bool):
            raise SpecError(f"multi_document must be True or False, got {multi_document!r}")
        self.multi_document = multi_document
        for name, val in (
            ("max_chars", max_chars),
            ("max_nodes", max_nodes),
            ("max_depth", max_depth),
            ("max_string_length", max_string_length),
            ("max_items", max_items),
        ):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise SpecError(f"{name} must be a positive integer, got {val!r}")
        self.max_chars = max_chars
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.max_string_length = max_string_length
        self.max_items = max_items
        self._constraint: Constraint | None = None

    @property
    def schema(self) -> dict[str, Any] | bool:
        """The JSON Schema (derived from the model for a pydantic spec)."""
        return self._validator.schema

    @property
    def model(self) -> type | None:
        """The pydantic model class, or None."""
        return self._validator.model

    # ------------------------------------------------------------------ description
    @classmethod
    def from_description(cls, data: dict[str, Any], base_dir: Path) -> YamlSpec:
        """Build from ``{"schema": {...} | "schema.json", **options}`` (paths relative to ``base_dir``)."""
        data = dict(data)
        schema = data.pop("schema", None)
        if isinstance(schema, str):
            path = Path(schema)
            schema = path if path.is_absolute() else Path(base_dir) / path
        unknown = sorted(set(data) - set(_DEFAULTS))
        if unknown:
            from formbound._util import suggest

            hint = suggest(unknown[0], list(_DEFAULTS))
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise SpecError(f"unknown YAML spec option {unknown[0]!r} (known: {', '.join(_DEFAULTS)}){extra}")
        return cls(schema, **data)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": "yaml", "schema": self.schema}
        for name, default in _DEFAULTS.items():
            if getattr(self, name) != default:
                out[name] = getattr(self, name)
        return out

    # ------------------------------------------------------------------ checking
    def parse(self, text: str) -> Any:
        return load_yaml(
            text,
            multi_document=self.multi_document,
            max_chars=self.max_chars,
            max_nodes=self.max_nodes,
            max_depth=self.max_depth,
        )

    def validate(self, value: Any, text: str) -> Any:
        if not self.multi_document:
            return self._validator.validate(value, text)
        if not isinstance(value, list):
            raise EnforcementError("schema", [Issue("expected a list of documents", path="")], text)
        out: list[Any] = []
        issues: list[Issue] = []
        for i, doc in enumerate(value):
            try:
                out.append(self._validator.validate(doc, text))
            except EnforcementError as err:
                issues += [replace(e, path=f"/{i}{e.path or ''}") for e in err.errors]
        if issues:
            raise EnforcementError("schema", issues, text)
        return out

    def candidates(self, text: str) -> Iterator[Candidate]:
        """Repaired texts: the one matching document of several, then :data:`REPAIRS` (single first).

        Several ``---`` documents where one is expected are an error unless exactly one of them matches
        the schema (then it is taken, reported as ``multiple_values``); the error names those found.
        """
        if len(text) > self.max_chars:  # refused as too large; repairing it would parse it again
            return iter(())

        def choose(what: str, blocks: list[repair.Block]) -> str:
            return self._choose(text, what, blocks)

        repaired = repair.candidates(
            text, top_keys(self.schema), choose, budget=_REPAIR_BUDGET * self.max_chars
        )
        return self._one_of_several(text, repaired)

    def _one_of_several(self, text: str, then: Iterator[Candidate]) -> Iterator[Candidate]:
        """The text, then each repaired text, with a stream of several documents narrowed to one."""
        picked = self._pick(text, ())
        if picked is not None:
            yield picked
            return
        for cand in then:  # e.g. two documents inside one fence
            picked = self._pick(cand.text, cand.repairs)
            yield cand if picked is None else picked

    def _pick(self, text: str, repairs: tuple[str, ...]) -> Candidate | None:
        """The one matching document of a ``---`` stream; ``None`` if ``text`` is no such stream."""
        docs = self._documents(text)
        if docs is None:
            return None
        fits: list[Any] = []
        for doc in docs if len(docs) <= _MAX_BLOCKS else ():
            try:
                self._validator.validate(doc, text)
            except EnforcementError:
                continue
            fits.append(doc)
        if len(fits) == 1:
            return Candidate(self.dump(fits[0]), (*repairs, "multiple_values"), parsed=fits[0])
        found = "; ".join(
            f"document {i + 1}: {_preview(dump_block(d, self.schema))}" for i, d in enumerate(docs[:5])
        )
        if len(docs) > 5:
            found += f"; … {len(docs) - 5} more"
        verdict = f"{len(fits)} of them match the schema" if fits else "none of them matches the schema"
        if len(docs) > _MAX_BLOCKS:
            verdict = f"that is more than {_MAX_BLOCKS} to try"
        raise EnforcementError(
            "syntax",
            [
                Issue(
                    f"the text holds {len(docs)} YAML documents separated by '---' ({found}) and {verdict}; "
                    "answer with exactly one document, or build the spec with multi_document=True",
                    kind="multiple_values",
                )
            ],
            text,
        )

    def _documents(self, text: str) -> list[Any] | None:
        """The documents of ``text`` when it is a stream of several (single-document specs only)."""
        if self.multi_document or not _MARKER_LINE.search(text):
            return None
        try:
            docs = self._stream(text)
        except EnforcementError:
            return None
        docs = [d for d in docs if d is not None]  # a bare marker (a leading or closing '---') is no value
        return docs if len(docs) > 1 else None

    def _stream(self, text: str) -> list[Any]:
        """Every document of ``text`` (a ``---`` stream), under this spec's limits."""
        docs: list[Any] = load_yaml(
            text,
            multi_document=True,
            max_chars=self.max_chars,
            max_nodes=self.max_nodes,
            max_depth=self.max_depth,
        )
        return docs

    def _choose(self, text: str, what: str, blocks: list[repair.Block]) -> str:
        """The one block that validates; several or none is an error naming the blocks."""
        valid: list[str] = []
        for _, body in blocks if len(blocks) <= _MAX_BLOCKS else ():
            try:
                self.check(body)
            except EnforcementError:
                continue
            valid.append(body)
        if len(valid) == 1:
            return valid[0]
        found = "; ".join(f"line {line}: {_preview(body)}" for line, body in blocks[:5])
        if len(blocks) > 5:
            found += f"; … {len(blocks) - 5} more"
        verdict = "none of them matches the schema" if not valid else f"{len(valid)} of them match the schema"
        if len(blocks) > _MAX_BLOCKS:
            verdict = f"that is more than {_MAX_BLOCKS} to try"
        raise EnforcementError(
            "syntax",
            [
                Issue(
                    f"the text holds {len(blocks)} {what} ({found}) and {verdict}; answer with exactly "
                    "one document",
                    kind="ambiguous",
                )
            ],
            text,
        )

    # ------------------------------------------------------------------ output
    def dump(self, value: Any) -> str:
        """Canonical YAML of ``value`` (a document, or the list of documents of a multi-document spec).

        Raises:
            EnforcementError: ``value`` holds something JSON cannot (NaN, an infinity, a lone surrogate).
        """
        if self.multi_document and isinstance(value, list):
            docs = [self._validator.to_python(v) for v in value]
            check_json_data(docs)
            return "---\n".join(dump_block(d, self.schema) for d in docs)
        data = self._validator.to_python(value)
        check_json_data(data)
        return dump_block(data, self.schema)

    def constraint(self) -> Constraint:
        """A Lark grammar (llguidance dialect) for block-style YAML matching the schema."""
        if self._constraint is None:
            grammar, unenforced = yaml_grammar(
                self.schema,
                max_string_length=self.max_string_length,
                max_items=self.max_items,
                multi_document=self.multi_document,
            )
            self._constraint = Constraint("lark", grammar, unenforced=unenforced)
        return self._constraint

    def render_schema(self) -> str:
        """The shape of the expected document, as commented YAML."""
        lines = shape(self.schema)
        text = "\n".join(lines) + "\n"
        if self.multi_document:
            text = "# one or more documents separated by ---, each:\n" + text
        return text

"""JSON Schema handling shared by the JSON and YAML formats.

:class:`SchemaValidator` compiles a schema once (draft chosen by ``$schema``, 2020-12 by default; formats
checked; every ``$ref`` resolved up front so a broken one is a :class:`SpecError` at spec time) and
validates values with errors carrying JSON pointers. A pydantic model class is validated by pydantic itself,
so its validators run and the value returned is the model instance.

:func:`grammar_schema` derives the schema handed to a grammar compiler: bounded where the spec is not, so a
degenerate model cannot run a string or an array until the token limit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from formbound.errors import EnforcementError, Issue, SpecError

__all__ = [
    "UNENFORCED_KEYWORDS",
    "SchemaValidator",
    "grammar_schema",
    "json_pointer",
]

#: Keywords grammar backends do not enforce while decoding; post-validation still checks them.
UNENFORCED_KEYWORDS = frozenset(
    {
        "uniqueItems",
        "multipleOf",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "patternProperties",
    }
)
#: Most errors reported per validation (a 10,000-item array of wrong types is not 10,000 messages).
MAX_ERRORS = 50
_MAX_MESSAGE = 300


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a sequence of keys/indices (``""`` is the root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _short(msg: str) -> str:
    return msg if len(msg) <= _MAX_MESSAGE else msg[: _MAX_MESSAGE - 1] + "…"


def _is_pydantic_model(obj: Any) -> bool:
    if not isinstance(obj, type):
        return False
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return issubclass(obj, BaseModel)


def _load_schema(schema: Any) -> dict[str, Any] | bool:
    if isinstance(schema, (str, Path)):
        p = Path(schema)
        if not p.is_file():
            raise SpecError(f"schema file {str(p)!r} does not exist")
        try:
            loaded = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"schema file {p.name!r} is not valid JSON: {exc}") from exc
        schema = loaded
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise SpecError(
            "a JSON Schema must be a dict (or a path, or a pydantic model class), "
            f"got {type(schema).__name__}"
        )
    return copy.deepcopy(schema)


def _refs(node: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[str, tuple[Any, ...]]]:
    stack: list[tuple[Any, tuple[Any, ...]]] = [(node, where)]
    while stack:
        cur, path = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str):
                yield ref, path
            stack.extend((v, (*path, k)) for k, v in cur.items() if k not in ("const", "enum", "default"))
        elif isinstance(cur, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(cur))


class SchemaValidator:
    """A compiled JSON Schema (or pydantic model) validator.

    Args:
        schema: A JSON Schema dict, a path to a ``.json`` schema file, or a pydantic model class.

    Raises:
        SpecError: the schema is not a valid schema for its draft, or a ``$ref`` cannot be resolved.

    >>> v = SchemaValidator({"type": "object", "required": ["id"]})
    >>> v.validate({"id": 1}, "")
    {'id': 1}
    """

    def __init__(self, schema: Any) -> None:
        self.model: type | None = None
        if _is_pydantic_model(schema):
            self.model = schema
            try:
                self.schema: dict[str, Any] | bool = schema.model_json_schema()
            except Exception as exc:  # pydantic raises several types for unschemable models
                raise SpecError(f"pydantic model {schema.__name__} has no JSON Schema: {exc}") from exc
        else:
            self.schema = _load_schema(schema)
        self._validator = self._compile(self.schema)

    @staticmethod
    def _compile(schema: dict[str, Any] | bool) -> Any:
        import jsonschema
        import referencing
        import referencing.exceptions
        from jsonschema.validators import validator_for

        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        if isinstance(schema, dict) and "$schema" in schema and cls is jsonschema.Draft202012Validator:
            known = {c.META_SCHEMA["$schema"].rstrip("#") for c in jsonschema.validators._VALIDATORS.values()}
            if str(schema["$schema"]).rstrip("#") not in known:
                raise SpecError(f"unknown $schema {schema['$schema']!r}; use a JSON Schema draft URI")
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = json_pointer(exc.absolute_path) or "/"
            raise SpecError(f"invalid JSON Schema at {where}: {_short(exc.message)}") from exc
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        if isinstance(schema, dict):
            resolver = validator._resolver  # jsonschema's own resolver: same base URI rules as validation
            for ref, path in _refs(schema):
                if ref.startswith(("http://", "https://")) and not ref.startswith(
                    str(schema.get("$id", "\0"))
                ):
                    raise SpecError(
                        f"$ref {ref!r} at {json_pointer(path) or '/'} points to a remote schema; "
                        "formbound never fetches at run time: inline it under $defs"
                    )
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable as exc:
                    raise SpecError(
                        f"$ref {ref!r} at {json_pointer(path) or '/'} cannot be resolved: {exc}"
                    ) from exc
        return validator

    def issues(self, value: Any) -> list[Issue]:
        """Everything wrong with ``value`` (at most :data:`MAX_ERRORS`), best-match first."""
        try:
            if self.model is not None:
                return self._pydantic_issues(value)
            errors = list(islice(self._validator.iter_errors(value), MAX_ERRORS))
        except RecursionError:
            return [Issue("value is nested too deeply to validate", path="", kind="too_deep")]
        errors.sort(key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
        return [
            Issue(_short(e.message), path=json_pointer(e.absolute_path), kind=str(e.validator))
            for e in errors
        ]

    def _pydantic_issues(self, value: Any) -> list[Issue]:
        from pydantic import ValidationError

        assert self.model is not None
        try:
            self.model.model_validate(value)  # type: ignore[attr-defined]
        except RecursionError:
            return [Issue("value is nested too deeply to validate", path="", kind="too_deep")]
        except ValidationError as exc:
            return [
                Issue(_short(str(err["msg"])), path=json_pointer(err["loc"]), kind=str(err["type"]))
                for err in exc.errors()[:MAX_ERRORS]
            ]
        return []

    def validate(self, value: Any, text: str) -> Any:
        """Return the final value (a pydantic instance for a pydantic spec) or raise EnforcementError."""
        # Validators recurse: a RecursionError on hostile nesting becomes a "too_deep" issue (see
        # :meth:`issues`) instead of paying for a depth walk on every valid value.
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate(value)  # type: ignore[attr-defined]
            except (ValidationError, RecursionError):
                pass  # reported below with paths
            raise EnforcementError("schema", self.issues(value), text)
        try:
            ok = self._validator.is_valid(value)
        except RecursionError:
            ok = False
        if ok:
            return value
        raise EnforcementError("schema", self.issues(value), text)

    def to_python(self, value: Any) -> Any:
        """Plain JSON data for a validated value (dumps a pydantic instance)."""
        if self.model is not None and hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        return value


def _walk_schemas(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            for k, v in cur.items():
                if k in ("const", "enum", "default", "examples"):
                    continue
                if k in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas"):
                    if isinstance(v, dict):
                        stack.extend(v.values())
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(cur, list):
            stack.extend(cur)


def grammar_schema(
    schema: dict[str, Any] | bool,
    *,
    max_string_length: int | None = 256,
    max_items: int | None = 32,
    max_integer_digits: int | None = 15,
) -> tuple[dict[str, Any] | bool, tuple[str, ...]]:
    """The schema to compile into a decoding grammar, and the keywords it cannot enforce.

    Free-form strings get ``maxLength``, arrays ``maxItems`` and integers a magnitude bound where the spec
    sets none (``None`` turns a bound off): a grammar guarantees a valid prefix, not an ending, and these
    bounds are what make a degenerate model stop. They make the grammar slightly stricter than the spec,
    never looser; post-validation against the real spec always follows.
    """
    if isinstance(schema, bool):
        return schema, ()
    out = copy.deepcopy(schema)
    unenforced: set[str] = set()
    for node in _walk_schemas(out):
        unenforced.update(k for k in node if k in UNENFORCED_KEYWORDS)
        types = node.get("type")
        tset = set(types) if isinstance(types, list) else {types}
        free_string = not any(k in node for k in ("enum", "const", "format", "pattern", "maxLength"))
        if "string" in tset and free_string and max_string_length is not None:
            node["maxLength"] = max(max_string_length, int(node.get("minLength", 0)))
        if "array" in tset and "maxItems" not in node and max_items is not None:
            node["maxItems"] = max(max_items, int(node.get("minItems", 0)))
        if "integer" in tset and max_integer_digits is not None:
            bound = 10**max_integer_digits - 1
            if "maximum" not in node and "exclusiveMaximum" not in node:
                node["maximum"] = bound
            if "minimum" not in node and "exclusiveMinimum" not in node:
                node["minimum"] = -bound
    return out, tuple(sorted(unenforced))

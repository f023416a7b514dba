"""JSON Schema validation shared by the JSON and YAML formats.

:class:`SchemaValidator` compiles a schema once (draft chosen by ``$schema``, 2020-12 by default; formats
checked; every ``$ref`` resolved up front so a broken one is a :class:`SpecError` at spec time) and
validates values with errors carrying JSON pointers. A pydantic model class is validated by pydantic itself,
so its validators run and the value returned is the model instance.

References never leave the process unless the caller passes a :class:`referencing.Registry`: the default
registry holds the schema itself (with every embedded ``$id``) and the bundled metaschemas, and refuses to
retrieve anything else (no network, no file). Keywords that can hang or crash in the stock validator are
replaced by bounded ones (:mod:`.keywords`).
"""

from __future__ import annotations

import copy
import json
import os
import typing
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from formbound._schema_walk import subschemas
from formbound.errors import DependencyError, EnforcementError, Issue, SpecError
from formbound.formats.jsonschema.formats import format_checker
from formbound.formats.jsonschema.keywords import pattern_budget, safe_validator_class
from formbound.formats.jsonschema.lint import check_looks_like_schema, warn_unknown_keywords
from formbound.formats.jsonschema.meta import check_schema

__all__ = ["SchemaValidator", "json_pointer", "refusing_registry"]

#: Most errors reported per validation (a 10,000-item array of wrong types is not 10,000 messages).
MAX_ERRORS = 50
_MAX_MESSAGE = 300


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a sequence of keys/indices (``""`` is the root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _short(msg: str) -> str:
    return msg if len(msg) <= _MAX_MESSAGE else msg[: _MAX_MESSAGE - 1] + "…"


def is_pydantic_type(obj: Any) -> bool:
    """Whether ``obj`` is a type pydantic validates through a ``TypeAdapter`` (not a model class, not a
    JSON Schema): ``list[Person]``, ``Person | None``, a dataclass, a ``TypedDict``, ``Literal[...]``,
    ``dict[str, int]``, ``int`` …"""
    if obj is None or isinstance(obj, (dict, bool, str, bytes, os.PathLike)) or _is_pydantic_model(obj):
        return False
    if typing.get_origin(obj) is not None:
        return True
    return isinstance(obj, type)


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


def refuse_retrieval(uri: str) -> Any:
    """A ``retrieve`` callback for :class:`referencing.Registry` that never fetches anything."""
    raise SpecError(
        f"$ref {uri!r} points to a remote schema (outside this one); formbound never fetches schemas "
        "(no network, no file): inline it under $defs, or pass registry= with the resource added"
    )


def refusing_registry() -> Any:
    """An empty :class:`referencing.Registry` whose retrieval refuses (:func:`refuse_retrieval`)."""
    import referencing

    return referencing.Registry(retrieve=refuse_retrieval)  # type: ignore[call-arg]


def _refs(node: Any, resolver: Any, specification: Any) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """``(ref, resolver in scope, path)`` for every ``$ref``/``$dynamicRef`` at a schema position.

    The resolver follows each embedded ``$id``, so a relative reference resolves against its own scope.
    """
    stack: list[tuple[Any, Any, tuple[Any, ...]]] = [(node, resolver, ())]
    while stack:
        cur, res, path = stack.pop()
        if not isinstance(cur, dict):
            continue
        if path and specification.id_of(cur) is not None:
            res = res.in_subresource(specification.create_resource(cur))
        for key in ("$ref", "$dynamicRef", "$recursiveRef"):
            if isinstance(cur.get(key), str):
                yield cur[key], res, (*path, key)
        stack.extend((sub, res, (*path, *rel)) for rel, sub in subschemas(cur))


class SchemaValidator:
    """A compiled JSON Schema (or pydantic model) validator.

    Args:
        schema: A JSON Schema dict, a path to a ``.json`` schema file, or a pydantic model class.
        registry: A :class:`referencing.Registry` holding the schemas that ``$ref`` may point to outside
            this one (and, if you give it a ``retrieve``, how to fetch more). By default nothing outside
            the schema and the bundled draft metaschemas is reachable, and nothing is ever fetched.

    Raises:
        SpecError: the schema is not a valid schema for its draft, or a ``$ref`` cannot be resolved.

    >>> v = SchemaValidator({"type": "object", "required": ["id"]})
    >>> v.validate({"id": 1}, "")
    {'id': 1}
    """

    def __init__(self, schema: Any, *, registry: Any = None) -> None:
        self.model: type | None = None
        #: A ``pydantic.TypeAdapter`` for a type that is not a model (``list[Person]``, a dataclass …).
        self.adapter: Any = None
        self.schema: dict[str, Any] | bool
        if is_pydantic_type(schema):
            try:
                from pydantic import TypeAdapter
            except ImportError as exc:
                raise DependencyError(
                    f"a spec from the type {schema!r} needs pydantic: pip install 'formbound[pydantic]'"
                ) from exc
            try:
                self.adapter = TypeAdapter(schema)
                self.schema = self.adapter.json_schema()
            except Exception as exc:  # pydantic raises several types for types it cannot handle
                raise SpecError(f"pydantic cannot build a JSON Schema for {schema!r}: {exc}") from exc
        elif _is_pydantic_model(schema):
            self.model = schema
            try:
                self.schema = schema.model_json_schema()
            except Exception as exc:  # pydantic raises several types for unschemable models
                raise SpecError(f"pydantic model {schema.__name__} has no JSON Schema: {exc}") from exc
        else:
            self.schema = _load_schema(schema)
            check_looks_like_schema(self.schema)
            warn_unknown_keywords(self.schema)
        self._validator = self._compile(self.schema, registry)

    @staticmethod
    def _compile(schema: dict[str, Any] | bool, registry: Any = None) -> Any:
        import jsonschema
        import referencing.exceptions
        from jsonschema.validators import validator_for
        from referencing.jsonschema import specification_with

        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        if isinstance(schema, dict) and "$schema" in schema and cls is jsonschema.Draft202012Validator:
            known = {c.META_SCHEMA["$schema"].rstrip("#") for c in jsonschema.validators._VALIDATORS.values()}
            if str(schema["$schema"]).rstrip("#") not in known:
                raise SpecError(f"unknown $schema {schema['$schema']!r}; use a JSON Schema draft URI")
        try:
            check_schema(cls, schema)
        except jsonschema.SchemaError as exc:
            where = json_pointer(exc.absolute_path) or "/"
            raise SpecError(f"invalid JSON Schema at {where}: {_short(exc.message)}") from exc
        own = refusing_registry() if registry is None else registry
        checker = format_checker(cls)
        validator = safe_validator_class(cls)(schema, registry=own, format_checker=checker)
        if isinstance(schema, dict):
            resolver = validator._resolver  # jsonschema's own resolver: same base URI rules as validation
            specification = specification_with(cls.META_SCHEMA["$schema"])
            for ref, scoped, path in _refs(schema, resolver, specification):
                try:
                    scoped.lookup(ref)
                except referencing.exceptions.Unresolvable as exc:
                    where = json_pointer(path[:-1]) or "/"
                    cause: BaseException | None = exc
                    while cause is not None and not isinstance(cause, SpecError):
                        cause = cause.__cause__ or cause.__context__
                    if cause is not None:
                        raise SpecError(f"{cause} (at {where})") from exc
                    raise SpecError(f"$ref {ref!r} at {where} cannot be resolved: {exc}") from exc
        return validator

    def issues(self, value: Any) -> list[Issue]:
        """Everything wrong with ``value`` (at most :data:`MAX_ERRORS`), best-match first."""
        try:
            if self.model is not None or self.adapter is not None:
                return self._pydantic_issues(value)
            with pattern_budget():
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

        try:
            if self.adapter is not None:
                self.adapter.validate_python(value)
            else:
                self.model.model_validate(value)  # type: ignore[union-attr]
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
        if self.model is not None or self.adapter is not None:
            from pydantic import ValidationError

            try:
                if self.adapter is not None:
                    return self.adapter.validate_python(value)
                return self.model.model_validate(value)  # type: ignore[union-attr]
            except (ValidationError, RecursionError):
                pass  # reported below with paths
            raise EnforcementError("schema", self.issues(value), text)
        with pattern_budget():  # one budget for the check and the error report
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

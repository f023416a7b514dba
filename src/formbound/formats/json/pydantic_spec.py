"""pydantic specs: validation that reports its coercions, and text that validates against its own model.

pydantic's default (lax) mode changes data: ``"36"`` becomes ``36``, ``"yes"`` becomes ``True``, unknown
keys are dropped. formbound never does that silently: by default each change is reported as the named
repair ``coerce`` in ``Result.repairs``; with ``Spec.json(Model, strict=True)`` it is refused (a schema
error of kind ``coerce``). Validators that raise anything other than ``ValueError``/``AssertionError``
(pydantic's own contract) become schema errors too, never a bare ``KeyError``.
"""

from __future__ import annotations

import functools
import json
import typing
from typing import Any

from formbound.errors import EnforcementError, Issue

__all__ = ["dump_model", "dump_typed", "validate_adapted", "validate_model"]


def _models_in(annotation: Any) -> list[type]:
    """pydantic model classes in a field's annotation (the class itself, or one level of arguments)."""
    from pydantic import BaseModel

    found = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type)]
    return [a for a in found if issubclass(a, BaseModel)]


def _input_keys(field_name: str, info: Any) -> set[str]:
    keys = {field_name}
    for alias in (info.alias, info.validation_alias):
        if isinstance(alias, str):
            keys.add(alias)
    return keys


@functools.lru_cache(maxsize=512)
def _field_map(model: type) -> tuple[dict[str, str], dict[str, tuple[type, ...]]]:
    """Per model class, once: input key (name or alias) -> field name, and field -> nested models."""
    fields = model.model_fields  # type: ignore[attr-defined]
    known: dict[str, str] = {}
    nested: dict[str, tuple[type, ...]] = {}
    for name, info in fields.items():
        for key in _input_keys(name, info):
            known[key] = name
        models = tuple(_models_in(info.annotation))
        if models:
            nested[name] = models
    return known, nested


def _dropped(model: type, data: Any, path: str = "") -> list[str]:
    """JSON pointers of input keys a lax model ignores (``extra="ignore"``), nested models included."""
    if not isinstance(data, dict) or model.model_config.get("extra", "ignore") != "ignore":  # type: ignore[attr-defined]
        return []
    known, nested_models = _field_map(model)
    out = [f"{path}/{k}" for k in data if k not in known]
    for key, sub in data.items():
        name = known.get(key)
        if name is None:
            continue
        for nested in nested_models.get(name, ()):
            items = sub if isinstance(sub, list) else [sub]
            for i, item in enumerate(items):
                where = f"{path}/{key}" + (f"/{i}" if isinstance(sub, list) else "")
                out += _dropped(nested, item, where)
    return out


def validate_model(model: Any, value: Any, text: str, *, strict: bool, lax: Any) -> tuple[Any, bool]:
    """Validate ``value`` against ``model``; return (instance, whether pydantic changed the data).

    ``lax`` is the plain validation (it raises EnforcementError with paths). Strict JSON-mode validation
    is tried first: when it accepts the value, pydantic converted nothing.
    """
    from pydantic import ValidationError

    try:
        try:
            instance = model.model_validate_json(json.dumps(value), strict=True)
            changed = False
        except ValidationError:
            instance = lax(value, text)  # raises the schema error with paths if lax fails too
            changed = True
    except EnforcementError:
        raise
    except RecursionError:
        issue = Issue("value is nested too deeply to validate", kind="too_deep")
        raise EnforcementError("schema", [issue], text) from None
    except Exception as exc:  # a user validator broke pydantic's contract (KeyError, TypeError, ...)
        raise EnforcementError(
            "schema",
            [
                Issue(
                    f"a validator of {model.__name__} raised {type(exc).__name__}: {exc}",
                    kind="validator_error",
                )
            ],
            text,
        ) from exc
    dropped = _dropped(model, value)
    if strict and (changed or dropped):
        what = (
            f"unknown key(s) {', '.join(dropped[:5])}"
            if dropped and not changed
            else "a value of the wrong type that lax mode would convert"
        )
        raise EnforcementError(
            "schema",
            [Issue(f"strict mode refuses {what}; give exact types and only the model's keys", kind="coerce")],
            text,
        )
    return instance, changed or bool(dropped)


def dump_model(instance: Any) -> Any:
    """JSON data for ``instance`` that its own model validates back: keys by their validation alias,
    fields marked ``exclude=True`` included, computed fields left out."""
    from pydantic import BaseModel

    out: dict[str, Any] = {}
    for name, info in type(instance).model_fields.items():
        key = info.validation_alias if isinstance(info.validation_alias, str) else info.alias or name
        out[key] = _dump_value(getattr(instance, name), BaseModel)
    if instance.model_extra:
        out.update(_any_adapter().dump_python(instance.model_extra, mode="json"))
    return out


@functools.lru_cache(maxsize=1)
def _any_adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Any)


def _dump_value(v: Any, base: type) -> Any:
    if isinstance(v, base):
        return dump_model(v)
    if isinstance(v, list) and any(isinstance(x, base) for x in v):
        return [_dump_value(x, base) for x in v]
    return _any_adapter().dump_python(v, mode="json")


def validate_adapted(adapter: Any, value: Any, text: str, *, strict: bool, lax: Any) -> tuple[Any, bool]:
    """:func:`validate_model` for a ``TypeAdapter`` (``list[Person]``, a dataclass …).

    Conversions are found the same way (strict JSON-mode validation first). Unknown keys that nested
    models drop are not listed here; strict mode refuses the conversions pydantic reports.
    """
    from pydantic import ValidationError

    try:
        try:
            return adapter.validate_json(json.dumps(value), strict=True), False
        except ValidationError:
            pass
        instance = lax(value, text)  # raises the schema error with paths if lax fails too
    except EnforcementError:
        raise
    except RecursionError:
        raise EnforcementError(
            "schema", [Issue("value is nested too deeply to validate", kind="too_deep")], text
        ) from None
    except Exception as exc:  # a user validator broke pydantic's contract
        raise EnforcementError(
            "schema", [Issue(f"a validator raised {type(exc).__name__}: {exc}", kind="validator_error")], text
        ) from exc
    if strict:
        raise EnforcementError(
            "schema",
            [
                Issue(
                    "strict mode refuses a value of the wrong type that lax mode would convert", kind="coerce"
                )
            ],
            text,
        )
    return instance, True


def dump_typed(value: Any) -> Any:
    """JSON data for a value of a ``TypeAdapter`` type; models inside are dumped as :func:`dump_model`."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return dump_model(value)
    if isinstance(value, (list, tuple)):
        return [dump_typed(v) for v in value]
    if isinstance(value, dict):
        return {str(k): dump_typed(v) for k, v in value.items()}
    return _any_adapter().dump_python(value, mode="json")

"""Bounded replacements for the JSON Schema keywords whose stock implementations can hang or crash.

* ``uniqueItems``: the stock check compares every pair (5,000 objects: 40 s). Here items are hashed by
  a canonical key with JSON equality (``1 == 1.0``, ``true != 1``, key order ignored): linear.
* ``pattern`` / ``patternProperties`` / ``additionalProperties``' pattern test: evaluated with the
  ``regex`` package under a time budget, so ``^(a+)+$`` against ``"a" * 30 + "!"`` is an error naming the
  pattern and the limit instead of a hang. A validation call gets :data:`PATTERN_BUDGET_MS` in total for
  all its pattern evaluations; one evaluation at most :data:`PATTERN_TIMEOUT_MS`.
* ``unevaluatedProperties``: which keys were evaluated is computed with the same bounded patterns.
* ``multipleOf``: exact decimal arithmetic (the number as written in JSON, not its binary float), so a
  huge integer or a huge divisor never raises ``OverflowError``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

__all__ = ["PATTERN_BUDGET_MS", "PATTERN_TIMEOUT_MS", "pattern_budget", "safe_validator_class"]

#: Longest a single pattern evaluation may run.
PATTERN_TIMEOUT_MS = 100
#: Total time for every pattern evaluation of one validation call.
PATTERN_BUDGET_MS = 500


class _Budget:
    """Seconds of pattern evaluation left to one validation call (time spent in patterns only)."""

    __slots__ = ("left",)

    def __init__(self, seconds: float) -> None:
        self.left = seconds


_budget: ContextVar[_Budget | None] = ContextVar("formbound_pattern_budget", default=None)


@contextlib.contextmanager
def pattern_budget(ms: int = PATTERN_BUDGET_MS) -> Iterator[None]:
    """Give the pattern evaluations inside this block ``ms`` milliseconds in total.

    Only the time spent evaluating patterns counts, not the rest of the validation: a large valid
    document with many short patterned strings is never refused because validating it is slow (or the
    machine is busy). Nested blocks share the outermost budget (a failed check followed by the error
    report is one call).
    """
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(ms / 1000))
    try:
        yield
    finally:
        _budget.reset(token)


class PatternTimeout(Exception):
    """A pattern ran past its time limit (turned into a validation error naming the pattern)."""


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> Any:
    import regex

    return regex.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    budget = _budget.get()
    limit = PATTERN_TIMEOUT_MS / 1000
    if budget is not None:
        limit = min(limit, budget.left)
        if limit <= 0:
            raise PatternTimeout
    compiled = _compile(pattern)
    start = time.perf_counter()
    try:
        return compiled.search(text, timeout=limit) is not None
    except TimeoutError as exc:
        raise PatternTimeout from exc
    finally:
        if budget is not None:
            budget.left -= time.perf_counter() - start


def _timeout_error(pattern: str) -> Any:
    from jsonschema.exceptions import ValidationError

    return ValidationError(
        f"pattern {pattern!r} evaluation exceeded {PATTERN_TIMEOUT_MS} ms "
        f"(at most {PATTERN_BUDGET_MS} ms per value); simplify the pattern (nested quantifiers like "
        "(a+)+ backtrack exponentially) or bound the string's maxLength"
    )


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    try:
        matched = _search(pattern, instance)
    except PatternTimeout:
        yield _timeout_error(pattern)
        return
    if not matched:
        yield ValidationError(f"{_clip(instance)} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for k, v in instance.items():
            try:
                matched = _search(pattern, k)
            except PatternTimeout:
                yield _timeout_error(pattern)
                return
            if matched:
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _additional_properties(validator: Any, aP: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = []
    for name in instance:
        if name in properties:
            continue
        try:
            if any(_search(p, name) for p in patterns):
                continue
        except PatternTimeout:
            yield _timeout_error("|".join(patterns))
            return
        extras.append(name)
    if validator.is_type(aP, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], aP, path=extra)
    elif not aP and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(e) for e in sorted(extras))
            yield ValidationError(
                f"{joined} {verb} not match any of the regexes: {', '.join(map(repr, patterns))}"
            )
        else:
            was = "was" if len(extras) == 1 else "were"
            joined = ", ".join(repr(e) for e in extras)
            yield ValidationError(f"Additional properties are not allowed ({joined} {was} unexpected)")


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """Keys of ``instance`` evaluated by ``schema`` (for ``unevaluatedProperties``), patterns bounded.

    Raises:
        PatternTimeout: a ``patternProperties`` pattern ran past its limit.
    """
    if not isinstance(schema, dict):
        return set()
    keys: set[str] = set()
    for ref_keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(ref_keyword)
        if isinstance(ref, str):
            resolved = validator._resolver.lookup(ref)
            scoped = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated_keys(scoped, instance, resolved.contents)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if keyword in schema:
            sub = schema[keyword]
            keys |= {k for k, v in instance.items() if _no_errors(validator.descend(v, sub))}
    for pattern in schema.get("patternProperties", {}):
        keys |= {k for k in instance if _search(pattern, k)}
    for name, sub in schema.get("dependentSchemas", {}).items():
        if name in instance:
            keys |= _evaluated_keys(validator, instance, sub)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            if _no_errors(validator.descend(instance, sub)):
                keys |= _evaluated_keys(validator, instance, sub)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            keys |= _evaluated_keys(validator, instance, schema.get("then"))
        else:
            keys |= _evaluated_keys(validator, instance, schema.get("else"))
    return keys


def _no_errors(errors: Iterator[Any]) -> bool:
    return next(iter(errors), None) is None


def _unevaluated_properties(validator: Any, uP: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    try:
        evaluated = _evaluated_keys(validator, instance, schema)
    except PatternTimeout:
        yield _timeout_error("|".join(schema.get("patternProperties", {})) or "(a nested pattern)")
        return
    bad = [
        k
        for k in instance
        if k not in evaluated and not _no_errors(validator.descend(instance[k], uP, path=k))
    ]
    if bad and uP is False:
        yield ValidationError(
            f"Unevaluated properties are not allowed ({', '.join(map(repr, sorted(bad)))} unexpected)"
        )
    elif bad:
        yield ValidationError(
            f"Unevaluated properties are not valid under the given schema ({', '.join(map(repr, bad))})"
        )


def _key(value: Any) -> Any:
    """A hashable key with JSON equality: 1 == 1.0, True != 1, object key order ignored."""
    if isinstance(value, bool) or value is None:
        return ("c", value)
    if isinstance(value, (int, float, str)):
        return value  # int and float hash alike when equal; strings never equal numbers
    if isinstance(value, (list, tuple)):
        return ("l", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((k, _key(v)) for k, v in value.items()))
    return ("o", repr(value))


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: dict[Any, int] = {}
    for i, item in enumerate(instance):
        first = seen.setdefault(_key(item), i)
        if first != i:
            yield ValidationError(f"items {first} and {i} are equal ({_clip(item)}); items must be unique")
            return


def _exact(number: Any) -> Fraction:
    if isinstance(number, float):
        return Fraction(Decimal(repr(number)))  # the number as written, not its binary approximation
    return Fraction(number)


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        ok = (_exact(instance) / _exact(divisor)).denominator == 1
    except (ValueError, OverflowError, ZeroDivisionError):  # inf/nan: not JSON numbers
        ok = False
    if not ok:
        yield ValidationError(f"{_clip(instance)} is not a multiple of {divisor}")


def _clip(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SAFE: dict[type, type] = {}


def safe_validator_class(cls: type) -> type:
    """``cls`` (a jsonschema validator class) with the bounded keywords above swapped in."""
    if cls not in _SAFE:
        from jsonschema.validators import extend

        stock = getattr(cls, "VALIDATORS", {})
        overrides = {
            "uniqueItems": _unique_items,
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
            "multipleOf": _multiple_of,
            "unevaluatedProperties": _unevaluated_properties,
        }
        _SAFE[cls] = extend(cls, {k: v for k, v in overrides.items() if k in stock})
    return _SAFE[cls]

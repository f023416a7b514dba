"""Schema-driven synthesis for JSON and YAML: values drawn from the schema, inputs from train phrasings.

Values come from ``hypothesis-jsonschema``, drawn per leaf from the leaf's subschema (enums, formats,
patterns, bounds), the same for the same seed: a ``@given`` run with a fixed ``@seed``, no example
database, collecting what it draws (``.example()`` is for interactive use and warns). Drawing leaf by
leaf also keeps clear of its object generator, which does not run on current hypothesis releases.

An input is made from a train item whose gold leaves appear verbatim in its input: those leaves are
replaced, in the input and the answer alike, by drawn values (strings that are not short printable ASCII
phrases are not used). Without a teacher the answer is the substituted value; with one, the teacher
writes a new input for a whole drawn value, kept only when every string of the value appears in it.
Every answer passes the spec (``enforce(repair=False)``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from formbound.errors import DependencyError, EnforcementError
from formbound.escalate.quality import normalize_input
from formbound.escalate.template import _leaves, _pattern, _set_path

if TYPE_CHECKING:
    from formbound.measure.tasks import Task, TaskSet

__all__ = ["leaf_schema", "sample_values", "synthesize_from_schema"]

_PHRASE = re.compile(r"^[\w@.+\-:/ ,']{1,40}$", re.ASCII)


def sample_values(schema: dict[str, Any], n: int, *, seed: int = 0) -> list[Any]:
    """Up to ``n`` values that satisfy ``schema``, the same for the same seed.

    Raises:
        DependencyError: ``hypothesis-jsonschema`` is not installed (``pip install formbound[train]``).
    """
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hseed
        from hypothesis_jsonschema import from_schema
    except ImportError as exc:
        raise DependencyError(
            "schema-driven synthesis needs hypothesis-jsonschema; pip install 'formbound[train]'"
        ) from exc
    out: list[Any] = []

    @hseed(seed)
    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(from_schema(schema))
    def draw(value: Any) -> None:
        out.append(value)

    draw()
    return out[:n]


def _fits(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_PHRASE.match(value)) and value == value.strip() and not value.isspace()
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e9


_CONSTRAINTS = (
    "enum",
    "const",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
)


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        seen += 1
        target: Any = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def leaf_schema(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The subschema of a leaf at ``path`` (array indices as digits), ``$ref`` resolved; None if unknown."""
    node: Any = _resolve(schema, schema)
    for part in path:
        if not isinstance(node, dict):
            return None
        if part.isdigit() and "items" in node:
            node = node["items"]
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            return None
        node = _resolve(schema, node)
    if isinstance(node, dict) and "$defs" in schema and "$defs" not in node:
        node = {**node, "$defs": schema["$defs"]}
    return node if isinstance(node, dict) else None


def _constrained(node: dict[str, Any]) -> bool:
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    return any(k in node for k in _CONSTRAINTS) or bool({"integer", "number"} & set(types))


def synthesize_from_schema(
    task_set: TaskSet, train: Sequence[Task], n: int, *, seed: int = 0, teacher: Any = None
) -> tuple[list[Task], dict[str, int]]:
    """Up to ``n`` new (input, answer) items for a JSON/YAML task set, and counts per drop reason.

    Leaves whose schema constrains them (enum, const, format, pattern, bounds, numbers) get values
    drawn from their subschema; free-text leaves keep the train item's value (a drawn free string is
    noise, not a name or an address).
    """
    from formbound.enforce import enforce

    spec = task_set.spec
    schema = getattr(spec, "schema", None)
    counts: dict[str, int] = {"offered": 0, "no_phrasing": 0, "invalid": 0, "duplicate": 0}
    templates = [it for it in train if isinstance(it.gold, (dict, list))]
    if not isinstance(schema, dict) or n <= 0 or not templates:
        return [], counts
    pools: dict[tuple[str, ...], list[Any]] = {}
    for it in templates:
        for path, _ in _leaves(it.gold):
            key = _pool_key(path)
            if key in pools:
                continue
            node = leaf_schema(schema, key)
            drawn = sample_values(node, 60, seed=seed) if node is not None and _constrained(node) else []
            # two decimals: a price of 68882.0099638343 is valid but reads like no real input
            drawn = [round(v, 2) if isinstance(v, float) else v for v in drawn]
            pools[key] = [v for v in dict.fromkeys(json.dumps(v) for v in drawn if _fits(v))]
    pools = {k: [json.loads(v) for v in vs] for k, vs in pools.items() if vs}
    rng = random.Random(seed)
    seen = {normalize_input(it.input) for it in train}
    out: list[Task] = []
    for k in range(n * 4):
        if len(out) >= n:
            break
        counts["offered"] += 1
        base = rng.choice(templates)
        if teacher is not None:
            item = _teacher_input(teacher, _fill(base.gold, pools, rng, only=None), k)
        else:
            item = _substitute(base, pools, rng, k)
        if item is None:
            counts["no_phrasing"] += 1
            continue
        try:
            enforce(spec.dump(item.gold), spec, repair=False)
        except EnforcementError:
            counts["invalid"] += 1
            continue
        text_key = normalize_input(item.input)
        if text_key in seen:
            counts["duplicate"] += 1
            continue
        seen.add(text_key)
        out.append(item)
    return out, counts


def _pool_key(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("0" if p.isdigit() else p for p in path)


def _fill(gold: Any, pools: dict[tuple[str, ...], list[Any]], rng: random.Random, only: Any) -> Any:
    value = json.loads(json.dumps(gold))
    for path, leaf in _leaves(gold):
        pool = [v for v in pools.get(_pool_key(path), []) if type(v) is type(leaf)]
        if pool and (only is None or path in only):
            _set_path(value, path, rng.choice(pool))
    return value


def _substitute(
    base: Task, pools: dict[tuple[str, ...], list[Any]], rng: random.Random, k: int
) -> Task | None:
    from formbound.measure.tasks import Task

    leaves = _leaves(base.gold)
    texts = [str(v) for _, v in leaves]
    gold = json.loads(json.dumps(base.gold))
    swaps = []
    for (path, leaf), text in zip(leaves, texts, strict=True):
        pool = [v for v in pools.get(_pool_key(path), []) if type(v) is type(leaf) and v != leaf]
        if not pool or texts.count(text) > 1 or any(o != text and (o in text or text in o) for o in texts):
            continue
        if len(_pattern(text).findall(base.input)) != 1:
            continue
        new = rng.choice(pool)
        _set_path(gold, path, new)
        swaps.append((text, str(new)))
    if not swaps:
        return None
    new_input = base.input
    for i, (old, _new) in enumerate(swaps):
        new_input = _pattern(old).sub(f"\x00{i}\x00", new_input, count=1)
    for i, (_old, new_s) in enumerate(swaps):
        new_input = new_input.replace(f"\x00{i}\x00", new_s)
    return Task(f"{base.id}~s{k + 1}", new_input, gold, "train")


_WRITE = (
    "Write one short, realistic message (an email, a note or a log line) that states exactly this "
    "information and nothing else. Use every value exactly as written. Answer with the message only.\n\n{v}"
)


def _teacher_input(teacher: Any, value: Any, k: int) -> Task | None:
    from formbound.measure.tasks import Task

    strings = [str(v) for _, v in _leaves(value) if isinstance(v, str)]
    if not all(_fits(s) for s in strings):
        return None
    prompt = [{"role": "user", "content": _WRITE.format(v=json.dumps(value, ensure_ascii=False))}]
    gen = teacher.generate([prompt], max_new_tokens=160, temperature=0.0)[0]
    text = str(gen.text).strip()
    if not text or gen.finish_reason == "length" or not all(s in text for s in strings):
        return None
    return Task(f"schema~s{k + 1}", text, value, "train")

"""Schema-driven synthesis for JSON and YAML: values drawn from the schema, inputs from train phrasings.

Values come from ``hypothesis-jsonschema`` (enums, formats, patterns, bounds), drawn deterministically:
a ``@given`` test run with ``derandomize``-free seeded settings, no example database, collecting what it
draws. An input is made from a train item whose gold leaves appear verbatim in its input: those leaves
are replaced, in the input and the answer alike, by the sampled value's leaves at the same paths (a
sampled string that is not a short printable phrase is skipped). Without a teacher the answer is the
substituted value; with one, the teacher writes a new input for the whole sampled value, kept only when
every string of the value appears in it. Every answer passes the spec (``enforce(repair=False)``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any

from formbound.errors import DependencyError, EnforcementError
from formbound.escalate._taskset import TaskItem, normalize_input, spec_of
from formbound.escalate.template import _leaves, _pattern, _set_path

__all__ = ["sample_values", "synthesize_from_schema"]

_PHRASE = re.compile(r"^[\w@.+\-:/ ,']{2,40}$")


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
        return bool(_PHRASE.match(value)) and value == value.strip()
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e9


def _leaf_at(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def synthesize_from_schema(
    task_set: Any, train: Sequence[TaskItem], n: int, *, seed: int = 0, teacher: Any = None
) -> tuple[list[TaskItem], dict[str, int]]:
    """Up to ``n`` new (input, answer) items for a JSON/YAML task set, and counts per drop reason."""
    from formbound.enforce import enforce

    spec = spec_of(task_set)
    schema = getattr(spec, "schema", None)
    counts: dict[str, int] = {"sampled": 0, "no_phrasing": 0, "invalid": 0, "duplicate": 0}
    if not isinstance(schema, dict) or n <= 0:
        return [], counts
    values = sample_values(schema, n * 3, seed=seed)
    counts["sampled"] = len(values)
    templates = [it for it in train if isinstance(it.gold, (dict, list))]
    rng = random.Random(seed)
    seen = {normalize_input(it.input) for it in train}
    out: list[TaskItem] = []
    for k, value in enumerate(values):
        if len(out) >= n:
            break
        if teacher is not None:
            item = _teacher_input(teacher, spec, value, k)
        else:
            item = _substitute(rng.choice(templates), value, k) if templates else None
        if item is None:
            counts["no_phrasing"] += 1
            continue
        try:
            enforce(spec.dump(item.gold) if not isinstance(item.gold, str) else item.gold, spec, repair=False)
        except EnforcementError:
            counts["invalid"] += 1
            continue
        key = normalize_input(item.input)
        if key in seen:
            counts["duplicate"] += 1
            continue
        seen.add(key)
        out.append(item)
    return out, counts


def _substitute(base: TaskItem, value: Any, k: int) -> TaskItem | None:
    leaves = _leaves(base.gold)
    texts = [str(v) for _, v in leaves]
    gold = json.loads(json.dumps(base.gold))
    swaps = []
    for (path, leaf), text in zip(leaves, texts, strict=True):
        new = _leaf_at(value, path)
        if new is None or type(new) is not type(leaf) or not _fits(new) or new == leaf:
            continue
        if texts.count(text) > 1 or any(o != text and (o in text or text in o) for o in texts):
            continue
        if len(_pattern(text).findall(base.input)) != 1:
            continue
        _set_path(gold, path, new)
        swaps.append((text, str(new)))
    if not swaps:
        return None
    new_input = base.input
    for i, (old, _new) in enumerate(swaps):
        new_input = _pattern(old).sub(f"\x00{i}\x00", new_input, count=1)
    for i, (_old, new_s) in enumerate(swaps):
        new_input = new_input.replace(f"\x00{i}\x00", new_s)
    return TaskItem(f"{base.id}~s{k + 1}", new_input, gold, "train")


_WRITE = (
    "Write one short, realistic message (an email, a note or a log line) that states exactly this "
    "information and nothing else. Use every value exactly as written. Answer with the message only.\n\n{v}"
)


def _teacher_input(teacher: Any, spec: Any, value: Any, k: int) -> TaskItem | None:
    strings = [str(v) for _, v in _leaves(value) if isinstance(v, str)]
    if not all(_fits(s) for s in strings):
        return None
    prompt = [{"role": "user", "content": _WRITE.format(v=json.dumps(value, ensure_ascii=False))}]
    gen = teacher.generate([prompt], max_new_tokens=160, temperature=0.0)[0]
    text = str(gen.text).strip()
    if not text or gen.finish_reason == "length" or not all(s in text for s in strings):
        return None
    return TaskItem(f"schema~s{k + 1}", text, value, "train")

"""Metrics over evaluation records: pure functions, no model and no files.

Everything here takes :class:`~formbound.measure.records.Record` objects (or plain values) and returns
numbers. Rates carry 95% Wilson score intervals because task sets are small (tens of items), where the
normal approximation gives intervals outside [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from formbound._util import MISSING, pointer_get
from formbound.measure.records import Record

__all__ = [
    "CAUSES",
    "ErrorKind",
    "Rate",
    "StrategyMetrics",
    "classify_wrong",
    "error_taxonomy",
    "field_name",
    "field_scores",
    "leaves",
    "percentile",
    "same_value",
    "summarise",
    "wilson",
]

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054

#: Causes of a wrong value in a valid answer: the value is not in the input ("missing_information",
#: which retrieval or more context fixes) or it is there and the model misplaced or misformatted it
#: ("behaviour", which prompting, constraints or fine-tuning fix).
CAUSES: tuple[str, ...] = ("missing_information", "behaviour")


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials.

    >>> lo, hi = wilson(18, 20)
    >>> round(lo, 3), round(hi, 3)
    (0.699, 0.972)
    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Rounding can put a bound a hair past the estimate at k = 0 or k = n; the exact bound is p there.
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its 95% Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {"k": self.k, "n": self.n, "rate": self.value, "low": lo, "high": hi}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rate:
        return cls(int(data["k"]), int(data["n"]))

    def __str__(self) -> str:
        if not self.n:
            return "–"
        lo, hi = self.interval
        return f"{self.k / self.n:.0%} [{lo:.0%}–{hi:.0%}]"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation between order statistics; None if empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------- fields
def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of a JSON value by JSON pointer; empty objects and arrays are leaves themselves.

    >>> leaves({"a": {"b": 1}, "c": [2, 3], "d": []})
    {'/a/b': 1, '/c/0': 2, '/c/1': 3, '/d': []}
    """
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(leaves(v, f"{prefix}/{_escape(str(k))}"))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(leaves(v, f"{prefix}/{i}"))
    else:
        out[prefix] = value
    return out


def field_name(path: str) -> str:
    """A leaf path with array indexes replaced by ``*``, to pool per-field scores across items.

    >>> field_name("/items/3/name")
    '/items/*/name'
    """
    return "/".join("*" if part.isdigit() else part for part in path.split("/")) or "/"


def same_value(pred: Any, gold: Any) -> bool:
    """Exact match of two JSON leaves: numbers by value (``1 == 1.0``), booleans only with booleans,
    strings after stripping surrounding whitespace, anything else by ``==``."""
    if isinstance(gold, bool) or isinstance(pred, bool):
        return isinstance(gold, bool) and isinstance(pred, bool) and gold is pred
    if isinstance(gold, (int, float)) and isinstance(pred, (int, float)):
        return math.isclose(float(gold), float(pred), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(gold, str) and isinstance(pred, str):
        return gold.strip() == pred.strip()
    return bool(gold == pred) and type(gold) is type(pred)


def field_scores(pred: Any, gold: Any) -> dict[str, bool]:
    """Per-leaf exact match of a predicted value against gold.

    Every leaf of ``gold`` is scored; a leaf absent from ``pred`` counts as ``None`` (so an omitted
    optional field matches a gold ``null``). Leaves of ``pred`` outside ``gold`` that are not ``null``
    are scored as wrong (extra array items, invented keys).

    >>> field_scores({"a": 1, "b": "x", "c": [1, 2]}, {"a": 1, "b": "y", "c": [1]})
    {'/a': True, '/b': False, '/c/0': True, '/c/1': False}
    """
    scores: dict[str, bool] = {}
    for path, g in leaves(gold).items():
        p = pointer_get(pred, path)
        if p is MISSING:
            scores[path] = g is None
        elif isinstance(p, (dict, list)) and p and not (isinstance(g, (dict, list)) and not g):
            scores[path] = False
        else:
            scores[path] = same_value(p, g)
    for path, p in leaves(pred).items():
        if path not in scores and p is not None and pointer_get(gold, path) is MISSING:
            # Under a gold leaf that pred expanded (e.g. gold null, pred object) the parent is already wrong.
            if not any(path.startswith(g + "/") for g in scores):
                scores[path] = False
    return scores


# ------------------------------------------------------------------------------- missing vs behaviour
def classify_wrong(gold: Any, input_text: str) -> str:
    """Why a valid answer has a wrong value where ``gold`` is right.

    ``"missing_information"`` when the input does not state the gold value (a string or number) in any
    common written form (:func:`formbound.measure.presence.value_in_text`: case, Unicode form,
    punctuation, thousands separators, dates in any written form, numbers as words, quantities in
    another unit) — the model could not have copied it, so retrieval or more context is the fix.
    ``"behaviour"`` otherwise: the value is in
    the input but was misplaced or misformatted, or the gold is ``null``/a boolean/empty and the model
    invented or misjudged a value — what prompting, constraints or fine-tuning fix.

    >>> classify_wrong("Ada Lovelace", "Contact: ADA  Lovelace, London")
    'behaviour'
    >>> classify_wrong("+44 20 7946 0000", "Contact: Ada Lovelace, London")
    'missing_information'
    """
    if gold is None or isinstance(gold, bool) or isinstance(gold, (dict, list)):
        return "behaviour"
    from formbound.measure.presence import value_in_text

    return "behaviour" if value_in_text(gold, input_text) else "missing_information"


# ------------------------------------------------------------------------------------------ taxonomy
@dataclass(frozen=True)
class ErrorKind:
    """One row of the error taxonomy: how often ``stage``/``kind`` occurred and one example."""

    stage: str
    kind: str
    count: int
    example_task: str
    example_message: str
    example_text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_taxonomy(records: Iterable[Record], top: int = 8, excerpt: int = 160) -> list[ErrorKind]:
    """The ``top`` most frequent (stage, kind) pairs among failed records, with the first example of each."""
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], Record] = {}
    for rec in records:
        if rec.error is None:
            continue
        key = (str(rec.error.get("stage", "?")), str(rec.error.get("kind", "?")))
        counts[key] += 1
        first.setdefault(key, rec)
    rows = []
    for (stage, kind), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        rec = first[(stage, kind)]
        text = rec.final_text
        if len(text) > excerpt:
            text = text[:excerpt] + "…"
        rows.append(ErrorKind(stage, kind, n, rec.task_id, str((rec.error or {}).get("message", "")), text))
    return rows


# ------------------------------------------------------------------------------------------ summary
@dataclass
class StrategyMetrics:
    """Every number measured for one strategy on one split.

    Attributes:
        strategy: The strategy name.
        n: Items measured.
        syntax_valid: Items whose text parsed (after repairs where the strategy repairs).
        schema_valid: Items that passed every check (``enforce`` succeeded).
        correct: Whole-answer accuracy: exact object match (JSON/YAML) or same result multiset as the
            gold query (SQL), over all items (an invalid answer is wrong).
        field_accuracy: Share of gold leaves matched over all items (JSON/YAML; ``None`` for SQL).
        per_field: Per-field match counts, array indexes pooled (``/items/*/name``).
        truncated: Items whose final generation stopped at the token limit.
        forced_close: Items whose final generation the budget guard closed near the token limit.
        reasks: Re-asks used, in total.
        latency_p50 / latency_p95: Seconds per item (all attempts together).
        tokens_per_second: Generated tokens over generation seconds, all items together.
        mean_generated_tokens: Generated tokens per item.
        overhead_vs_raw: Mean seconds per item divided by that of ``raw`` (``None`` without ``raw``).
        errors: The error taxonomy.
        wrong_causes: For wrong fields (or wrong queries) of valid answers: counts per cause.
        wrong_examples: One example per cause.
    """

    strategy: str
    n: int
    syntax_valid: Rate
    schema_valid: Rate
    correct: Rate
    field_accuracy: float | None
    per_field: dict[str, Rate]
    truncated: Rate
    reasks: int
    latency_p50: float | None
    latency_p95: float | None
    tokens_per_second: float | None
    mean_generated_tokens: float | None
    mean_seconds: float | None
    overhead_vs_raw: float | None = None
    errors: list[ErrorKind] = field(default_factory=list)
    wrong_causes: dict[str, int] = field(default_factory=dict)
    wrong_examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    forced_close: Rate = field(default_factory=lambda: Rate(0, 0))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Rate):
                out[key] = value.to_dict()
            elif key == "per_field":
                out[key] = {k: r.to_dict() for k, r in value.items()}
            elif key == "errors":
                out[key] = [e.to_dict() for e in value]
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategyMetrics:
        kwargs = dict(data)
        for key in ("syntax_valid", "schema_valid", "correct", "truncated", "forced_close"):
            if key in kwargs:
                kwargs[key] = Rate.from_dict(kwargs[key])
        kwargs["per_field"] = {k: Rate.from_dict(v) for k, v in kwargs.get("per_field", {}).items()}
        kwargs["errors"] = [ErrorKind(**e) for e in kwargs.get("errors", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in kwargs.items() if k in known})


def summarise(
    strategy: str, records: Sequence[Record], *, raw_mean_seconds: float | None = None
) -> StrategyMetrics:
    """Aggregate the records of one strategy into :class:`StrategyMetrics`.

    Args:
        strategy: The strategy name.
        records: Its records, one per item, already scored (``correct``/``fields``/``wrong`` set).
        raw_mean_seconds: Mean seconds per item of the ``raw`` strategy on the same items, for the
            overhead ratio.
    """
    n = len(records)
    seconds = [r.seconds for r in records]
    gen_tokens = sum(r.generated_tokens for r in records)
    total_seconds = sum(seconds)
    mean_seconds = total_seconds / n if n else None

    field_total = 0
    field_ok = 0
    per_field: dict[str, list[int]] = {}
    has_fields = any(r.fields is not None for r in records)
    causes: Counter[str] = Counter()
    examples: dict[str, dict[str, Any]] = {}
    for r in records:
        for path, ok in (r.fields or {}).items():
            field_total += 1
            field_ok += ok
            slot = per_field.setdefault(field_name(path), [0, 0])
            slot[0] += ok
            slot[1] += 1
        for w in r.wrong:
            cause = str(w.get("cause", "behaviour"))
            causes[cause] += 1
            examples.setdefault(cause, {"task": r.task_id, **w})

    overhead = None
    if raw_mean_seconds and mean_seconds is not None and raw_mean_seconds > 0:
        overhead = mean_seconds / raw_mean_seconds
    return StrategyMetrics(
        strategy=strategy,
        n=n,
        syntax_valid=Rate(sum(r.syntax_valid for r in records), n),
        schema_valid=Rate(sum(r.schema_valid for r in records), n),
        correct=Rate(sum(bool(r.correct) for r in records), n),
        field_accuracy=(field_ok / field_total if field_total else None) if has_fields else None,
        per_field={k: Rate(v[0], v[1]) for k, v in sorted(per_field.items())},
        truncated=Rate(sum(r.truncated for r in records), n),
        forced_close=Rate(sum(r.forced_close for r in records), n),
        reasks=sum(r.reasks for r in records),
        latency_p50=percentile(seconds, 50),
        latency_p95=percentile(seconds, 95),
        tokens_per_second=gen_tokens / total_seconds if total_seconds > 0 else None,
        mean_generated_tokens=gen_tokens / n if n else None,
        mean_seconds=mean_seconds,
        overhead_vs_raw=overhead,
        errors=error_taxonomy(records),
        wrong_causes={c: causes[c] for c in CAUSES},
        wrong_examples=examples,
    )

"""The escalation decision: which rung reaches the target, and whether an adapter wins, with evidence.

* A rung **reaches the target** only when the *lower bound* of its 95% Wilson interval of schema
  validity (and of accuracy, when an accuracy target is set) reaches the target.
* An adapter **wins** only when its paired difference against the best cheap rung, on the same test
  items, is significant at ``alpha`` (exact McNemar for validity and whole-answer correctness; paired
  permutation test with a bootstrap interval for field accuracy) and it is not significantly worse on
  the other metric. It **loses** when it is significantly worse, or when the intervals rule out any gain
  above the tolerance.
* Otherwise the evidence is **insufficient**: the decision says how many test items would settle it
  (power 0.8 at the observed effect) and which command measures them.

The statistics are in :mod:`formbound.escalate.stats`; rendering is in :mod:`formbound.escalate.render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from formbound.errors import ConfigError
from formbound.escalate.stats import (
    DEFAULT_ALPHA,
    PairedComparison,
    items_for_lower_bound,
    paired_binary,
    paired_ratio,
    proportion_interval,
)

__all__ = [
    "CHEAP_RUNGS",
    "OUTCOMES",
    "Decision",
    "Item",
    "RungNumbers",
    "best_rung",
    "compare_rungs",
    "failure_causes",
    "item_scores",
    "items_for_target",
    "judge_adapter",
    "pick_cheap_rung",
    "reaches_target",
    "rung_numbers",
]

#: The rungs measured before any training, cheapest first.
CHEAP_RUNGS: tuple[str, ...] = ("raw", "prompted", "repaired", "reask", "constrained")
#: What a decision can be.
OUTCOMES: tuple[str, ...] = (
    "cheap_rung",
    "missing_information",
    "adapter_promoted",
    "adapter_rejected",
    "insufficient_evidence",
)


@dataclass(frozen=True)
class Item:
    """One test item answered by one rung: valid, wholly correct, and matched/total gold leaves."""

    valid: bool
    correct: bool
    matched: float
    total: float


def item_scores(records: Sequence[Any]) -> dict[str, Item]:
    """Per-item outcomes from evaluation records, by task id (fields pooled; SQL: one "leaf", the answer)."""
    out: dict[str, Item] = {}
    for r in records:
        fields = getattr(r, "fields", None)
        correct = bool(getattr(r, "correct", False))
        if fields:
            matched, total = float(sum(bool(v) for v in fields.values())), float(len(fields))
        else:
            matched, total = float(correct), 1.0
        out[str(r.task_id)] = Item(bool(r.schema_valid), correct, matched, total)
    return out


@dataclass(frozen=True)
class RungNumbers:
    """The figures of one strategy that the decision uses.

    Attributes:
        strategy: Strategy name.
        n: Items measured.
        valid: Items whose answer passed every check of the spec.
        validity: ``valid / n``.
        accuracy: Field accuracy (JSON/YAML) or whole-answer accuracy (SQL), over all items.
        correct: Whole-answer accuracy.
        truncated: Items cut off by the token limit.
        forced_close: Items the budget guard closed near the token limit: valid answers (counted as such)
            that the model did not finish by itself; the report says how many.
        missing_information: Wrong values of valid answers whose gold value is not in the input.
        behaviour: Wrong values of valid answers whose gold value is in the input.
        validity_interval: 95% Wilson interval of validity.
        accuracy_interval: 95% Wilson interval of accuracy (over gold leaves, or items for SQL).
        mean_seconds: Seconds per item; ``latency_p50`` the median.
        mean_tokens: Generated tokens per item (all attempts).
    """

    strategy: str
    n: int
    valid: int
    validity: float
    accuracy: float
    correct: float
    truncated: int = 0
    forced_close: int = 0
    missing_information: int = 0
    behaviour: int = 0
    validity_interval: tuple[float, float] | None = None
    accuracy_interval: tuple[float, float] | None = None
    mean_seconds: float | None = None
    latency_p50: float | None = None
    mean_tokens: float | None = None

    def __post_init__(self) -> None:
        if self.validity_interval is None:
            object.__setattr__(self, "validity_interval", proportion_interval(self.valid, self.n))
        if self.accuracy_interval is None:
            k = round(self.accuracy * self.n)
            object.__setattr__(self, "accuracy_interval", proportion_interval(k, self.n))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rung_numbers(metrics: Any) -> RungNumbers:
    """:class:`RungNumbers` from a :class:`formbound.measure.StrategyMetrics`."""
    n = int(metrics.n)
    valid = int(metrics.schema_valid.k)
    correct = float(metrics.correct.value or 0.0)
    accuracy = metrics.field_accuracy if metrics.field_accuracy is not None else correct
    causes = dict(metrics.wrong_causes or {})
    truncated = getattr(metrics, "truncated", None)
    forced = getattr(metrics, "forced_close", None)
    per_field = dict(getattr(metrics, "per_field", None) or {})
    if metrics.field_accuracy is not None and per_field:
        leaves_ok = sum(r.k for r in per_field.values())
        leaves_n = sum(r.n for r in per_field.values())
        accuracy_interval = proportion_interval(leaves_ok, leaves_n)
    else:
        accuracy_interval = proportion_interval(int(metrics.correct.k), n)
    return RungNumbers(
        strategy=str(metrics.strategy),
        n=n,
        valid=valid,
        validity=valid / n if n else 0.0,
        accuracy=float(accuracy or 0.0),
        correct=correct,
        truncated=int(truncated.k) if truncated is not None else 0,
        forced_close=int(forced.k) if forced is not None else 0,
        missing_information=int(causes.get("missing_information", 0)),
        behaviour=int(causes.get("behaviour", 0)),
        validity_interval=proportion_interval(valid, n),
        accuracy_interval=accuracy_interval,
        mean_seconds=getattr(metrics, "mean_seconds", None),
        latency_p50=getattr(metrics, "latency_p50", None),
        mean_tokens=getattr(metrics, "mean_generated_tokens", None),
    )


def reaches_target(
    rung: RungNumbers, target: float, accuracy_target: float | None = None, *, point: bool = False
) -> bool:
    """The lower bound of the validity interval (and of the accuracy interval when an accuracy target
    is set) reaches the target: a point estimate alone does not (``point=True`` asks for that instead)."""
    valid = rung.validity if point else (rung.validity_interval or proportion_interval(rung.valid, rung.n))[0]
    if valid < target:
        return False
    if accuracy_target is None:
        return True
    acc_iv = rung.accuracy_interval or proportion_interval(round(rung.accuracy * rung.n), rung.n)
    return (rung.accuracy if point else acc_iv[0]) >= accuracy_target


def compare_rungs(
    a: Mapping[str, Item], b: Mapping[str, Item], *, alpha: float = DEFAULT_ALPHA, seed: int = 0
) -> dict[str, PairedComparison]:
    """Paired comparisons of rung A against rung B on the items both answered.

    Returns ``validity`` and ``correct`` (exact McNemar) and ``field_accuracy`` (paired permutation test,
    bootstrap interval); empty when the two share no item.
    """
    ids = sorted(set(a) & set(b))
    if not ids:
        return {}
    xa, xb = [a[i] for i in ids], [b[i] for i in ids]
    return {
        "validity": paired_binary(
            "validity", [x.valid for x in xa], [x.valid for x in xb], alpha=alpha, seed=seed
        ),
        "correct": paired_binary(
            "correct", [x.correct for x in xa], [x.correct for x in xb], alpha=alpha, seed=seed
        ),
        "field_accuracy": paired_ratio(
            "field_accuracy",
            [(x.matched, x.total) for x in xa],
            [(x.matched, x.total) for x in xb],
            alpha=alpha,
            seed=seed,
        ),
    }


def pick_cheap_rung(
    numbers: Sequence[RungNumbers],
    target: float,
    tolerance: float = 0.02,
    accuracy_target: float | None = None,
    items: Mapping[str, Mapping[str, Item]] | None = None,
    alpha: float = DEFAULT_ALPHA,
    *,
    point: bool = False,
) -> RungNumbers | None:
    """The cheapest rung (first in ``numbers``) that reaches the target by its lower bound
    (:func:`reaches_target`) without losing accuracy — or None when none does.

    "Without losing accuracy": with per-item ``items`` (by strategy), not significantly less accurate
    than the most accurate rung (paired test at ``alpha``); without them, within ``tolerance`` of it.
    ``point=True`` judges the target by point estimates instead (to tell "not reached" from "not shown").
    """
    if not numbers:
        return None
    top = max(numbers, key=lambda r: r.accuracy)
    for r in numbers:
        if not reaches_target(r, target, accuracy_target, point=point):
            continue
        if r.accuracy >= top.accuracy - tolerance:
            return r
        if items and r.strategy in items and top.strategy in items:
            acc = compare_rungs(items[r.strategy], items[top.strategy], alpha=alpha).get("field_accuracy")
            if acc is not None and acc.verdict != "worse":
                return r
    return None


def best_rung(numbers: Sequence[RungNumbers]) -> RungNumbers:
    """The rung with the highest validity, then accuracy; the cheaper one on a tie."""
    if not numbers:
        raise ConfigError("no strategy was measured; nothing to choose from")
    best = numbers[0]
    for r in numbers[1:]:
        if (r.validity, r.accuracy) > (best.validity, best.accuracy):
            best = r
    return best


def failure_causes(rung: RungNumbers) -> dict[str, Any]:
    """Failures of a rung split by cause.

    ``behaviour`` counts invalid answers (format is behaviour) plus wrong values that were in the
    input; ``missing_information`` counts wrong values that were not in the input. Their share
    decides between fine-tuning and retrieval.
    """
    behaviour = (rung.n - rung.valid) + rung.behaviour
    missing = rung.missing_information
    total = behaviour + missing
    return {
        "behaviour": behaviour,
        "invalid_answers": rung.n - rung.valid,
        "wrong_values_in_input": rung.behaviour,
        "missing_information": missing,
        "missing_share": (missing / total) if total else 0.0,
    }


def judge_adapter(
    comparisons: Mapping[str, PairedComparison], tolerance: float = 0.02, *, sql: bool = False
) -> tuple[str, str, int | None]:
    """``("wins" | "loses" | "insufficient", why, items_needed)`` from adapter-vs-baseline comparisons.

    Wins: validity significantly better and accuracy not significantly worse, or accuracy significantly
    better and validity not significantly worse. Loses: significantly worse on either, or both intervals
    of the difference end at or below ``tolerance`` (no gain worth having is left possible).
    Insufficient otherwise, with the items at which the closer of the two tests would settle.
    """
    if "validity" not in comparisons:
        return "insufficient", "no per-item records to pair: the comparison cannot be made", None
    v = comparisons["validity"]
    acc = comparisons["correct" if sql else "field_accuracy"]
    worse = [c for c in (v, acc) if c.verdict == "worse"]
    if worse:
        return "loses", f"significantly worse on {worse[0].metric.replace('_', ' ')}", None
    if v.verdict == "better" or acc.verdict == "better":
        what = v if v.verdict == "better" else acc
        return (
            "wins",
            f"significantly better on {what.metric.replace('_', ' ')} (p = {what.p_value:.3g})",
            None,
        )
    if v.interval[1] <= tolerance and acc.interval[1] <= tolerance:
        return "loses", f"not better: both intervals rule out a gain above {tolerance:.0%}", None
    needed = [c.items_needed for c in (v, acc) if c.items_needed is not None and c.difference > 0]
    return (
        "insufficient",
        f"no significant difference at alpha {v.alpha:g} (validity p = {v.p_value:.3g}, "
        f"{acc.metric.replace('_', ' ')} p = {acc.p_value:.3g})",
        min(needed) if needed else None,
    )


def items_for_target(rung: RungNumbers, target: float, accuracy_target: float | None) -> int | None:
    """Test items at which ``rung``'s observed rates would put its lower bounds on the targets."""
    need = items_for_lower_bound(rung.validity, target)
    if need is not None and accuracy_target is not None:
        acc = items_for_lower_bound(rung.accuracy, accuracy_target)
        need = None if acc is None else max(need, acc)
    return need


@dataclass
class Decision:
    """What :func:`~formbound.escalate.escalate` decided, with every number behind it.

    Attributes:
        outcome: One of :data:`OUTCOMES`.
        recommended: The strategy to use (``adapter:PATH`` / ``adapter:PATH+constrained`` when promoted).
        reasons: Why, in sentences with the numbers.
        target: The validity target.
        baseline: Numbers of every cheap rung on the test split (with intervals).
        adapter: Numbers of the adapter rungs (when one was trained).
        adapter_path: The adapter folder when promoted, else None.
        trained_adapter: The adapter folder trained (promoted or not).
        failure_causes: Failures of the best cheap rung by cause.
        regression: The regression report (when an adapter was trained).
        dataset: The dataset card (when a dataset was built).
        training: The training metrics (when an adapter was trained).
        comparisons: Paired comparisons, adapter vs best cheap rung (test, p-value, interval, alpha).
        evidence: ``alpha``, the test split size, and — when the evidence is insufficient — the items
            that would settle it and the command that measures them.
        cost: What fine-tuning cost and what each rung costs per item, and the budget line.
        learning_curve: Validity and accuracy of the adapter trained on nested subsets of the data,
            and whether the curve still rises (when asked for).
        seconds: Wall time of each phase and in total.
        meta: Model, task set, split, limit, seed, command.
        deploy: What :meth:`formbound.Generator.from_run` rebuilds (:mod:`formbound.escalate.deploy`).
    """

    outcome: str
    recommended: str
    reasons: list[str]
    target: float
    baseline: dict[str, dict[str, Any]]
    adapter: dict[str, dict[str, Any]] | None = None
    adapter_path: str | None = None
    trained_adapter: str | None = None
    failure_causes: dict[str, Any] | None = None
    regression: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    comparisons: dict[str, dict[str, Any]] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    learning_curve: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    deploy: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ConfigError(f"unknown outcome {self.outcome!r}; expected one of {OUTCOMES}")

    @property
    def promoted(self) -> bool:
        return self.outcome == "adapter_promoted"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promoted": self.promoted}

    def summary(self) -> str:
        """A few lines for a terminal."""
        from formbound.escalate.render import summary

        return summary(self)

    def markdown(self) -> str:
        """The decision report (``decision.md``)."""
        from formbound.escalate.render import markdown

        return markdown(self)

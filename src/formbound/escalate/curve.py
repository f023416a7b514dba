"""Data sufficiency: a learning curve of the adapter over nested subsets of its training data.

"Have we added enough high-quality examples?" The adapter is also trained on nested subsets of the
dataset (by default 25 % and 50 %: the same seeded order, so each subset contains the smaller ones;
the same settings, so proportionally fewer steps) and each is measured on the same test items. The
curve is *rising* when the full dataset beats the largest subset by more than the tolerance on
validity or accuracy (more data is likely to help), else *flat*. The paired comparison of those two
points is reported beside the verdict, so a rise within noise is visible as such.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError
from formbound.escalate.decision import Item, RungNumbers, compare_rungs

__all__ = ["FRACTIONS", "curve_chart", "learning_curve", "nested_subsets"]

#: Shares of the training records trained on besides the full set.
FRACTIONS: tuple[float, ...] = (0.25, 0.5)

MeasureFn = Callable[[list[str], str, str], tuple[list[RungNumbers], dict[str, dict[str, Item]]]]


def nested_subsets(lines: Sequence[str], fractions: Sequence[float], seed: int) -> list[list[str]]:
    """Nested subsets of ``lines`` (each contains the smaller ones), in one seeded order.

    >>> [len(s) for s in nested_subsets([str(i) for i in range(10)], (0.25, 0.5), 0)]
    [3, 5]
    >>> a, b = nested_subsets([str(i) for i in range(10)], (0.25, 0.5), 0)
    >>> set(a) <= set(b)
    True
    """
    if any(not 0 < f < 1 for f in fractions):
        raise ConfigError(f"learning-curve fractions must be in (0, 1), got {list(fractions)}")
    order = list(lines)
    random.Random(seed).shuffle(order)
    return [order[: max(1, math.ceil(f * len(order)))] for f in sorted(fractions)]


def _point(fraction: float, examples: int, r: RungNumbers) -> dict[str, Any]:
    return {
        "fraction": fraction,
        "records": examples,
        "strategy": r.strategy,
        "validity": r.validity,
        "validity_interval": r.validity_interval,
        "accuracy": r.accuracy,
        "accuracy_interval": r.accuracy_interval,
    }


def learning_curve(
    *,
    model: Any,
    dataset: Path,
    out: Path,
    train_fn: Callable[..., Any],
    config: Any,
    spec_hash: str,
    measure: MeasureFn,
    full: RungNumbers,
    full_items: dict[str, Item],
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    alpha: float = 0.05,
    tolerance: float = 0.02,
) -> dict[str, Any]:
    """Train and measure ``adapter+constrained`` on nested subsets; return the curve and its verdict.

    ``full`` / ``full_items`` are the full dataset's numbers for the same rung kind (already measured).
    """
    lines = [ln for ln in dataset.read_text(encoding="utf-8").splitlines() if ln.strip()]
    points = []
    last_items: dict[str, Item] = {}
    for fraction, subset in zip(sorted(fractions), nested_subsets(lines, fractions, seed), strict=True):
        folder = out / "curve" / f"{round(fraction * 100)}pct"
        subset_file = folder / "train.jsonl"
        write_atomic(subset_file, "".join(line + "\n" for line in subset))
        cfg = config
        if getattr(config, "max_steps", None):
            cfg = dataclasses.replace(config, max_steps=max(1, round(config.max_steps * fraction)))
        train_fn(model, subset_file, folder / "adapter", cfg, spec_hash)
        name = f"adapter:{folder / 'adapter'}+constrained"
        numbers, items = measure([name], f"curve/{round(fraction * 100)}pct/eval", f"curve_{fraction:g}")
        points.append(_point(fraction, len(subset), numbers[0]))
        last_items = items.get(name, {})
    points.append(_point(1.0, len(lines), full))
    prev = points[-2]
    gain = max(full.validity - prev["validity"], full.accuracy - prev["accuracy"])
    comparison = compare_rungs(full_items, last_items, alpha=alpha, seed=seed) if last_items else {}
    rising = gain > tolerance
    verdict = (
        f"rising: {prev['fraction']:.0%} → 100% of the data gained {gain:+.0%} — more data is likely to help"
        if rising
        else f"flat: {prev['fraction']:.0%} → 100% of the data gained {gain:+.0%} (≤ {tolerance:.0%}) — "
        "more of the same data is unlikely to help"
    )
    if comparison:
        v, a = comparison["validity"], comparison["field_accuracy"]
        verdict += f" (paired: validity p = {v.p_value:.3g}, accuracy p = {a.p_value:.3g})"
    return {
        "points": points,
        "rising": rising,
        "verdict": verdict,
        "comparison": {k: c.to_dict() for k, c in comparison.items()},
    }


def curve_chart(curve: dict[str, Any], path: Path) -> Path | None:
    """Validity and accuracy against the share of training data, with intervals; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pts = curve["points"]
    xs = [p["fraction"] * 100 for p in pts]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key, label in (("validity", "schema validity"), ("accuracy", "accuracy")):
        ys = [p[key] for p in pts]
        lo = [p[key] - p[f"{key}_interval"][0] for p in pts]
        hi = [p[f"{key}_interval"][1] - p[key] for p in pts]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
    ax.set_xlabel("share of training records (%)")
    ax.set_ylim(0, 1.05)
    ax.set_title("learning curve (adapter + constrained, 95% CI)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path

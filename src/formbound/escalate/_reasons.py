"""The sentences of a decision: each names its rung, its numbers and their 95% intervals.

:mod:`formbound.escalate.ladder` decides; this module only words what it decided, so the ladder stays
orchestration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from formbound.escalate.decision import RungNumbers, best_rung

__all__ = [
    "adapter_reasons",
    "cheap_reason",
    "iv",
    "missing_reason",
    "no_cheap_reason",
    "point_reason",
]


def iv(interval: tuple[float, float] | None) -> str:
    """``[lo–hi]`` in percent (``[–]`` when there is no interval)."""
    return "[–]" if interval is None else f"[{interval[0]:.0%}–{interval[1]:.0%}]"


def cheap_reason(cheap: RungNumbers, numbers: Sequence[RungNumbers], target: float) -> str:
    """A cheap rung reaches the target by its lower bound."""
    return (
        f"`{cheap.strategy}` reaches the target: schema validity {cheap.validity:.0%} "
        f"({cheap.valid}/{cheap.n}), 95% interval {iv(cheap.validity_interval)} with its lower bound "
        f"≥ target {target:.0%}; accuracy {cheap.accuracy:.0%} {iv(cheap.accuracy_interval)} "
        f"(best measured {max(r.accuracy for r in numbers):.0%})"
    )


def point_reason(point: RungNumbers, target: float, accuracy_target: float | None, needed: int | None) -> str:
    """A cheap rung reaches the target by point estimate only."""
    return (
        f"`{point.strategy}` reaches the target by point estimate only: schema validity "
        f"{point.validity:.0%} ({point.valid}/{point.n}) but the lower bound of its 95% interval "
        f"{iv(point.validity_interval)} is under {target:.0%}"
        + (
            f" (accuracy {point.accuracy:.0%} {iv(point.accuracy_interval)} vs {accuracy_target:.0%})"
            if accuracy_target is not None
            else ""
        )
        + (f"; at these rates {needed} test items would settle it" if needed else "")
    )


def no_cheap_reason(best: RungNumbers, target: float, accuracy_target: float | None) -> str:
    """No cheap rung reaches the target."""
    return (
        f"no cheap rung reaches {target:.0%} schema validity"
        + (f" and {accuracy_target:.0%} accuracy" if accuracy_target is not None else "")
        + f" without losing accuracy; best is `{best.strategy}` with {best.validity:.0%} "
        f"({best.valid}/{best.n}) {iv(best.validity_interval)}, accuracy {best.accuracy:.0%}"
    )


def missing_reason(causes: Mapping[str, Any], best: RungNumbers) -> str:
    """The best rung's failures are mostly missing information."""
    return (
        f"{causes['missing_information']} of {causes['missing_information'] + causes['behaviour']} "
        "failures of "
        f"`{best.strategy}` are missing information (the gold value is not in the input in any written "
        "form): fine-tuning teaches behaviour, not facts — add retrieval or more context to the prompt"
    )


def adapter_reasons(
    candidate: RungNumbers,
    best: RungNumbers,
    why: str,
    comparisons: Mapping[str, Any],
    cheap: Sequence[RungNumbers],
    plain_adapter: RungNumbers,
    regression: Any,
    engines: tuple[str, str, str] | None,
) -> list[str]:
    """The adapter against the best cheap rung: the verdict, its tests, the unconstrained pair, the
    regression check and, when the cheap rungs ran on another engine, which engines measured what
    (``engines``: cheap rungs, adapter rungs, training)."""
    out = [f"`{candidate.strategy}` vs `{best.strategy}`: {why}"]
    out += [
        c.sentence(candidate.strategy, best.strategy)
        for key, c in comparisons.items()
        if key in ("validity", "field_accuracy")
    ]
    unconstrained = [r for r in cheap if r.strategy != "constrained"]
    if unconstrained:
        ref = best_rung(unconstrained)
        out.append(
            f"unconstrained: `{plain_adapter.strategy}` {plain_adapter.validity:.0%} valid, accuracy "
            f"{plain_adapter.accuracy:.0%} vs best unconstrained cheap rung `{ref.strategy}` "
            f"{ref.validity:.0%} valid, accuracy {ref.accuracy:.0%}"
        )
    if regression.flags:
        out += [f"regression: {flag}" for flag in regression.flags]
    else:
        out.append(
            f"regression check passed: perplexity ×{regression.ppl_ratio:.3f}, general answers in "
            f"the trained format {regression.base_format_leak:.0%} → {regression.adapter_format_leak:.0%}, "
            f"overlap with base answers {regression.mean_overlap:.2f}"
        )
    if engines is not None:
        cheap_engine, adapter_engine, main_engine = engines
        if adapter_engine == cheap_engine:
            out.append(
                f"engines: cheap rungs and adapter rungs measured with `{cheap_engine}` (the adapter as a "
                f"LoRA GGUF), so the paired comparison is on one engine; training and the regression "
                f"check with `{main_engine}`"
            )
        else:
            out.append(
                f"engines: cheap rungs measured with `{cheap_engine}`; training, adapter rungs and the "
                f"regression check with `{main_engine}` — the paired differences include the engines' "
                "numeric differences on the same weights"
            )
    return out

"""Retrying generations cut off by the token limit, for any :class:`~formbound.models.base.Model`.

``Model.generate`` itself never retries: one call costs one budget, and ``finish_reason == "length"``
is reported as it is, so measurements stay honest. Callers that want a second chance wrap the call in
:func:`generate_with_retry`, which re-runs only the cut-off items with a larger budget and records how
many retries each item took.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError

if TYPE_CHECKING:
    from formbound.models.base import Generation, Model, Prompt

__all__ = ["generate_with_retry"]


def generate_with_retry(
    model: Model,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int = 256,
    retry_on_length: int = 1,
    budget_factor: float = 2.0,
    max_budget: int | None = None,
    **kwargs: Any,
) -> list[Generation]:
    """``model.generate`` with up to ``retry_on_length`` retries of the items that hit the token limit.

    Each retry multiplies the budget by ``budget_factor`` (capped at ``max_budget``). A retried item's
    :class:`Generation` is the last attempt, with ``extra["retries"]`` (attempts after the first),
    ``extra["budget"]`` (the final budget); its ``generated_tokens`` and ``seconds`` are summed over
    all attempts, so a report counts what the retries cost. An item still cut off after the last retry keeps
    ``finish_reason == "length"``.

    Args:
        model: Any model.
        prompts: As for ``Model.generate``.
        max_new_tokens: The first budget.
        retry_on_length: Retries allowed per item (0 disables retrying).
        budget_factor: Budget growth per retry (> 1).
        max_budget: Upper bound for the budget; no retry happens once it is reached.
        kwargs: Passed to ``model.generate`` (constraint, temperature, seed).
    """
    if retry_on_length < 0:
        raise ConfigError(f"retry_on_length must be >= 0, got {retry_on_length}")
    if budget_factor <= 1:
        raise ConfigError(f"budget_factor must be > 1, got {budget_factor}")
    results = model.generate(prompts, max_new_tokens=max_new_tokens, **kwargs)
    budget = max_new_tokens
    for item in results:
        item.extra.setdefault("retries", 0)
        item.extra.setdefault("budget", budget)
    for _ in range(retry_on_length):
        todo = [i for i, g in enumerate(results) if g.finish_reason == "length"]
        new_budget = int(budget * budget_factor)
        if max_budget is not None:
            new_budget = min(new_budget, max_budget)
        if not todo or new_budget <= budget:
            break
        budget = new_budget
        again = model.generate([prompts[i] for i in todo], max_new_tokens=budget, **kwargs)
        for i, new in zip(todo, again, strict=True):
            old = results[i]
            new.generated_tokens += old.generated_tokens
            new.seconds += old.seconds
            new.extra["retries"] = int(old.extra.get("retries", 0)) + 1
            new.extra["budget"] = budget
            results[i] = new
    return results

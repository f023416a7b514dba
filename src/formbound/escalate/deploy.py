"""The deploy record of an escalation: what :meth:`formbound.Generator.from_run` rebuilds.

``decision.json`` carries, under ``"deploy"``, the model name, the spec, the recommended strategy (and
adapter folder), the prompt (instruction and the few-shot pairs the recommended rung was measured with),
the seed and the token limit — so ``Generator.from_run(out_dir)`` runs exactly what was measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound.deployment import deploy_record
from formbound.escalate.decision import Decision
from formbound.strategies import Strategy, parse_strategy

if TYPE_CHECKING:
    from formbound.measure.tasks import TaskSet

__all__ = ["deploy_for", "measured_examples"]


def deploy_for(
    decision: Decision, model: Any, task_set: TaskSet, out_dir: Path, *, seed: int, engine: Any = None
) -> dict[str, Any]:
    """The ``"deploy"`` record of ``decision`` (see :func:`formbound.deployment.deploy_record`).

    Args:
        decision: The decision whose ``recommended`` strategy is deployed.
        model: The model the ladder measured; recorded as :func:`formbound.models.load` takes it: its
            ``load_name`` (``"llamacpp:default"``) or else its ``name`` (``"default"``, a folder,
            ``"openai:MODEL"``).
        task_set: The task set measured (its spec, instruction, token limit and train split).
        out_dir: The run folder; files are named relative to it.
        seed: The ladder's seed (it chose the few-shot examples).
        engine: The model that measured the recommended strategy when it is not ``model`` (the cheap or
            adapter rungs on ``llamacpp:default``); recorded by its ``load_name`` so that
            ``Generator.from_run`` serves the strategy on the engine it was measured on.
    """
    strategy = parse_strategy(decision.recommended)
    # The few-shot choice depends on the most shots among the rungs measured in the same call.
    together = decision.adapter if decision.recommended in (decision.adapter or {}) else decision.baseline
    most = max((parse_strategy(name).shots for name in together or ()), default=strategy.shots)
    adapter = Path(strategy.adapter) if strategy.adapter is not None else None
    name = strategy.name
    if adapter is not None:  # the folder is recorded on its own, relative to the run folder
        name = "adapter+constrained" if strategy.constrained else "adapter"
    return deploy_record(
        out_dir,
        model=str(
            model
            if isinstance(model, str)
            else getattr(model, "load_name", None) or getattr(model, "name", "default")
        ),
        spec=task_set.spec,
        strategy=name,
        adapter=adapter,
        constrained=strategy.constrained,
        instruction=task_set.instruction,
        examples=measured_examples(task_set, strategy, max(most, strategy.shots), seed),
        seed=seed,
        max_new_tokens=task_set.max_new_tokens,
        task_set=task_set.path,
        engine=None if engine is None or engine is model else getattr(engine, "load_name", None),
    )


def measured_examples(
    task_set: TaskSet, strategy: Strategy, most_shots: int, seed: int
) -> list[tuple[str, str]]:
    """The ``(input, gold text)`` few-shot pairs ``strategy`` showed on test items in ``evaluate``.

    ``evaluate`` draws ``most_shots + 1`` train items with ``seed`` (``most_shots``: the most shots among
    the rungs measured together) and each rung shows the first of them, at most its own shots.
    """
    from formbound.measure.strategies import choose_examples

    if strategy.style != "prompted" or strategy.shots <= 0:
        return []
    chosen = choose_examples(task_set, most_shots, seed)
    return [(t.input, task_set.gold_text(t)) for t in chosen][: strategy.shots]

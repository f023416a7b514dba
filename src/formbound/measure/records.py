"""What one evaluation produces per (strategy, item): a :class:`Record`.

A leaf: it imports nothing from formbound. The summary of a run is
:class:`~formbound.measure.eval_report.EvalReport`; rendering it is :mod:`formbound.measure.report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Record"]


@dataclass
class Record:
    """One item answered by one strategy, with every attempt's text and what it cost.

    Attributes:
        strategy: The strategy name, e.g. ``"reask"`` or ``"adapter:runs/a+constrained"``.
        task_id: The task's id.
        key: The cache key (strategy, task, model, spec, prompt, token limit).
        texts: The generated text of each attempt (more than one only for re-asks).
        finish_reasons: ``"stop"`` or ``"length"`` per attempt.
        prompt_tokens: Prompt tokens, all attempts together.
        generated_tokens: Generated tokens, all attempts together.
        seconds: Generation seconds, all attempts together.
        reasks: Re-asks used (``len(texts) - 1``).
        route: How a constraint was applied (``None`` unconstrained).
        syntax_valid: The final text parsed (after repairs where the strategy repairs).
        schema_valid: The final text passed every check of the spec.
        repairs: Repairs applied to the final text.
        error: ``{"stage", "kind", "message", "path"}`` of the final failure, or ``None``.
        chosen: Index in ``texts`` of the attempt handed on (``-1``: the last; a re-ask loop hands on
            its best attempt).
        value: The answer as JSON data (canonical SQL text for SQL specs), or ``None`` when invalid.
        correct: Whole-answer match with gold (exact object / same query result); ``None`` unscored.
        fields: Per-leaf matches for JSON/YAML answers (``None`` for SQL).
        wrong: For valid answers, each wrong field: ``{"path", "gold", "pred", "cause"}``.
        forced_close: The generation handed on was closed by the budget guard near the token limit
            (valid, but the model did not finish by itself).
    """

    strategy: str
    task_id: str
    key: str
    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    reasks: int = 0
    route: str | None = None
    syntax_valid: bool = False
    schema_valid: bool = False
    repairs: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    value: Any = None
    correct: bool | None = None
    fields: dict[str, bool] | None = None
    wrong: list[dict[str, Any]] = field(default_factory=list)
    chosen: int = -1
    forced_close: bool = False

    @property
    def truncated(self) -> bool:
        """The generation handed on (see ``chosen``) stopped at the token limit."""
        return bool(self.finish_reasons) and self.finish_reasons[self.chosen] == "length"

    @property
    def final_text(self) -> str:
        """The text of the attempt handed on: the best of a re-ask loop, not always the last."""
        return self.texts[self.chosen] if self.texts else ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

"""What one evaluation produces: a :class:`Record` per (strategy, item), and the :class:`EvalReport`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from formbound.measure.metrics import StrategyMetrics

__all__ = ["EvalReport", "Record"]


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


@dataclass
class EvalReport:
    """The result of :func:`formbound.measure.evaluate`.

    Attributes:
        meta: Model info, task set, split, seed, limit, token limit, versions, command line, wall time.
        strategies: Strategy names in the order run.
        metrics: :class:`~formbound.measure.metrics.StrategyMetrics` per strategy name.
        records: Every record (not written to report.json; the generation cache holds them).
    """

    meta: dict[str, Any]
    strategies: list[str]
    metrics: dict[str, StrategyMetrics]
    records: list[Record] = field(default_factory=list, repr=False)

    def records_for(self, strategy: str) -> list[Record]:
        """The records of one strategy, in task order."""
        return [r for r in self.records if r.strategy == strategy]

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "strategies": list(self.strategies),
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        from formbound.measure.metrics import StrategyMetrics

        return cls(
            meta=dict(data.get("meta", {})),
            strategies=list(data["strategies"]),
            metrics={k: StrategyMetrics.from_dict(v) for k, v in data["metrics"].items()},
        )

    def markdown(self) -> str:
        """The report as Markdown tables (what ``formbound eval`` prints)."""
        from formbound.measure.report import markdown

        return markdown(self)

    def save(self, out_dir: str | Any) -> list[Any]:
        """Write report.json, report.md and the charts into ``out_dir``; return the paths written."""
        from formbound.measure.report import write_report

        return write_report(self, out_dir)

"""The result of one evaluation: metrics per strategy, the run's facts, and the per-item records.

Data only: Markdown, report files and charts are :mod:`formbound.measure.report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from formbound.measure.metrics import StrategyMetrics
from formbound.measure.records import Record

__all__ = ["EvalReport"]


@dataclass
class EvalReport:
    """The result of :func:`formbound.measure.evaluate`.

    Attributes:
        meta: Model info, task set, split, seed, limit, token limit, versions, command line, wall time.
        strategies: Strategy names in the order run.
        metrics: :class:`~formbound.measure.metrics.StrategyMetrics` per strategy name.
        records: Every record (not written to report.json; the generation cache holds them).

    Rendering lives in :mod:`formbound.measure.report` (:func:`~formbound.measure.report.markdown`,
    :func:`~formbound.measure.report.write_report`).
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
        return cls(
            meta=dict(data.get("meta", {})),
            strategies=list(data["strategies"]),
            metrics={k: StrategyMetrics.from_dict(v) for k, v in data["metrics"].items()},
        )

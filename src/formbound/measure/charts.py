"""PNG charts of a report: validity and accuracy per strategy, latency per strategy.

Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``: the
process's matplotlib backend (a notebook's, say) is left alone. matplotlib is optional
(``formbound[report]``); without it :func:`available` is false and reports are written without charts.

Every bar carries its value as a label, and a bar at 0 gets a marker on the axis, so "0 %" is visible
rather than a missing bar. The legend sits below the plot, where it covers no bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.measure.eval_report import EvalReport
from formbound.measure.metrics import Rate

__all__ = ["available", "latency_chart", "latency_figure", "validity_chart", "validity_figure"]

_VALIDITY_SERIES = (
    ("syntax valid", "syntax_valid", "#9ecae1"),
    ("schema valid", "schema_valid", "#3182bd"),
    ("whole answer right", "correct", "#31a354"),
)


def available() -> bool:
    """Whether matplotlib is installed (charts are skipped otherwise)."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> None:
    write_atomic(path, lambda p: fig.savefig(p, dpi=110, format="png", bbox_inches="tight"))


def _column_label(tag: str, name: str) -> str:
    """``adapter:runs/x/adapter+constrained`` → ``adapter (adapter)\n+constrained``: paths overflow a tick."""
    if name.startswith("adapter:"):
        path, plus, rest = name[len("adapter:") :].partition("+")
        name = f"adapter ({Path(path).name})" + (f"\n+{rest}" if plus else "")
    return f"{tag}\n{name}" if tag else name


def _bar(
    ax: Any,
    x: float,
    value: float | None,
    width: float,
    label: str,
    color: str,
    *,
    text: str,
    err: Any = None,
) -> None:
    """One bar with its value written above it; a zero bar gets a marker on the axis."""
    height = value or 0.0
    ax.bar([x], [height], width, yerr=err, capsize=3, label=label, color=color, edgecolor="#555555", lw=0.4)
    if height == 0.0:
        ax.plot([x], [0.0], marker="^", color=color, markeredgecolor="#333333", ms=6, clip_on=False, zorder=5)
    above = height if err is None else max(height, height + err[1][0])
    ax.annotate(
        text,
        (x, above),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=6.5,
        rotation=90 if width < 0.22 else 0,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _rate_bar(ax: Any, x: float, rate: Rate, width: float, label: str, color: str) -> None:
    value = rate.value or 0.0
    lo, hi = rate.interval
    err = [[max(0.0, value - lo)], [max(0.0, hi - value)]] if rate.n else None
    _bar(ax, x, value, width, label, color, text=_pct(rate.value), err=err)


def _legend_below(ax: Any, ncol: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=ncol,
        fontsize=8,
        frameon=False,
    )


def validity_chart(reports: Sequence[tuple[str, EvalReport]], path: Path) -> Path:
    """Write :func:`validity_figure` as a PNG at ``path``."""
    _save(validity_figure(reports), path)
    return path


def latency_chart(reports: Sequence[tuple[str, EvalReport]], path: Path) -> Path:
    """Write :func:`latency_figure` as a PNG at ``path``."""
    _save(latency_figure(reports), path)
    return path


def validity_figure(reports: Sequence[tuple[str, EvalReport]]) -> Any:
    """Syntax/schema validity, whole-answer accuracy (with 95 % intervals) and field accuracy per column."""
    columns = [(tag, name, rep.metrics[name]) for tag, rep in reports for name in rep.strategies]
    with_fields = any(m.field_accuracy is not None for _, _, m in columns)
    slots = len(_VALIDITY_SERIES) + int(with_fields)
    fig, ax = _figure(max(6.0, 1.6 * len(columns) + 2), 4.8)
    width = 0.8 / slots
    offset = (slots - 1) / 2
    for i, (_tag, _name, m) in enumerate(columns):
        for j, (label, attr, color) in enumerate(_VALIDITY_SERIES):
            _rate_bar(ax, i + (j - offset) * width, getattr(m, attr), width, label if i == 0 else "_", color)
        if with_fields:  # a share of fields, not of items: no interval
            _bar(
                ax,
                i + (len(_VALIDITY_SERIES) - offset) * width,
                m.field_accuracy,
                width,
                "field accuracy" if i == 0 else "_",
                "#a1d99b",
                text=_pct(m.field_accuracy),
            )
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([_column_label(tag, name) for tag, name, _ in columns], fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0%", "25%", "50%", "75%", "100%"])
    ax.set_ylabel("share of items (95% Wilson interval)")
    first = reports[0][1]
    ax.set_title(f"{first.meta.get('task_set', {}).get('name', '')}: validity and accuracy per strategy")
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax, slots)
    return fig


def latency_figure(reports: Sequence[tuple[str, EvalReport]]) -> Any:
    """Median and 95th-percentile seconds per item, per column."""
    columns = [(tag, name, rep.metrics[name]) for tag, rep in reports for name in rep.strategies]
    fig, ax = _figure(max(6.0, 1.2 * len(columns) + 2), 4.4)
    width = 0.38
    top = max([m.latency_p95 or 0.0 for _, _, m in columns] + [1e-9])
    for i, (_tag, _name, m) in enumerate(columns):
        for k, (label, value, color) in enumerate(
            (("p50", m.latency_p50, "#fd8d3c"), ("p95", m.latency_p95, "#e6550d"))
        ):
            text = "n/a" if value is None else f"{value:.2f}s"
            _bar(ax, i + (k - 0.5) * width, value, width, label if i == 0 else "_", color, text=text)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([_column_label(tag, name) for tag, name, _ in columns], fontsize=8)
    ax.set_ylim(0, top * 1.18)
    ax.set_ylabel("seconds per item")
    ax.set_title("latency per strategy")
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax, 2)
    return fig

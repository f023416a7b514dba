"""Report files: report.json (every number), report.md (tables) and PNG charts; re-render and compare.

Every file is written to a temporary file beside its target and moved into place, so a crash never
leaves a half-written report.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError
from formbound.measure import charts
from formbound.measure.eval_report import EvalReport
from formbound.measure.metrics import Rate, StrategyMetrics

__all__ = ["CHARTS", "compare", "load_report", "markdown", "render", "write_report"]

log = logging.getLogger(__name__)

#: Chart files written beside report.json.
CHARTS = ("validity.png", "latency.png")


# --------------------------------------------------------------------------------------------- io
def _write_text(path: Path, text: str) -> Path:
    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    return write_atomic(path, write)


def load_report(folder: str | os.PathLike[str]) -> EvalReport:
    """The :class:`EvalReport` stored in ``folder/report.json`` (without per-item records)."""
    path = Path(folder) / "report.json"
    if not path.is_file():
        raise ConfigError(f"no report.json in {str(folder)!r}; run `formbound eval ... --out {folder}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EvalReport.from_dict(data)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{str(path)!r} is not a formbound report: {exc}") from exc


# ---------------------------------------------------------------------------------------- markdown
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows
    ]
    return lines


def _main_rows(report: EvalReport) -> list[list[str]]:
    rows = []
    for name in report.strategies:
        m = report.metrics[name]
        rows.append(
            [
                f"`{name}`",
                str(m.n),
                str(m.syntax_valid),
                str(m.schema_valid),
                str(m.correct),
                _pct(m.field_accuracy),
                _pct(m.truncated.value),
                str(m.forced_close.k),
                str(m.reasks),
                _num(m.latency_p50),
                _num(m.latency_p95),
                _num(m.tokens_per_second, "{:.1f}"),
                _num(m.overhead_vs_raw, "{:.2f}×"),
            ]
        )
    return rows


MAIN_HEADER = (
    "strategy",
    "n",
    "syntax valid",
    "schema valid [95% CI]",
    "accuracy [95% CI]",
    "field acc.",
    "truncated",
    "forced close",
    "re-asks",
    "p50 s",
    "p95 s",
    "tok/s",
    "vs raw",
)


def markdown(report: EvalReport) -> str:
    """The report as Markdown: the main table, error taxonomy, causes of wrong values, per-field scores."""
    meta = report.meta
    ts = meta.get("task_set", {})
    model = meta.get("model", {})
    fmt = ts.get("format", "?")
    acc_note = (
        "accuracy = same result rows as the gold query (execution accuracy)"
        if fmt == "sql"
        else "accuracy = whole answer equals gold; field acc. = share of gold fields matched"
    )
    lines = [
        f"# {ts.get('name', '?')} — {model.get('name', '?')}",
        "",
        f"{meta.get('items', '?')} items of split `{meta.get('split', '?')}`, seed {meta.get('seed', '?')}, "
        f"max {meta.get('max_new_tokens', '?')} new tokens; {acc_note}. Intervals are 95% Wilson; "
        "latency is seconds per item (all attempts).",
        "",
        *_table(MAIN_HEADER, _main_rows(report)),
        "",
        "## Errors (final answers that failed)",
        "",
    ]
    err_rows = []
    for name in report.strategies:
        for e in report.metrics[name].errors[:5]:
            err_rows.append(
                [f"`{name}`", e.stage, e.kind, str(e.count), e.example_task, e.example_message[:140]]
            )
    lines += (
        _table(("strategy", "stage", "kind", "count", "example", "message"), err_rows)
        if err_rows
        else ["none"]
    )
    lines += ["", "## Wrong values in valid answers", ""]
    lines += [
        "`missing information`: the gold value is not in the input (retrieval or context would fix it); "
        "`behaviour`: it is there but was misplaced or misformatted (prompting, constraints or fine-tuning "
        "fix it).",
        "",
    ]
    cause_rows = []
    for name in report.strategies:
        m = report.metrics[name]
        mi = m.wrong_causes.get("missing_information", 0)
        be = m.wrong_causes.get("behaviour", 0)
        ex = m.wrong_examples.get("behaviour") or m.wrong_examples.get("missing_information") or {}
        example = (
            f"{ex.get('task')} {ex.get('path') or ''}: gold {json.dumps(ex.get('gold'))[:60]}, "
            f"got {json.dumps(ex.get('pred'))[:60]}"
            if ex
            else "–"
        )
        cause_rows.append([f"`{name}`", str(mi), str(be), example])
    lines += _table(("strategy", "missing information", "behaviour", "example"), cause_rows)
    fields = sorted({f for name in report.strategies for f in report.metrics[name].per_field})
    if fields:
        lines += ["", "## Per-field accuracy", ""]
        rows = [
            [
                f"`{f}`",
                *[_pct(report.metrics[n].per_field.get(f, Rate(0, 0)).value) for n in report.strategies],
            ]
            for f in fields
        ]
        lines += _table(("field", *[f"`{n}`" for n in report.strategies]), rows)
    versions = meta.get("versions", {})
    model_facts = ", ".join(f"{k}={v}" for k, v in model.items() if k != "name")
    generated = meta.get("generated_items", "?")
    lines += [
        "",
        "## Run",
        "",
        f"- model: `{model.get('name', '?')}` ({model_facts})",
        f"- task set: `{ts.get('path', ts.get('name', '?'))}` (hash {ts.get('hash', '?')})",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items() if v)}",
        *_generation_line(meta),
        f"- this run: {meta.get('wall_seconds', '?')} s wall ({generated} items generated, "
        "the rest from the cache)",
        f"- command: `{meta.get('command', '?')}`",
        "",
    ]
    return "\n".join(lines)


def _generation_line(meta: dict[str, Any]) -> list[str]:
    # reports written before generation_seconds existed only have the run's wall time
    if "generation_seconds" not in meta:
        return []
    return [
        f"- generation time: {meta['generation_seconds']} s summed over every answer, as measured when it "
        "was generated"
    ]


# ------------------------------------------------------------------------------------------- write
def write_report(report: EvalReport, folder: str | os.PathLike[str]) -> list[Path]:
    """Write report.json, report.md, validity.png and latency.png into ``folder``; return the paths.

    The charts need matplotlib (``formbound[report]``); without it they are skipped with a warning.
    """
    out = Path(folder)
    written = [
        _write_text(
            out / "report.json",
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
        ),
        _write_text(out / "report.md", markdown(report)),
    ]
    if not charts.available():
        log.warning(
            "matplotlib is not installed: %s written without charts (pip install 'formbound[report]')", out
        )
        return written
    pairs = [("", report)]
    written.append(charts.validity_chart(pairs, out / CHARTS[0]))
    written.append(charts.latency_chart(pairs, out / CHARTS[1]))
    return written


def render(folder: str | os.PathLike[str]) -> EvalReport:
    """Re-render report.md and the charts of ``folder`` from its report.json; return the report."""
    report = load_report(folder)
    write_report(report, folder)
    return report


def compare(
    folder_a: str | os.PathLike[str],
    folder_b: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
) -> str:
    """Two reports side by side as Markdown; with ``out``, also compare.md and compare.png there.

    Strategies present in both reports are shown with the difference in schema validity and accuracy
    (B − A, in percentage points).
    """
    a, b = load_report(folder_a), load_report(folder_b)
    tag_a, tag_b = Path(folder_a).name or "A", Path(folder_b).name or "B"
    if tag_a == tag_b:
        tag_a, tag_b = f"A:{tag_a}", f"B:{tag_b}"
    names = list(dict.fromkeys([*a.strategies, *b.strategies]))
    header = (
        "strategy",
        f"schema valid {tag_a}",
        f"schema valid {tag_b}",
        "Δ pp",
        f"accuracy {tag_a}",
        f"accuracy {tag_b}",
        "Δ pp",
        f"p50 s {tag_a}",
        f"p50 s {tag_b}",
    )
    rows = [_compare_row(name, a.metrics.get(name), b.metrics.get(name)) for name in names]

    def describe(tag: str, r: EvalReport) -> str:
        ts_name = r.meta.get("task_set", {}).get("name", "?")
        model_name = r.meta.get("model", {}).get("name", "?")
        m = r.meta
        return (
            f"- {tag}: {ts_name} on {model_name}, split {m.get('split')}, "
            f"{m.get('items')} items, seed {m.get('seed')}"
        )

    text = "\n".join(
        ["# Comparison", "", describe(tag_a, a), describe(tag_b, b), "", *_table(header, rows), ""]
    )
    if out is not None:
        folder = Path(out)
        _write_text(folder / "compare.md", text)
        if charts.available():
            charts.validity_chart([(tag_a, a), (tag_b, b)], folder / "compare.png")
        else:
            log.warning("matplotlib is not installed: compare.png skipped (pip install 'formbound[report]')")
    return text


def _compare_row(name: str, ma: StrategyMetrics | None, mb: StrategyMetrics | None) -> list[str]:
    def cell(m: StrategyMetrics | None, attr: str) -> str:
        return str(getattr(m, attr)) if m else "–"

    def delta(attr: str) -> str:
        if ma is None or mb is None:
            return "–"
        va, vb = getattr(ma, attr).value, getattr(mb, attr).value
        return "–" if va is None or vb is None else f"{100 * (vb - va):+.0f}"

    return [
        f"`{name}`",
        cell(ma, "schema_valid"),
        cell(mb, "schema_valid"),
        delta("schema_valid"),
        cell(ma, "correct"),
        cell(mb, "correct"),
        delta("correct"),
        _num(ma.latency_p50 if ma else None),
        _num(mb.latency_p50 if mb else None),
    ]

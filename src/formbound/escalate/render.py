"""The decision as text: the terminal summary, ``decision.md`` and ``decision.json``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound._atomic import write_atomic
from formbound.errors import DependencyError

if TYPE_CHECKING:
    from formbound.escalate.decision import Decision

__all__ = ["forced_notes", "markdown", "settle_advice", "summary", "write_decision"]

_HEADS = {
    "cheap_rung": "a cheap rung meets the target",
    "missing_information": "failures are mostly missing information: add retrieval/context",
    "adapter_promoted": "the adapter wins: promoted",
    "adapter_rejected": "the adapter was trained but not promoted",
    "insufficient_evidence": "insufficient evidence: measure more test items before deciding",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _interval(iv: Any) -> str:
    return "" if not iv else f" [{iv[0]:.0%}–{iv[1]:.0%}]"


def _num(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def forced_notes(d: Decision) -> list[str]:
    """One sentence per measured rung whose answers include forced closes.

    A forced close is a valid answer (the rung counts it as valid) that the budget guard closed with the
    shortest completion near the token limit: the model did not finish it by itself.
    """
    rungs = {**d.baseline, **(d.adapter or {})}
    return [
        f"`{name}`: {r['forced_close']} of {r['n']} answers were forced closed near the token limit "
        "(counted as valid; the model did not finish them, accuracy counts what they hold)"
        for name, r in rungs.items()
        if r.get("forced_close")
    ]


def summary(d: Decision) -> str:
    """A few lines for a terminal: the outcome, the strategy, the reasons with tests and p-values."""
    lines = [f"decision: {_HEADS[d.outcome]}", f"recommended strategy: {d.recommended}"]
    lines += [f"- {r}" for r in d.reasons]
    lines += [f"- {note}" for note in forced_notes(d)]
    if d.evidence.get("advice"):
        lines.append(f"to settle it: {d.evidence['advice']}")
    if d.cost and d.cost.get("budget"):
        lines.append(f"cost: {d.cost['budget']}")
    if d.adapter_path:
        lines.append(f"adapter: {d.adapter_path}")
    if "total" in d.seconds:
        lines.append(f"wall time: {d.seconds['total']:.0f} s")
    return "\n".join(lines)


def _rows(numbers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [
        f"| `{name}` | {_pct(r['validity'])} ({r['valid']}/{r['n']})"
        f"{_interval(r.get('validity_interval'))} | "
        f"{_pct(r['accuracy'])}{_interval(r.get('accuracy_interval'))} | "
        f"{_pct(r['correct'])} | {r['truncated']} | {r['missing_information']} | {r['behaviour']} | "
        f"{_num(r.get('mean_seconds'), '.2f')} | {_num(r.get('mean_tokens'), '.1f')} |"
        for name, r in numbers.items()
    ]


def _comparison_rows(comparisons: Mapping[str, Mapping[str, Any]]) -> list[str]:
    rows = [
        "| metric | adapter | baseline | difference [interval] | test | p-value | verdict at alpha |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in comparisons.values():
        lo, hi = c["interval"]
        rows.append(
            f"| {c['metric'].replace('_', ' ')} | {c['a']:.0%} | {c['b']:.0%} | "
            f"{c['difference']:+.0%} [{lo:+.0%}, {hi:+.0%}] | {c['test']} | {c['p_value']:.3g} | "
            f"{c['verdict']} (alpha {c['alpha']:g}) |"
        )
    return rows


def _cost_lines(d: Decision) -> list[str]:
    c = d.cost or {}
    lines = ["", "## Cost", ""]
    if c.get("budget"):
        lines += [f"**{c['budget']}**", ""]
    t = c.get("training") or {}
    if t:
        peak = t.get("peak_memory_mb")
        lines.append(
            f"Training: {_num(t.get('seconds'), '.0f')} s wall time on {t.get('device', '?')}, "
            f"peak memory {_num(peak, '.0f')} MB ({t.get('peak_memory_source', '?')}), "
            f"adapter {_num(t.get('adapter_mb'), '.2f')} MB on disk."
        )
    r = c.get("regression")
    if r:
        lines.append(
            f"Regression check beside it: perplexity ×{_num(r.get('ppl_ratio'), '.3f')}, general answers in "
            f"the trained format {_pct(r.get('base_format_leak'))} → {_pct(r.get('adapter_format_leak'))}, "
            f"overlap with base answers {_num(r.get('mean_overlap'), '.2f')}"
            + (f"; flags: {'; '.join(r['flags'])}" if r.get("flags") else "; no flags")
            + "."
        )
    lines.append("Per-item latency and tokens of each rung are in the table above (s/item, tokens/item).")
    return lines


def markdown(d: Decision) -> str:
    """The decision report (``decision.md``)."""
    alpha = d.evidence.get("alpha")
    lines = [
        "# Escalation decision",
        "",
        f"**{d.outcome.replace('_', ' ')}** — recommended strategy: `{d.recommended}`",
        "",
        *[f"- {r}" for r in d.reasons],
    ]
    if d.evidence.get("advice"):
        lines += ["", f"**To settle it:** {d.evidence['advice']}"]
    lines += [
        "",
        f"Model `{d.meta.get('model')}`, task set `{d.meta.get('task_set')}` "
        f"(spec {d.meta.get('spec_hash')}), split `test` ({d.evidence.get('test_items', '?')} items in the "
        f"split, limit {d.meta.get('limit')}), seed {d.meta.get('seed')}, target validity {d.target:.0%}"
        + (f", accuracy target {d.meta['accuracy_target']:.0%}" if d.meta.get("accuracy_target") else "")
        + (f", alpha {alpha:g}" if alpha is not None else "")
        + ".",
        "",
        "## Measured on the test split",
        "",
        "| strategy | schema valid [95% CI] | accuracy [95% CI] | whole answer | truncated "
        "| wrong: missing info | wrong: behaviour | s/item | tokens/item |",
        "|---|---|---|---|---|---|---|---|---|",
        *_rows(d.baseline),
        *(_rows(d.adapter) if d.adapter else []),
        "",
        "Accuracy is field accuracy over all items (an invalid answer scores nothing). Intervals: Wilson "
        "(scipy.stats.binomtest); a rung reaches a target only when the lower bound does.",
    ]
    notes = forced_notes(d)
    if notes:
        lines += ["", "Forced closes:", "", *[f"- {note}." for note in notes]]
    if d.comparisons:
        lines += ["", "## Paired comparison (same test items)", "", *_comparison_rows(d.comparisons)]
    if d.failure_causes:
        c = d.failure_causes
        lines += [
            "",
            f"Failures of the best cheap rung: {c['invalid_answers']} invalid answers, "
            f"{c['wrong_values_in_input']} wrong values present in the input, "
            f"{c['missing_information']} values missing from the input "
            f"(missing-information share {c['missing_share']:.0%}).",
        ]
    if d.cost:
        lines += _cost_lines(d)
    if d.learning_curve:
        lc = d.learning_curve
        lines += [
            "",
            "## Learning curve (data sufficiency)",
            "",
            f"**{lc['verdict']}**",
            "",
            "| share of data | records | schema valid [95% CI] | accuracy [95% CI] |",
            "|---|---|---|---|",
            *[
                f"| {p['fraction']:.0%} | {p['records']} | "
                f"{_pct(p['validity'])}{_interval(p['validity_interval'])} "
                f"| {_pct(p['accuracy'])}{_interval(p['accuracy_interval'])} |"
                for p in lc["points"]
            ],
        ]
        if lc.get("chart"):
            lines += ["", f"![learning curve]({lc['chart']})"]
    if d.regression:
        from formbound.escalate.regression import RegressionReport

        r = {k: v for k, v in d.regression.items() if k != "passed"}
        lines += ["", "## Regression check", "", RegressionReport(**r).markdown(), ""]
        for a in d.regression.get("answers", [])[:3]:
            lines.append(f"- *{a['prompt']}* — base: {a['base'][:80]!r}; adapter: {a['adapter'][:80]!r}")
    if d.dataset:
        s = d.dataset["sources"]
        lines += [
            "",
            "## Dataset",
            "",
            f"{d.dataset['records']} records (spec {d.dataset['spec_hash']}, "
            f"sha256 {d.dataset['dataset_sha256'][:12]}…); "
            + ", ".join(f"{k}: {v['kept']} kept of {v['offered']} offered" for k, v in s.items()),
        ]
        if d.dataset.get("note"):
            lines[-1] += ". " + d.dataset["note"]
        if d.dataset.get("token_lengths"):
            tl = d.dataset["token_lengths"]["total"]
            lines[-1] += f"; tokens per record {tl['min']}–{tl['max']} (mean {tl['mean']})."
    if d.training:
        t = d.training
        lines += [
            "",
            "## Training",
            "",
            f"{t.get('steps')} steps on {t.get('examples')} examples in {t.get('train_seconds')} s; "
            f"loss {t.get('first_loss')} → {t.get('final_loss')}.",
        ]
        if t.get("config"):
            cfg = t["config"]
            lines.append(
                f"LoRA r={cfg.get('r')}, alpha={cfg.get('lora_alpha')}, modules {cfg.get('target_modules')}, "
                f"lr {cfg.get('learning_rate')}, epochs {cfg.get('epochs')}, batch {cfg.get('batch_size')}."
            )
    if d.adapter_path:
        lines += ["", f"Promoted adapter: `{d.adapter_path}` (a standard PEFT folder)."]
    if d.adapter:
        lines += ["", "![validity before and after](compare.png)"]
    lines += [
        "",
        "## Time",
        "",
        ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in d.seconds.items()),
        "",
        f"Command: `{d.meta.get('command')}`",
        "",
    ]
    return "\n".join(lines)


def write_decision(decision: Decision, out: Path) -> None:
    """Write ``decision.json``, the before/after charts (when an adapter was measured) and ``decision.md``."""
    write_atomic(
        out / "decision.json",
        json.dumps(decision.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
    )
    if (
        decision.adapter
        and (out / "baseline" / "report.json").is_file()
        and (out / "adapter_eval" / "report.json").is_file()
    ):
        from formbound.measure.report import compare

        try:
            compare(out / "baseline", out / "adapter_eval", out=out)
        except DependencyError as exc:
            decision.reasons.append(f"charts skipped: {exc}")
    write_atomic(out / "decision.md", decision.markdown())


def settle_advice(needed: int | None, measured: int, available: int, command: str) -> str:
    """What to run so that a comparison or a target is settled, given the items it needs.

    >>> settle_advice(30, 8, 40, "formbound escalate --tasks t --out o --limit 8")
    'measure 30 test items (22 more): `formbound escalate --tasks t --out o --limit 30`'
    >>> settle_advice(60, 40, 40, "formbound escalate --tasks t --out o")
    'measure 60 test items: the test split has 40, so add 20 items with "split": "test" to the task set\
 and rerun `formbound escalate --tasks t --out o`'
    """
    if needed is None:
        return (
            "the observed difference is zero or the rate does not exceed the target: no number of test items "
            "would settle it at these rates; improve the rung, or lower the target"
        )
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    kept: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
            continue
        if w == "--limit":
            skip = True
            continue
        if not w.startswith("--limit="):
            kept.append(w)
    if needed <= available:
        more = f" ({needed - measured} more)" if needed > measured else ""
        return f"measure {needed} test items{more}: `{shlex.join([*kept, '--limit', str(needed)])}`"
    return (
        f"measure {needed} test items: the test split has {available}, so add {needed - available} items "
        f'with "split": "test" to the task set and rerun `{shlex.join(kept)}`'
    )

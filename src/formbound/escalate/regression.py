"""Regression check: did the adapter hurt everything that is not the target format?

Two measurements, each taken with and without the adapter on the same base model:

* perplexity on a bundled set of short general paragraphs (``formbound/data/general_text.jsonl``,
  written for this repository) — a language-modelling regression shows up as a higher ratio;
* greedy answers to a few general prompts: the share that comes out in the trained format (an
  adapter that starts answering "What is the capital of France?" with JSON — the typical damage of
  format fine-tuning), and their token overlap (F1 over word multisets) with the base model's answers.

An adapter passes when the perplexity ratio and the format-leak increase stay within
:class:`RegressionThresholds`; every breach is listed in :attr:`RegressionReport.flags`. Token overlap
is reported but gates nothing by default: greedy answers of a small model drift a long way under any
weight change (0.44 measured on an adapter whose general answers were all still prose), so a fixed
overlap limit measures drift, not damage. Set ``min_overlap`` to gate on it anyway.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError

__all__ = [
    "RegressionReport",
    "RegressionThresholds",
    "general_set",
    "in_format",
    "judge",
    "perplexity",
    "regression_check",
    "token_overlap",
]


@dataclass(frozen=True)
class RegressionThresholds:
    """Limits past which an adapter is flagged.

    Attributes:
        max_ppl_ratio: Highest allowed perplexity with the adapter divided by perplexity without it.
        max_format_leak: Highest allowed increase (0–1) in the share of general answers that come out
            in the trained format (with adapter minus without).
        min_overlap: Lowest allowed mean token overlap (F1, 0–1) between adapter and base answers
            (0 = report only).
    """

    max_ppl_ratio: float = 1.15
    max_format_leak: float = 0.2
    min_overlap: float = 0.0

    def __post_init__(self) -> None:
        if self.max_ppl_ratio < 1:
            raise ConfigError(
                f"max_ppl_ratio must be >= 1 (a ratio to the base model), got {self.max_ppl_ratio}"
            )
        if not 0 <= self.min_overlap <= 1:
            raise ConfigError(f"min_overlap must be within 0..1, got {self.min_overlap}")
        if not 0 <= self.max_format_leak <= 1:
            raise ConfigError(f"max_format_leak must be within 0..1, got {self.max_format_leak}")


@dataclass
class RegressionReport:
    """Figures of one regression check.

    Attributes:
        base_ppl / adapter_ppl: Perplexity on the general texts without / with the adapter.
        ppl_ratio: ``adapter_ppl / base_ppl``.
        overlaps: Per general prompt: token overlap (F1) of the adapter's answer with the base answer.
        mean_overlap: Their mean.
        answers: Per prompt: ``{"prompt", "base", "adapter", "overlap"}``.
        thresholds: The thresholds applied.
        flags: One line per threshold breached (empty when the adapter passed).
    """

    base_ppl: float
    adapter_ppl: float
    ppl_ratio: float
    overlaps: list[float]
    mean_overlap: float
    answers: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    texts: int = 0
    base_format_leak: float = 0.0
    adapter_format_leak: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def markdown(self) -> str:
        lines = [
            "| measure | without adapter | with adapter | threshold | verdict |",
            "|---|---|---|---|---|",
            f"| perplexity on {self.texts} general paragraphs | {self.base_ppl:.2f} | {self.adapter_ppl:.2f} "
            f"(×{self.ppl_ratio:.3f}) | ≤ ×{self.thresholds.get('max_ppl_ratio', 0):.2f} | "
            f"{'ok' if self.ppl_ratio <= self.thresholds.get('max_ppl_ratio', math.inf) else 'FLAG'} |",
            f"| answers to {len(self.overlaps)} general prompts: share in the trained format | "
            f"{self.base_format_leak:.2f} | {self.adapter_format_leak:.2f} | "
            f"≤ +{self.thresholds.get('max_format_leak', 1):.2f} | "
            f"{'ok' if leak_ok(self) else 'FLAG'} |",
            f"| answers to {len(self.overlaps)} general prompts: token overlap with base | 1.00 | "
            f"{self.mean_overlap:.2f} | ≥ {self.thresholds.get('min_overlap', 0):.2f} | "
            f"{'ok' if self.mean_overlap >= self.thresholds.get('min_overlap', 0) else 'FLAG'} |",
        ]
        return "\n".join(lines)


def leak_ok(report: RegressionReport) -> bool:
    limit = report.thresholds.get("max_format_leak", 1.0)
    return report.adapter_format_leak - report.base_format_leak <= limit + 1e-9


def in_format(text: str, spec: Any) -> bool:
    """True when a general answer came out in ``spec``'s format (a fenced block, a JSON/YAML
    container, a SQL statement) rather than as prose."""
    from formbound.errors import EnforcementError

    body = text.strip()
    if body.startswith("```"):
        return True
    if not body:
        return False
    try:
        value = spec.parse(body)
    except EnforcementError:
        return False
    if spec.format == "json":
        return isinstance(value, (dict, list))
    if spec.format == "yaml":  # one "Note: text" line is prose that happens to be YAML
        return isinstance(value, (dict, list)) and "\n" in body
    return True


def general_set(path: str | Path | None = None) -> tuple[list[str], list[str]]:
    """(paragraphs, prompts) of the bundled general-text set, or of a JSONL file in the same shape."""
    if path is None:
        text = resources.files("formbound").joinpath("data/general_text.jsonl").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    texts, prompts = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("kind") == "text":
            texts.append(str(row["text"]))
        elif row.get("kind") == "prompt":
            prompts.append(str(row["prompt"]))
        else:
            raise ConfigError(
                f"general-text line {n}: kind must be 'text' or 'prompt', got {row.get('kind')!r}"
            )
    return texts, prompts


_WORD = re.compile(r"\w+", re.UNICODE)


def token_overlap(a: str, b: str) -> float:
    """F1 overlap of the word multisets of two texts (1.0 for two empty texts).

    >>> token_overlap("the cat sat", "the cat ran")
    0.6666666666666666
    """
    ta, tb = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    if not ta and not tb:
        return 1.0
    common = sum((ta & tb).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(ta.values()), common / sum(tb.values())
    return 2 * precision * recall / (precision + recall)


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 16) -> float:
    """Token-weighted perplexity of a causal LM over ``texts`` (each scored on its own).

    Texts are scored ``batch_size`` at a time, right-padded with an attention mask, the padding left out
    of the loss: the same number as one text at a time (a test checks it), in far fewer forward passes
    (the bundled set's 30 short paragraphs: 9.0 s → 4.1 s per model on 2 CPU cores, BENCHMARKS.md §5c).
    """
    import torch

    if not texts:
        raise ConfigError("perplexity needs at least one text")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    encoded = [ids for ids in encoded if len(ids) >= 2]
    if not encoded:
        raise ConfigError("perplexity needs texts of at least two tokens")
    encoded.sort(key=len)  # similar lengths together: less padding
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total_nll, total_tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            batch = encoded[i : i + batch_size]
            width = max(len(ids) for ids in batch)
            input_ids = torch.full((len(batch), width), int(pad or 0), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, ids in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                mask[row, : len(ids)] = 1
            input_ids, mask = input_ids.to(device), mask.to(device)
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
            target = input_ids[:, 1:]
            keep = mask[:, 1:].bool()
            nll = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
            total_nll += float(nll)
            total_tokens += int(keep.sum())
    return math.exp(total_nll / total_tokens)


def judge(
    base_ppl: float,
    adapter_ppl: float,
    overlaps: Sequence[float],
    thresholds: RegressionThresholds,
    base_leak: float = 0.0,
    adapter_leak: float = 0.0,
) -> tuple[float, float, list[str]]:
    """(ppl ratio, mean overlap, flags) for measured figures — the decision, without any model."""
    if base_ppl <= 0 or adapter_ppl <= 0:
        raise ConfigError(f"perplexities must be positive, got {base_ppl} and {adapter_ppl}")
    ratio = adapter_ppl / base_ppl
    mean = sum(overlaps) / len(overlaps) if overlaps else 1.0
    flags = []
    if ratio > thresholds.max_ppl_ratio:
        flags.append(
            f"perplexity on general text rose ×{ratio:.3f} ({base_ppl:.2f} → {adapter_ppl:.2f}), "
            f"over the limit ×{thresholds.max_ppl_ratio:.2f}"
        )
    if adapter_leak - base_leak > thresholds.max_format_leak + 1e-9:
        flags.append(
            f"general prompts answered in the trained format: {adapter_leak:.0%} with the adapter vs "
            f"{base_leak:.0%} without, over the allowed increase {thresholds.max_format_leak:.0%}"
        )
    if mean < thresholds.min_overlap:
        flags.append(
            f"answers to general prompts changed: mean token overlap with the base model {mean:.2f}, "
            f"under the limit {thresholds.min_overlap:.2f}"
        )
    return ratio, mean, flags


def regression_check(
    model: Any,
    adapter: str | Path,
    *,
    thresholds: RegressionThresholds | None = None,
    general_text: str | Path | None = None,
    max_new_tokens: int = 40,
    spec: Any = None,
) -> RegressionReport:
    """Measure perplexity and general answers with and without ``adapter`` on a formbound model.

    Args:
        model: A model with ``set_adapter`` and ``active_weights`` (:func:`formbound.models.load` of a
            local model).
        adapter: The adapter folder.
        thresholds: Limits (defaults of :class:`RegressionThresholds` when omitted).
        general_text: A JSONL file in the bundled set's shape, instead of the bundled set.
        max_new_tokens: Length of each general answer.
        spec: The spec the adapter was trained for; general answers in its format count as a leak.

    Returns:
        A :class:`RegressionReport`; the model is back on its base weights (no adapter) afterwards.
    """
    if not callable(getattr(model, "set_adapter", None)) or not callable(
        getattr(model, "active_weights", None)
    ):
        raise ConfigError(
            f"model {getattr(model, 'name', model)!r} cannot switch adapters and score text "
            "(needs set_adapter and active_weights); load a local model with formbound.models.load"
        )
    thresholds = thresholds or RegressionThresholds()
    texts, prompts = general_set(general_text)
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    try:
        model.set_adapter(None)
        base_answers = [g.text for g in model.generate(conversations, max_new_tokens=max_new_tokens)]
        model.set_adapter(str(adapter))
        merged = getattr(model, "merged_adapter", None)  # peft's unmerged LoRA layers are slow on CPU
        with merged() if callable(merged) else contextlib.nullcontext():
            adapter_answers = [g.text for g in model.generate(conversations, max_new_tokens=max_new_tokens)]
            with model.active_weights() as hf:
                adapter_ppl = perplexity(hf, model.tokenizer, texts)
        model.set_adapter(None)  # the adapter stays loaded; the model switches it off
        with model.active_weights() as hf:
            base_ppl = perplexity(hf, model.tokenizer, texts)
    finally:
        model.set_adapter(None)
    overlaps = [token_overlap(a, b) for a, b in zip(adapter_answers, base_answers, strict=False)]
    base_leak = adapter_leak = 0.0
    if spec is not None and prompts:
        base_leak = sum(in_format(a, spec) for a in base_answers) / len(prompts)
        adapter_leak = sum(in_format(a, spec) for a in adapter_answers) / len(prompts)
    ratio, mean, flags = judge(base_ppl, adapter_ppl, overlaps, thresholds, base_leak, adapter_leak)
    answers = [
        {"prompt": p, "base": b, "adapter": a, "overlap": round(o, 3)}
        for p, b, a, o in zip(prompts, base_answers, adapter_answers, overlaps, strict=False)
    ]
    return RegressionReport(
        base_ppl=round(base_ppl, 4),
        adapter_ppl=round(adapter_ppl, 4),
        ppl_ratio=round(ratio, 4),
        overlaps=[round(o, 4) for o in overlaps],
        mean_overlap=round(mean, 4),
        answers=answers,
        thresholds=asdict(thresholds),
        flags=flags,
        texts=len(texts),
        base_format_leak=round(base_leak, 4),
        adapter_format_leak=round(adapter_leak, 4),
    )

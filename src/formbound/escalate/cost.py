"""What fine-tuning costs, measured: training wall time, peak memory, adapter size, per-item cost."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "budget_line",
    "device_name",
    "fine_tuning_cost",
    "folder_mb",
    "peak_memory_mb",
    "training_run_cost",
]


def folder_mb(folder: str | os.PathLike[str], *, skip: tuple[str, ...] = ("checkpoint",)) -> float:
    """Megabytes of the files of an adapter folder (checkpoints, kept only to resume, left out)."""
    total = 0
    root = Path(folder)
    if not root.is_dir():
        return 0.0
    for p in root.rglob("*"):
        if p.is_file() and not any(part.startswith(skip) for part in p.relative_to(root).parts):
            total += p.stat().st_size
    return total / 1e6


def peak_memory_mb() -> tuple[float | None, str]:
    """The peak memory so far and where it comes from: the accelerator's peak allocation when torch
    uses CUDA, else the process's peak resident set size (``resource.getrusage``)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 1e6, "torch.cuda.max_memory_allocated"
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None, "unavailable"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1e6 if sys.platform == "darwin" else 1e3  # bytes on macOS, kilobytes on Linux
    return peak / scale, "process peak RSS"


def device_name() -> str:
    """``"N CPU cores"`` or the GPU's name, for the budget line."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    threads = torch.get_num_threads() if torch is not None else (os.cpu_count() or 1)
    return f"{threads} CPU cores"


def training_run_cost(seconds: float, adapter_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What one training run cost: its wall time, the device, the peak memory and the adapter's size."""
    peak, peak_source = peak_memory_mb()
    return {
        "seconds": seconds,
        "device": device_name(),
        "peak_memory_mb": None if peak is None else round(peak, 1),
        "peak_memory_source": peak_source,
        "adapter_mb": round(folder_mb(adapter_dir), 3),
    }


def _delta(new: float | None, old: float | None) -> str | None:
    if new is None or not old:
        return None
    return f"{(new - old) / old:+.0%}".replace("-", "−")


def budget_line(training: dict[str, Any], adapter: dict[str, Any], baseline: dict[str, Any]) -> str:
    """One line: what the adapter cost to train and what it saves or costs per answer vs ``baseline``.

    >>> budget_line({"seconds": 480, "device": "2 CPU cores", "adapter_mb": 3.5},
    ...             {"mean_tokens": 30.0, "mean_seconds": 1.0},
    ...             {"strategy": "reask", "mean_tokens": 50.0, "mean_seconds": 2.0})
    'adapter: 8 min training on 2 CPU cores, 3.50 MB, −40 % tokens and −50 % seconds per answer vs reask'
    """
    secs = training.get("seconds") or 0
    took = f"{secs / 60:.0f} min" if secs >= 60 else f"{secs:.0f} s"
    parts = [f"adapter: {took} training on {training.get('device', '?')}"]
    parts.append(f"{training.get('adapter_mb', 0):.2f} MB")
    per = []
    tokens = _delta(adapter.get("mean_tokens"), baseline.get("mean_tokens"))
    if tokens:
        per.append(f"{tokens[:-1]} % tokens")
    seconds = _delta(adapter.get("mean_seconds"), baseline.get("mean_seconds"))
    if seconds:
        per.append(f"{seconds[:-1]} % seconds")
    line = ", ".join(parts)
    if per:
        line += ", " + " and ".join(per) + f" per answer vs {baseline.get('strategy')}"
    return line


def fine_tuning_cost(
    training: dict[str, Any], rungs: list[Any], regression: dict[str, Any], candidate: Any, baseline: Any
) -> dict[str, Any]:
    """The decision's cost section: training, per-item cost of every rung, the regression numbers
    beside them, and the budget line (``candidate`` against ``baseline``, both :class:`RungNumbers`)."""
    keys = ("ppl_ratio", "base_format_leak", "adapter_format_leak", "mean_overlap", "flags")
    return {
        "training": training,
        "per_item": {
            r.strategy: {
                "mean_seconds": r.mean_seconds,
                "latency_p50": r.latency_p50,
                "mean_tokens": r.mean_tokens,
            }
            for r in rungs
        },
        "regression": {k: regression.get(k) for k in keys},
        "budget": budget_line(training, candidate.to_dict(), baseline.to_dict()),
    }

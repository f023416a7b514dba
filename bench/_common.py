"""Helpers shared by the benchmarks: timing with medians, the machine description, table printing.

Not a benchmark itself (pytest never collects ``bench/``; the scripts import this module as a sibling).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import sys
import timeit
from collections.abc import Callable, Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_seconds(fn: Callable[[], Any], number: int, repeat: int = 7) -> float:
    """Median over ``repeat`` rounds of the mean seconds per call of ``number`` calls.

    A median, not a minimum: the machine is shared, and a median is what a user sees on a busy box
    while a single outlier round cannot move it.
    """
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(packages: Sequence[str] = ()) -> str:
    """One paragraph: CPU count and model, RAM, Python and the versions of ``packages``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass  # not Linux: keep platform.processor()
    ram = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kib = int(fh.readline().split()[1])
            ram = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        ram = ""
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    return f"{os.cpu_count()} CPUs ({cpu}){ram}, Python {sys.version.split()[0]}, {platform.system()}" + (
        f"; {versions}" if versions else ""
    )


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pasted as is into BENCHMARKS.md)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def contacts_prompts(count: int) -> tuple[Any, list[list[dict[str, str]]]]:
    """The contacts spec and ``count`` chat prompts from its tasks, the same for every route compared."""
    import json
    from pathlib import Path

    import formbound as fb

    folder = Path(ROOT) / "src" / "formbound" / "tasksets" / "contacts"
    data = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    instruction = data.pop("task")["instruction"]
    spec = fb.Spec.from_dict(data, base_dir=folder)
    lines = (folder / "tasks.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    shape = spec.render_schema()
    out = [
        [{"role": "user", "content": f"{instruction} Answer with JSON only, shaped like:\n{shape}\n\n"
          f"Text:\n{json.loads(line)['input']}"}]
        for line in lines
    ]  # fmt: skip
    return spec, out

"""The strategy runner: ask a model every task of a split with every strategy, judge, score, report.

Generations are appended to ``OUT/generations.jsonl`` item by item, keyed by strategy, task (id, input
and gold), model, spec, prompt and token limit, so a run that is interrupted resumes where it stopped
and a rerun with the same settings generates nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import random
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from formbound._util import versions
from formbound.errors import ConfigError, GenerationError
from formbound.generate import Generator
from formbound.hooks import Hooks
from formbound.measure.cache import CACHE_FILE, MemoModel, RecordCache, adapter_fingerprint, gen_key, sha
from formbound.measure.eval_report import EvalReport
from formbound.measure.judging import Item, to_record
from formbound.measure.metrics import StrategyMetrics, summarise
from formbound.measure.records import Record
from formbound.measure.strategies import Strategy, choose_examples, parse_strategies, task_messages
from formbound.measure.tasks import Task, TaskSet, load_task_set
from formbound.models.base import Generation, Model
from formbound.models.lazy import LazyModel

__all__ = ["CACHE_FILE", "DEFAULT_STRATEGIES", "default_batch_size", "evaluate", "versions"]

log = logging.getLogger(__name__)

#: What ``evaluate`` measures when no strategies are named.
DEFAULT_STRATEGIES = ("raw", "prompted", "repaired", "reask", "constrained")


# ------------------------------------------------------------------------------------------- runner
def _chunks(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _select(task_set: TaskSet, split: str, limit: int | None, seed: int) -> list[Task]:
    tasks = task_set.split(split)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be a positive number of items, got {limit}")
        if limit < len(tasks):
            # A seeded shuffle keeps a limited run balanced across kinds of items, and a larger limit
            # with the same seed extends a smaller one (its cached answers are reused).
            order = list(range(len(tasks)))
            random.Random(seed).shuffle(order)
            keep = sorted(order[:limit])
            tasks = [tasks[i] for i in keep]
    return tasks


def _progress(hooks: Hooks, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log.info("tqdm is not installed: no progress bar (pip install 'formbound[models]')")
        return None
    bar: dict[str, Any] = {}

    def start(total: int, cached: int) -> None:
        bar["bar"] = tqdm(total=total, initial=cached, unit="item", file=sys.stderr, dynamic_ncols=True)

    def strategy_start(strategy: str, pending: int) -> None:
        if "bar" in bar:
            bar["bar"].set_description(strategy)

    def record(record: Record, cached: bool) -> None:
        if "bar" in bar and not cached:
            bar["bar"].update(1)

    def end(seconds: float) -> None:
        if "bar" in bar:
            bar["bar"].close()

    hooks.on("run_start", start)
    hooks.on("strategy_start", strategy_start)
    hooks.on("record", record)
    hooks.on("run_end", end)
    return bar


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def evaluate(
    model: Model | str,
    task_set: TaskSet | str | os.PathLike[str],
    strategies: str | Sequence[str | Strategy] = DEFAULT_STRATEGIES,
    *,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    hooks: Hooks | None = None,
    command: str | None = None,
) -> EvalReport:
    """Measure ``strategies`` of ``model`` on one split of a task set.

    Args:
        model: A :class:`~formbound.models.base.Model`, or a name for :func:`formbound.models.load`
            (``"default"``, a model id, a local path).
        task_set: A :class:`TaskSet` or its folder, or a bundled name such as ``"contacts"``.
        strategies: Names (see :mod:`formbound.measure.strategies`), as a list or ``"raw,prompted"``.
        split: Which split to answer (``"test"``, ``"train"`` or ``"all"``).
        limit: Answer at most this many items (a seeded choice, stable as the limit grows).
        seed: Seeds the item choice, the few-shot examples and generation.
        out_dir: Where the generation cache and the report files go; ``None`` keeps everything in memory.
        max_new_tokens: Token limit per answer (default: the task set's ``max_new_tokens``).
        batch_size: Prompts per ``model.generate`` call; default :func:`default_batch_size`.
        progress: Show a progress bar (tqdm) on stderr.
        hooks: Extra event handlers (see :mod:`formbound.hooks`).
        command: The command line to record in the report.

    Returns:
        An :class:`EvalReport`; with ``out_dir`` also written as report.json, report.md and charts.
    """
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    ts = task_set if isinstance(task_set, TaskSet) else load_task_set(task_set)
    rungs = parse_strategies(strategies)
    if isinstance(model, str):
        from formbound.models import load

        model = load(model, lazy=True)  # loaded only if some answer is not cached
    uses_adapters = any(s.adapter for s in rungs)
    if uses_adapters and not callable(getattr(model, "set_adapter", None)):
        raise ConfigError(
            f"model {model.name!r} cannot switch LoRA adapters (no set_adapter); adapter strategies need a "
            "transformers or llama.cpp model, e.g. formbound.models.load('default')"
        )
    limit_tokens = max_new_tokens or ts.max_new_tokens
    tasks = _select(ts, split, limit, seed)
    out = Path(out_dir) if out_dir is not None else None
    cache = RecordCache(out)
    hooks = hooks or Hooks()
    _progress(hooks, progress)
    model_info = model.info()
    memo: dict[str, Generation] = {}
    model_id = [model.name, model_info.get("source"), model_info.get("adapter")]
    max_shots = max((s.shots for s in rungs), default=0)
    examples = choose_examples(ts, max_shots, seed)

    plan: list[tuple[Strategy, list[Item]]] = []
    for strategy in rungs:
        items = []
        adapter_fp = adapter_fingerprint(strategy.adapter)
        for task in tasks:
            messages = task_messages(strategy, ts, task, examples)
            key = sha(
                [
                    strategy.name,
                    strategy.describe(),
                    adapter_fp,
                    task.id,
                    task.hash,
                    model_id,
                    ts.spec.hash,
                    limit_tokens,
                    seed,
                    messages,
                ]
            )
            items.append(Item(task, key, messages))
        plan.append((strategy, items))
    total = sum(len(items) for _, items in plan)
    pending_total = sum(1 for _, items in plan for it in items if cache.get(it.key) is None)
    if pending_total:
        if isinstance(model, LazyModel):
            model = model.load()
        if batch_size is None:
            batch_size = default_batch_size(model.info())
    memo_model = MemoModel(model, memo)
    cached = 0
    for strategy, items in plan:
        constraint = ts.spec.constraint() if strategy.constrained else None
        for it in items:
            rec = cache.get(it.key)
            if rec is None:
                continue
            cached += 1
            if rec.reasks == 0 and rec.texts:  # one attempt: its costs are that generation's
                gen = Generation(
                    rec.texts[0],
                    rec.prompt_tokens,
                    rec.generated_tokens,
                    rec.seconds,
                    "length" if rec.truncated else "stop",
                    rec.route,
                )
                memo[gen_key(strategy.adapter, constraint, limit_tokens, seed, it.messages)] = gen

    started = time.perf_counter()
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    hooks.emit("run_start", total=total, cached=cached)
    by_strategy: dict[str, list[Record]] = {}
    try:
        for strategy, items in plan:
            pending = [it for it in items if cache.get(it.key) is None]
            hooks.emit("strategy_start", strategy=strategy.name, pending=len(pending))
            for it in items:
                hit = cache.get(it.key)
                if hit is not None:
                    hooks.emit("record", record=hit, cached=True)
            # The rung runs through the same Generator a user calls: what is measured is what ships.
            generator = Generator(
                memo_model, ts.spec, strategy=strategy, max_new_tokens=limit_tokens, seed=seed, hooks=hooks
            )
            for batch in _chunks(pending, batch_size or 1):
                outcomes = generator.run([it.messages for it in batch])
                records = [to_record(ts, strategy, it, o) for it, o in zip(batch, outcomes, strict=True)]
                cache.add(records)
                for rec in records:
                    hooks.emit("record", record=rec, cached=False)
            recs = []
            for it in items:
                found = cache.get(it.key)
                if found is None:  # pragma: no cover - every pending item was just generated
                    raise GenerationError(f"no record for {strategy.name}/{it.task.id}")
                recs.append(found)
            by_strategy[strategy.name] = recs
            hooks.emit("strategy_end", strategy=strategy.name, records=recs)
    finally:
        wall = time.perf_counter() - started
        hooks.emit("run_end", seconds=wall)

    metrics = _metrics(by_strategy)
    records = [r for recs in by_strategy.values() for r in recs]
    meta = {
        "model": model.info() if pending_total else _known_model_info(out, model_info),
        "task_set": {
            "name": ts.name,
            "path": _display_path(ts.path),
            "format": ts.format,
            "hash": ts.hash,
            "spec_hash": ts.spec.hash,
            "instruction": ts.instruction,
        },
        "split": split,
        "items": len(tasks),
        "item_ids": [t.id for t in tasks],
        "limit": limit,
        "seed": seed,
        "max_new_tokens": limit_tokens,
        "batch_size": batch_size,
        "few_shot_ids": [e.id for e in examples],
        "strategies": {s.name: s.describe() for s in rungs},
        "versions": versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count()},
        "command": command if command is not None else shlex.join(["python", *sys.argv]),
        "started": started_at,
        "wall_seconds": round(wall, 2),
        "generated_items": total - cached,
        # what generating every answer cost when it was measured (cached records keep their seconds)
        "generation_seconds": round(sum(r.seconds for r in records), 2),
    }
    report = EvalReport(meta, [s.name for s in rungs], metrics, records)
    if out is not None:
        from formbound.measure.report import write_report

        write_report(report, out)
    return report


def _known_model_info(out: Path | None, identity: dict[str, Any]) -> dict[str, Any]:
    """For a run that loaded no model: the full model facts of the earlier report in ``out`` when that
    report is of the same model (name, source, adapter), else the identity alone."""
    previous = out / "report.json" if out is not None else None
    if previous is None or not previous.is_file():
        return identity
    try:
        info = json.loads(previous.read_text(encoding="utf-8")).get("meta", {}).get("model", {})
    except (OSError, ValueError, AttributeError):
        return identity
    same = isinstance(info, dict) and all(
        info.get(k) == identity.get(k) for k in ("name", "source", "adapter")
    )
    return info if same else identity


#: Prompts per call for a transformers model on CPU, measured (see :func:`default_batch_size`).
CPU_TRANSFORMERS_BATCH = 8


def default_batch_size(model_info: dict[str, Any]) -> int:
    """:data:`CPU_TRANSFORMERS_BATCH` for a transformers model on CPU, 1 for another CPU source, 8 elsewhere.

    On the transformers route a batch drops each row as it ends and prefills the prompt prefix its items
    share once (system prompt, format instructions, few-shot examples: ≈ 800 of the ≈ 840 tokens of a
    ``prompted`` contacts item), so it neither waits for its longest row nor loses prefix reuse.
    Measured on two shared CPU cores with the default model on 8 contacts items, ``prompted`` and
    ``constrained`` prompts, 96 new tokens (``bench/bench_batch.py``, BENCHMARKS.md): tokens/s at batch
    2, 4 and 8 was 1.19x, 1.74x and 2.29x that of batch 1 unconstrained, 1.20x, 1.81x and 2.39x
    constrained (medians of 2 interleaved rounds; batch 8 was fastest in every round, with the same
    greedy text). Another CPU source (llama.cpp) reuses its KV cache from one item to the next and was
    not measured batched. Accelerators gain from batches.
    """
    if not str(model_info.get("device", "")).startswith("cpu"):
        return 8
    return CPU_TRANSFORMERS_BATCH if "transformers" in model_info else 1


def _metrics(by_strategy: dict[str, list[Record]]) -> dict[str, StrategyMetrics]:
    raw = by_strategy.get("raw")
    raw_mean = sum(r.seconds for r in raw) / len(raw) if raw else None
    return {name: summarise(name, recs, raw_mean_seconds=raw_mean) for name, recs in by_strategy.items()}

"""The strategy runner: ask a model every task of a split with every strategy, judge, score, report.

Generations are appended to ``OUT/generations.jsonl`` item by item, keyed by strategy, task (id, input
and gold), model, spec, prompt and token limit, so a run that is interrupted resumes where it stopped
and a rerun with the same settings generates nothing.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import platform
import random
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formbound._util import versions
from formbound.enforce import enforce
from formbound.errors import ConfigError, EnforcementError, GenerationError
from formbound.measure.hooks import Hooks
from formbound.measure.metrics import StrategyMetrics, summarise
from formbound.measure.records import EvalReport, Record
from formbound.measure.scoring import score
from formbound.measure.strategies import Strategy, choose_examples, parse_strategies
from formbound.measure.tasks import Task, TaskSet, load_task_set
from formbound.models.base import Generation, Model

__all__ = ["CACHE_FILE", "DEFAULT_STRATEGIES", "default_batch_size", "evaluate", "versions"]

log = logging.getLogger(__name__)

#: The generation cache inside an output folder.
CACHE_FILE = "generations.jsonl"
#: What ``evaluate`` measures when no strategies are named.
DEFAULT_STRATEGIES = ("raw", "prompted", "repaired", "reask", "constrained")


# -------------------------------------------------------------------------------------------- cache
class _Cache:
    """Append-only JSONL of records; the last line of an interrupted write is skipped."""

    def __init__(self, out_dir: Path | None) -> None:
        self.path = out_dir / CACHE_FILE if out_dir is not None else None
        self.records: dict[str, Record] = {}
        if self.path is not None and self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        rec = Record.from_dict(json.loads(line))
                    except (json.JSONDecodeError, TypeError) as exc:
                        log.warning("%s line %d skipped (interrupted write?): %s", self.path, lineno, exc)
                        continue
                    self.records[rec.key] = rec

    def get(self, key: str) -> Record | None:
        return self.records.get(key)

    def add(self, records: Sequence[Record]) -> None:
        for rec in records:
            self.records[rec.key] = rec
        if self.path is None or not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec.to_dict(), ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _adapter_fingerprint(path: str | None) -> str | None:
    if path is None:
        return None
    folder = Path(path)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return _sha([(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files])


# -------------------------------------------------------------------------------------------- judge
def _jsonable(task_set: TaskSet, value: Any, text: str) -> Any:
    if task_set.format == "sql":
        return text
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


@dataclass
class _Item:
    task: Task
    key: str
    messages: list[dict[str, str]]
    texts: list[str] = field(default_factory=list)
    finish: list[str] = field(default_factory=list)
    forced: list[bool] = field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    route: str | None = None
    error: EnforcementError | None = None
    result: Any = None
    chosen: int = -1


def _judge(task_set: TaskSet, strategy: Strategy, item: _Item) -> None:
    try:
        item.result = enforce(item.texts[-1], task_set.spec, repair=strategy.repair)
        item.error = None
    except EnforcementError as err:
        item.result = None
        item.error = err


def _record(task_set: TaskSet, strategy: Strategy, item: _Item) -> Record:
    rec = Record(
        strategy=strategy.name,
        task_id=item.task.id,
        key=item.key,
        texts=item.texts,
        finish_reasons=item.finish,
        prompt_tokens=item.prompt_tokens,
        generated_tokens=item.generated_tokens,
        seconds=item.seconds,
        reasks=len(item.texts) - 1,
        route=item.route,
        chosen=item.chosen if item.chosen < 0 else item.chosen - len(item.texts),
        forced_close=bool(item.forced) and item.forced[item.chosen],
    )
    if item.error is None:
        rec.syntax_valid = rec.schema_valid = True
        rec.repairs = list(item.result.repairs)
        rec.value = _jsonable(task_set, item.result.value, item.result.text)
    else:
        err = item.error
        first = err.errors[0]
        rec.syntax_valid = err.stage != "syntax"
        rec.repairs = list(err.repairs)
        rec.error = {"stage": err.stage, "kind": first.kind, "message": str(err)[:500], "path": first.path}
    return score(task_set, item.task, rec)


# ------------------------------------------------------------------------------------------- runner
def _chunks(items: Sequence[_Item], size: int) -> Iterator[list[_Item]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _gen_key(strategy: Strategy, constraint: Any, max_new_tokens: int, seed: int, prompt: Any) -> str:
    ckey = constraint.key if constraint is not None else None
    return _sha([strategy.adapter, ckey, max_new_tokens, seed, prompt])


def _generate(
    model: Model,
    strategy: Strategy,
    items: list[_Item],
    prompts: list[Any],
    *,
    constraint: Any,
    max_new_tokens: int,
    seed: int,
    attempt: int,
    hooks: Hooks,
    memo: dict[str, Generation],
) -> None:
    # Greedy decoding makes a generation a function of (adapter, grammar, limit, seed, prompt): rungs
    # that share a prompt (prompted, repaired, the first attempt of reask) share one generation.
    keys = [_gen_key(strategy, constraint, max_new_tokens, seed, p) for p in prompts]
    todo = [i for i, k in enumerate(keys) if k not in memo]
    if todo:
        started = time.perf_counter()
        gens = model.generate(
            [prompts[i] for i in todo],
            constraint=constraint,
            max_new_tokens=max_new_tokens,
            temperature=0.0,
            seed=seed,
        )
        hooks.emit(
            "generate",
            strategy=strategy.name,
            size=len(todo),
            attempt=attempt,
            seconds=time.perf_counter() - started,
        )
        if len(gens) != len(todo):
            raise GenerationError(
                f"model {model.name!r} returned {len(gens)} generations for {len(todo)} prompts"
            )
        for i, gen in zip(todo, gens, strict=True):
            memo[keys[i]] = gen
    for item, gen in zip(items, [memo[k] for k in keys], strict=True):
        item.texts.append(gen.text)
        item.finish.append(gen.finish_reason)
        item.forced.append(bool(gen.extra.get("forced_close")))
        item.prompt_tokens += gen.prompt_tokens
        item.generated_tokens += gen.generated_tokens
        item.seconds += gen.seconds
        item.route = gen.route


def _run_batch(
    model: Model,
    task_set: TaskSet,
    strategy: Strategy,
    batch: list[_Item],
    *,
    max_new_tokens: int,
    seed: int,
    hooks: Hooks,
    memo: dict[str, Generation],
) -> list[Record]:
    constraint = task_set.spec.constraint() if strategy.constrained else None
    ask = functools.partial(
        _generate,
        model,
        strategy,
        constraint=constraint,
        max_new_tokens=max_new_tokens,
        seed=seed,
        hooks=hooks,
        memo=memo,
    )
    ask(batch, [it.messages for it in batch], attempt=0)
    for it in batch:
        _judge(task_set, strategy, it)
    if strategy.reasks:
        from formbound.prompts import reask_messages

        conversations = {id(it): it.messages for it in batch}
        best = {id(it): (_attempt_rank(task_set, it), it.result, it.error, 0) for it in batch}
        stuck: set[int] = set()
        for attempt in range(1, strategy.reasks + 1):
            failing = [it for it in batch if it.error is not None and id(it) not in stuck]
            if not failing:
                break
            prompts = []
            for it in failing:
                assert it.error is not None  # filtered above
                conv = reask_messages(conversations[id(it)], it.texts[-1], it.error, format=task_set.format)
                conversations[id(it)] = conv
                prompts.append(conv)
            ask(failing, prompts, attempt=attempt)
            for it in failing:
                _judge(task_set, strategy, it)
                if it.texts[-1] in it.texts[:-1]:
                    stuck.add(id(it))  # greedy decoding repeats itself: asking again changes nothing
                progress = _attempt_rank(task_set, it)
                if progress > best[id(it)][0]:
                    best[id(it)] = (progress, it.result, it.error, len(it.texts) - 1)
        for it in batch:
            # the answer handed on is the best attempt, not the last: a re-ask can make an answer worse
            _, it.result, it.error, it.chosen = best[id(it)]
    return [_record(task_set, strategy, it) for it in batch]


def _attempt_rank(task_set: TaskSet, item: _Item) -> tuple[int, int]:
    """How far an attempt got: valid beats any error; a later stage and fewer problems beat earlier."""
    if item.error is None:
        return (len(task_set.spec.stages) + 1, 0)
    stages = task_set.spec.stages
    rank = stages.index(item.error.stage) if item.error.stage in stages else len(stages)
    return (rank, -len(item.error.errors))


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
        task_set: A :class:`TaskSet` or its folder (``schemas/NAME``).
        strategies: Names (see :mod:`formbound.measure.strategies`), as a list or ``"raw,prompted"``.
        split: Which split to answer (``"test"``, ``"train"`` or ``"all"``).
        limit: Answer at most this many items (a seeded choice, stable as the limit grows).
        seed: Seeds the item choice, the few-shot examples and generation.
        out_dir: Where the generation cache and the report files go; ``None`` keeps everything in memory.
        max_new_tokens: Token limit per answer (default: the task set's ``max_new_tokens``).
        batch_size: Prompts per ``model.generate`` call; default :func:`default_batch_size`.
        progress: Show a progress bar (tqdm) on stderr.
        hooks: Extra event handlers (see :mod:`formbound.measure.hooks`).
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

        model = load(model)
    uses_adapters = any(s.adapter for s in rungs)
    if uses_adapters and not callable(getattr(model, "set_adapter", None)):
        raise ConfigError(
            f"model {model.name!r} cannot switch LoRA adapters (no set_adapter); adapter strategies need a "
            "transformers model, e.g. formbound.models.load('default')"
        )
    limit_tokens = max_new_tokens or ts.max_new_tokens
    tasks = _select(ts, split, limit, seed)
    out = Path(out_dir) if out_dir is not None else None
    cache = _Cache(out)
    hooks = hooks or Hooks()
    _progress(hooks, progress)
    model_info = model.info()
    if batch_size is None:
        batch_size = default_batch_size(model_info)
    memo: dict[str, Generation] = {}
    model_id = [model.name, model_info.get("source"), model_info.get("adapter")]
    max_shots = max((s.shots for s in rungs), default=0)
    examples = choose_examples(ts, max_shots, seed)

    plan: list[tuple[Strategy, list[_Item]]] = []
    for strategy in rungs:
        items = []
        adapter_fp = _adapter_fingerprint(strategy.adapter)
        for task in tasks:
            messages = strategy.messages(ts, task, examples)
            key = _sha(
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
            items.append(_Item(task, key, messages))
        plan.append((strategy, items))
    total = sum(len(items) for _, items in plan)
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
                memo[_gen_key(strategy, constraint, limit_tokens, seed, it.messages)] = gen

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
            if pending and uses_adapters:
                model.set_adapter(strategy.adapter)  # type: ignore[attr-defined]
            for batch in _chunks(pending, batch_size):
                records = _run_batch(
                    model, ts, strategy, batch, max_new_tokens=limit_tokens, seed=seed, hooks=hooks, memo=memo
                )
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
        if uses_adapters:
            model.set_adapter(None)  # type: ignore[attr-defined]
        wall = time.perf_counter() - started
        hooks.emit("run_end", seconds=wall)

    metrics = _metrics(by_strategy)
    meta = {
        "model": model_info,
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
    }
    report = EvalReport(
        meta, [s.name for s in rungs], metrics, [r for recs in by_strategy.values() for r in recs]
    )
    if out is not None:
        report.save(out)
    return report


def default_batch_size(model_info: dict[str, Any]) -> int:
    """1 on CPU, 8 elsewhere.

    Measured on two CPU cores with the default model: one ``generate`` call with 3 prompts took 4–8×
    as long as one with a single prompt (padding and the wider matrices cost more than batching
    saves there), while accelerators gain from batches.
    """
    return 1 if str(model_info.get("device", "")).startswith("cpu") else 8


def _metrics(by_strategy: dict[str, list[Record]]) -> dict[str, StrategyMetrics]:
    raw = by_strategy.get("raw")
    raw_mean = sum(r.seconds for r in raw) / len(raw) if raw else None
    return {name: summarise(name, recs, raw_mean_seconds=raw_mean) for name, recs in by_strategy.items()}

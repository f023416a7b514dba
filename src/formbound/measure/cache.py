"""What the runner does not generate twice: the run's record cache on disk and the generation memo.

Records are appended to ``OUT/generations.jsonl`` item by item, keyed by strategy, task, model, spec,
prompt and token limit; the memo shares one generation between rungs that send the same prompt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound.errors import GenerationError
from formbound.measure.records import Record
from formbound.models.base import Generation, Model

__all__ = ["CACHE_FILE", "MemoModel", "RecordCache", "adapter_fingerprint", "gen_key", "sha"]

log = logging.getLogger(__name__)

#: The generation cache inside an output folder.
CACHE_FILE = "generations.jsonl"


class RecordCache:
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


def sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def adapter_fingerprint(path: str | None) -> str | None:
    if path is None:
        return None
    folder = Path(path)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return sha([(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files])


def gen_key(adapter: str | None, constraint: Any, max_new_tokens: int, seed: int, prompt: Any) -> str:
    ckey = constraint.key if constraint is not None else None
    return sha([adapter, ckey, max_new_tokens, seed, prompt])


class MemoModel(Model):
    """The run's model, remembering generations.

    Greedy decoding makes a generation a function of (adapter, grammar, limit, seed, prompt): rungs
    that share a prompt (prompted, repaired, the first attempt of reask) share one generation, and
    answers found in the run's cache are not generated again.
    """

    def __init__(self, model: Model, memo: dict[str, Generation]) -> None:
        self.inner = model
        self.name = model.name
        self.can_constrain = model.can_constrain
        self.memo = memo
        self.adapter: str | None = None

    def set_adapter(self, path: str | None) -> None:
        self.adapter = path
        self.inner.set_adapter(path)  # type: ignore[attr-defined]

    def info(self) -> dict[str, Any]:
        return self.inner.info()

    def generate(
        self,
        prompts: Sequence[Any],
        *,
        constraint: Any = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        keys = [gen_key(self.adapter, constraint, max_new_tokens, seed or 0, p) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            gens = self.inner.generate(
                [prompts[i] for i in todo],
                constraint=constraint,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
            )
            if len(gens) != len(todo):
                raise GenerationError(
                    f"model {self.inner.name!r} returned {len(gens)} generations for {len(todo)} prompts"
                )
            for i, gen in zip(todo, gens, strict=True):
                self.memo[keys[i]] = gen
        return [self.memo[k] for k in keys]

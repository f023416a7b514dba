"""Quality controls of a fine-tuning set: near-duplicates, caps per source, a held-back dev slice.

* near-duplicate key: the input lower-cased with punctuation and whitespace collapsed, so ``"Ann is
  30."`` and ``"ann  is 30"`` are the same input; two inputs whose word sets overlap by
  :data:`NEAR_JACCARD` or more are also near-duplicates (checked against every test input);
* cap per source: a generated source keeps at most ``max(min_cap, ratio × gold)`` records, so synthetic
  data cannot drown the gold;
* dev slice: a share of the generated records is held back as ``dev.jsonl`` beside the train file, for
  the trainer's evaluation loss.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NEAR_JACCARD",
    "QualityOptions",
    "near_duplicate_of",
    "near_key",
    "normalize_input",
    "split_dev",
    "token_stats",
]

#: Word-set overlap (Jaccard) at which two inputs count as the same.
NEAR_JACCARD = 0.9


def normalize_input(text: str) -> str:
    """Whitespace-normalised text, for comparing inputs (a test input reformatted is still a test input)."""
    return re.sub(r"\s+", " ", text).strip().lower()


def near_key(text: str) -> str:
    """The input with case, punctuation and whitespace normalised away."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def near_duplicate_of(text: str, others: Iterable[str], threshold: float = NEAR_JACCARD) -> bool:
    """Whether ``text`` is a near-duplicate of any of ``others`` (same key or word overlap)."""
    key, words = near_key(text), _words(text)
    for other in others:
        if near_key(other) == key:
            return True
        ow = _words(other)
        union = words | ow
        if union and len(words & ow) / len(union) >= threshold:
            return True
    return False


@dataclass
class QualityOptions:
    """Caps and the dev slice.

    Attributes:
        cap_ratio: A generated source keeps at most ``cap_ratio × gold`` records …
        min_cap: … but never fewer than this many (so a task set with little gold can still grow).
        dev_fraction: Share of the generated records held back as the dev slice (0 for none).
        min_dev: No dev slice when fewer generated records than this are kept.
    """

    cap_ratio: float = 20.0
    min_cap: int = 256
    dev_fraction: float = 0.1
    min_dev: int = 20

    def cap(self, gold: int) -> int:
        """Records a generated source may keep, given the gold count."""
        return max(self.min_cap, int(self.cap_ratio * gold))


def split_dev(
    records: Sequence[dict[str, Any]], options: QualityOptions, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, dev): a seeded share of the non-gold records goes to dev; gold always stays in train."""
    generated = [r for r in records if r["source"] != "gold"]
    if options.dev_fraction <= 0 or len(generated) < options.min_dev:
        return list(records), []
    n_dev = max(1, int(len(generated) * options.dev_fraction))
    dev_ids = {id(r) for r in random.Random(seed + 1).sample(generated, n_dev)}
    return [r for r in records if id(r) not in dev_ids], [r for r in records if id(r) in dev_ids]


def token_stats(records: list[dict[str, Any]], tokenizer: Any) -> dict[str, dict[str, float]]:
    """min/mean/max of prompt, answer and total tokens of chat records (the card's token lengths)."""
    prompt_lens, answer_lens = [], []
    for rec in records:
        msgs = rec["messages"]
        prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        prompt_lens.append(len(tokenizer(prompt, add_special_tokens=False)["input_ids"]))
        answer_lens.append(len(tokenizer(msgs[-1]["content"], add_special_tokens=False)["input_ids"]) + 1)

    def stats(values: list[int]) -> dict[str, float]:
        if not values:
            return {"min": 0, "mean": 0.0, "max": 0}
        return {"min": min(values), "mean": round(sum(values) / len(values), 1), "max": max(values)}

    totals = [p + a for p, a in zip(prompt_lens, answer_lens, strict=False)]
    return {"prompt": stats(prompt_lens), "answer": stats(answer_lens), "total": stats(totals)}

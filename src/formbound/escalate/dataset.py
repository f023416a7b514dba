"""Fine-tuning datasets: chat-format JSONL built from what the ladder knows is right.

Three sources, in order of trust:

* ``gold``: gold answers of the train split, as canonical text (the spec's ``dump``);
* ``distilled``: outputs of the best strategy (usually constrained decoding) on train inputs that
  validate and, where gold exists, match it — self-distillation of the constrained model into the
  unconstrained one;
* ``template``: new train inputs made by substituting field values between train items (a value that
  appears verbatim in an input is swapped for another train item's value of the same field, in the
  input and in the answer alike).

Every record's prompt is exactly the message list the ``raw`` strategy sends at evaluation time
(:func:`formbound.prompts.build_messages` with ``style="raw"``), so the adapter learns to answer the
plain request in format. Test items never enter: they are excluded by id and by (normalised) input
text, and the written file is checked again before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError, EnforcementError, FormboundError
from formbound.measure.tasks import Task, TaskSet

__all__ = [
    "SOURCES",
    "DatasetCard",
    "Distilled",
    "augment_by_substitution",
    "build_dataset",
    "canonical_answer",
    "file_sha256",
    "load_records",
    "normalize_input",
    "write_atomic",
]

#: Record sources, most trusted first (dedup keeps the first record seen for an input).
SOURCES: tuple[str, ...] = ("gold", "distilled", "template")


@dataclass(frozen=True)
class Distilled:
    """One output of a strategy on a train input, offered for self-distillation."""

    id: str
    input: str
    text: str


@dataclass
class SourceCounts:
    """What happened to the candidates of one source."""

    offered: int = 0
    invalid: int = 0
    mismatched: int = 0
    duplicate: int = 0
    test_excluded: int = 0
    kept: int = 0

    @property
    def validity(self) -> float | None:
        """Share of offered candidates whose answer validated (None when nothing was offered)."""
        return None if not self.offered else round(1 - self.invalid / self.offered, 4)


@dataclass
class DatasetCard:
    """Facts about a built dataset, written beside it as ``<name>.card.json``.

    Attributes:
        path: The JSONL file.
        records: Number of records written.
        sources: Per source: offered, invalid, mismatched (distilled answer differs from gold),
            duplicate, test_excluded, kept, validity.
        spec_hash: :attr:`formbound.Spec.hash` of the task set's spec.
        dataset_sha256: SHA-256 of the JSONL file.
        token_lengths: min/mean/max of prompt, answer and total tokens (when a tokenizer was given).
        instruction: The instruction used in the prompts.
        test_ids: Number of test items excluded by construction.
    """

    path: str
    records: int
    sources: dict[str, dict[str, Any]]
    spec_hash: str
    dataset_sha256: str
    token_lengths: dict[str, dict[str, float]] | None = None
    instruction: str | None = None
    test_ids: int = 0
    seed: int = 0
    formbound_version: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_input(text: str) -> str:
    """Whitespace-normalised, lower-cased text, for comparing inputs (a test input reformatted is still
    a test input)."""
    return re.sub(r"\s+", " ", text).strip().lower()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_answer(spec: Any, gold: Any) -> str:
    """The canonical text of a gold answer in the spec's format (what the adapter must learn to write).

    Raises:
        EnforcementError: the gold answer does not satisfy the spec.
    """
    if isinstance(gold, str):
        # SQL gold answers (and JSON/YAML golds given as text) are parsed like a model's output.
        return str(spec.dump(spec.check(gold)))
    text = json.dumps(gold, ensure_ascii=False)
    return str(spec.dump(spec.validate(gold, text)))


def _messages(spec: Any, task_input: str, instruction: str | None) -> list[dict[str, str]]:
    from formbound.prompts import build_messages

    return [dict(m) for m in build_messages(spec, task_input, instruction=instruction, style="raw")]


# ----------------------------------------------------------------------- template augmentation
_LeafKey = tuple[str, ...]


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every string/number leaf; array indices kept in ``path``."""
    out: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _leaves(sub, (*path, str(key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _leaves(sub, (*path, str(i)))
    elif isinstance(value, str) and len(value.strip()) >= 2:
        out.append((path, value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append((path, value))
    return out


def _field_key(path: tuple[str, ...]) -> _LeafKey:
    return tuple("*" if part.isdigit() else part for part in path)


def _set_path(value: Any, path: tuple[str, ...], new: Any) -> None:
    for part in path[:-1]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    last = path[-1]
    if isinstance(value, list):
        value[int(last)] = new
    else:
        value[last] = new


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(text) + r"(?![\w])")


def augment_by_substitution(items: Sequence[Task], n: int, *, seed: int = 0) -> list[Task]:
    """Up to ``n`` new (input, gold) pairs made by swapping field values between train items.

    A leaf value of an item's gold that occurs verbatim (on word boundaries) in its input, and does
    not overlap another leaf's text, is replaced in both the input and the gold by the value another
    item has for the same field. Only the given items' values are used, so nothing outside them
    (e.g. a test item) can leak in. Returned items have ids ``<source id>~t<k>`` and split ``train``.
    """
    if n <= 0:
        return []
    golds = [it for it in items if isinstance(it.gold, (dict, list))]
    pools: dict[tuple[_LeafKey, type], list[Any]] = {}
    for it in golds:
        for path, leaf in _leaves(it.gold):
            bucket = pools.setdefault((_field_key(path), type(leaf)), [])
            if leaf not in bucket:
                bucket.append(leaf)
    rng = random.Random(seed)
    out: list[Task] = []
    seen = {normalize_input(it.input) for it in items}
    tries = 0
    while golds and len(out) < n and tries < n * 20:
        tries += 1
        base = rng.choice(golds)
        leaves = _leaves(base.gold)
        texts = [str(v) for _, v in leaves]
        new_gold = json.loads(json.dumps(base.gold))
        new_input = base.input
        swaps: list[tuple[str, str]] = []
        for (path, leaf), text in zip(leaves, texts, strict=False):
            overlaps = any(o != text and (o in text or text in o) for o in texts)
            if overlaps or texts.count(text) > 1 or len(_pattern(text).findall(base.input)) != 1:
                continue
            choices = [v for v in pools.get((_field_key(path), type(leaf)), []) if v != leaf]
            if not choices:
                continue
            new = rng.choice(choices)
            _set_path(new_gold, path, new)
            swaps.append((text, str(new)))
        if not swaps:
            continue
        # Placeholders first, so a new value can never be hit by a later swap.
        for k, (old, _new) in enumerate(swaps):
            new_input = _pattern(old).sub(f"\x00{k}\x00", new_input, count=1)
        for k, (_old, new) in enumerate(swaps):
            new_input = new_input.replace(f"\x00{k}\x00", new)
        key = normalize_input(new_input)
        if key in seen:
            continue
        seen.add(key)
        out.append(Task(f"{base.id}~t{len(out) + 1}", new_input, new_gold, "train"))
    return out


# ----------------------------------------------------------------------------------- builder
def _token_stats(records: list[dict[str, Any]], tokenizer: Any) -> dict[str, dict[str, float]]:
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


def build_dataset(
    task_set: TaskSet,
    out_path: str | Path,
    *,
    distilled: Iterable[Distilled] = (),
    augment: int = 0,
    seed: int = 0,
    tokenizer: Any = None,
    instruction: str | None = None,
    messages_fn: Callable[[Any, str, str | None], list[dict[str, str]]] | None = None,
) -> DatasetCard:
    """Build a chat-format JSONL fine-tuning set for a task set's train split and write its card.

    Args:
        task_set: A task set (:func:`formbound.measure.load_task_set`).
        out_path: The ``.jsonl`` file to write; the card goes to ``<stem>.card.json`` beside it.
        distilled: Strategy outputs on train inputs (see :class:`Distilled`); kept when they validate
            and, where the item has gold, equal it.
        augment: How many template-substituted train inputs to add (0 for none).
        seed: Seed of the augmentation and of the record order.
        tokenizer: A tokenizer with a chat template, for the token-length figures of the card.
        instruction: Override the task set's instruction.
        messages_fn: ``(spec, input, instruction) -> messages``; defaults to the ``raw`` strategy's
            prompt (:func:`formbound.prompts.build_messages` with ``style="raw"``).

    Returns:
        The :class:`DatasetCard` (also written as JSON).

    Raises:
        ConfigError: the task set has no train items, or a test item reached the output.
    """
    from formbound._version import __version__

    spec = task_set.spec
    instruction = instruction if instruction is not None else task_set.instruction
    make_messages = messages_fn or _messages
    train = [it for it in task_set.tasks if it.split == "train"]
    test = [it for it in task_set.tasks if it.split != "train"]
    if not train:
        raise ConfigError(
            "the task set has no items with split 'train'; a dataset cannot be built without them"
        )
    test_ids = {it.id for it in test}
    test_inputs = {normalize_input(it.input) for it in test}
    gold_by_id: dict[str, str] = {}

    counts = {name: SourceCounts() for name in SOURCES}
    candidates: list[tuple[str, str, str, str]] = []  # (source, id, input, answer)

    def offer(source: str, item_id: str, text_in: str, answer: str | None) -> None:
        c = counts[source]
        if (
            item_id in test_ids
            or item_id.split("~")[0] in test_ids
            or normalize_input(text_in) in test_inputs
        ):
            c.test_excluded += 1
            return
        if answer is None:
            return
        candidates.append((source, item_id, text_in, answer))

    for it in train:
        if it.gold is None:
            continue
        counts["gold"].offered += 1
        try:
            answer = canonical_answer(spec, it.gold)
        except EnforcementError:
            counts["gold"].invalid += 1
            continue
        gold_by_id[it.id] = answer
        offer("gold", it.id, it.input, answer)

    for d in distilled:
        counts["distilled"].offered += 1
        from formbound.enforce import enforce

        try:
            answer = enforce(d.text, spec).text
        except EnforcementError:
            counts["distilled"].invalid += 1
            continue
        if d.id in gold_by_id and gold_by_id[d.id] != answer:
            counts["distilled"].mismatched += 1
            continue
        offer("distilled", d.id, d.input, answer)

    for it in augment_by_substitution(train, augment, seed=seed):
        counts["template"].offered += 1
        try:
            answer = canonical_answer(spec, it.gold)
        except EnforcementError:
            counts["template"].invalid += 1
            continue
        offer("template", it.id, it.input, answer)

    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source, item_id, text_in, answer in candidates:
        key = normalize_input(text_in)
        if key in seen:
            counts[source].duplicate += 1
            continue
        seen.add(key)
        counts[source].kept += 1
        messages = [*make_messages(spec, text_in, instruction), {"role": "assistant", "content": answer}]
        records.append({"id": item_id, "source": source, "messages": messages})

    random.Random(seed).shuffle(records)
    _check_no_test(records, test_ids, test_inputs)
    out = Path(out_path)
    write_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    card = DatasetCard(
        path=out.name,
        records=len(records),
        sources={name: {**asdict(c), "validity": c.validity} for name, c in counts.items()},
        spec_hash=spec.hash,
        dataset_sha256=file_sha256(out),
        token_lengths=_token_stats(records, tokenizer) if tokenizer is not None else None,
        instruction=instruction,
        test_ids=len(test_ids),
        seed=seed,
        formbound_version=__version__,
    )
    write_atomic(card_path(out), json.dumps(card.to_dict(), indent=2) + "\n")
    return card


def card_path(dataset_path: str | Path) -> Path:
    """Where the card of a dataset file lives."""
    p = Path(dataset_path)
    return p.with_name(p.stem + ".card.json")


def _check_no_test(records: list[dict[str, Any]], test_ids: set[str], test_inputs: set[str]) -> None:
    for rec in records:
        user = "\n".join(m["content"] for m in rec["messages"] if m["role"] == "user")
        if rec["id"] in test_ids or any(t and t in normalize_input(user) for t in test_inputs):
            raise FormboundError(
                f"test item leaked into the fine-tuning set (record {rec['id']!r}); refusing to write"
            )


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a dataset JSONL file (each with ``messages``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"dataset file {str(p)!r} does not exist; build it with formbound.escalate.build_dataset"
        )
    records = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p.name} line {n} is not JSON: {exc}") from exc
            msgs = rec.get("messages") if isinstance(rec, dict) else None
            if not msgs or msgs[-1].get("role") != "assistant":
                raise ConfigError(f"{p.name} line {n}: expected 'messages' ending with an assistant turn")
            records.append(rec)
    return records

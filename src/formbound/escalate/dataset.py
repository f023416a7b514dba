"""Fine-tuning datasets: chat-format JSONL built from what the ladder knows is right.

Sources, in order of trust (dedup keeps the first record seen for an input):

* ``gold``: gold answers of the train split, as canonical text (the spec's ``dump``);
* ``distilled``: outputs of the best strategy (usually constrained decoding) on train inputs that
  validate and, where gold exists, match it — self-distillation of the constrained model into the
  unconstrained one;
* ``template``: new train inputs made by substituting field values between train items (a value that
  appears verbatim in an input is swapped for another train item's value of the same field, in the
  input and in the answer alike);
* ``teacher:NAME``: a stronger model's answers on unlabelled inputs and train inputs without gold,
  after it has been scored on the gold train items (:mod:`.teacher`);
* ``sql_synth``: execution-verified question/query pairs for a SQL task set with a database
  (:mod:`.synth_sql`); ``schema_synth``: schema-sampled values in train phrasings (:mod:`.synth_schema`).

Generated sources are capped and a share of them is held back as ``dev.jsonl`` (:mod:`.quality`).

Every record's prompt is exactly the message list the ``raw`` strategy sends at evaluation time
(:func:`formbound.prompts.build_messages` with ``style="raw"``), so the adapter learns to answer the
plain request in format. Test items never enter: they are excluded by id, by (normalised) input text
and by near-duplicate text, and the written file is checked again before it is renamed into place.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError, EnforcementError, FormboundError
from formbound.escalate.card import DatasetCard, SourceCounts, card_path, file_sha256, load_records
from formbound.escalate.quality import (
    QualityOptions,
    near_duplicate_of,
    near_key,
    normalize_input,
    split_dev,
    token_stats,
)
from formbound.escalate.teacher import TeacherOptions, label_with_teacher, teacher_name
from formbound.escalate.template import augment_by_substitution

if TYPE_CHECKING:
    from formbound.measure.tasks import Task, TaskSet

__all__ = [
    "SOURCES",
    "DatasetCard",
    "Distilled",
    "augment_by_substitution",
    "build_dataset",
    "canonical_answer",
    "card_path",
    "file_sha256",
    "load_records",
    "normalize_input",
    "write_atomic",
]

#: Record sources, most trusted first (dedup keeps the first record seen for an input).
SOURCES: tuple[str, ...] = ("gold", "distilled", "teacher", "sql_synth", "schema_synth", "template")


@dataclass(frozen=True)
class Distilled:
    """One output of a strategy on a train input, offered for self-distillation."""

    id: str
    input: str
    text: str


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


# ----------------------------------------------------------------------------------- builder
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
    teacher: Any = None,
    inputs: Sequence[str] = (),
    teacher_options: TeacherOptions | None = None,
    synthesize: int = 0,
    quality: QualityOptions | None = None,
    note: str | None = None,
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
        teacher: A stronger :class:`~formbound.models.Model` that labels ``inputs`` and the train
            inputs without gold (source ``teacher:NAME``); scored on the gold train items first.
        inputs: Unlabelled inputs for the teacher.
        teacher_options: Accuracy floor, self-consistency, second teacher (:class:`TeacherOptions`).
        synthesize: Synthetic records to generate: execution-verified question/query pairs for a SQL
            task set with a database (``sql_synth``), schema-sampled values for JSON/YAML
            (``schema_synth``); 0 for none.
        quality: Cap per generated source and the dev slice (:class:`QualityOptions`).
        note: A sentence for the card (e.g. why data was generated), shown in ``decision.md``.

    Returns:
        The :class:`DatasetCard` (also written as JSON).

    Raises:
        ConfigError: the task set has no train items, or a test item reached the output.
        TeacherRejected: the teacher's accuracy on the gold train items is below the floor.
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
    test_raw = [it.input for it in test]
    gold_by_id: dict[str, str] = {}

    qopts = quality or QualityOptions()
    tname = teacher_name(teacher) if teacher is not None else "teacher"
    counts = {(tname if n == "teacher" else n): SourceCounts() for n in SOURCES}
    candidates: list[tuple[str, str, str, str]] = []  # (source, id, input, answer)

    def offer(source: str, item_id: str, text_in: str, answer: str | None) -> None:
        c = counts[source]
        if (
            item_id in test_ids
            or item_id.split("~")[0] in test_ids
            or normalize_input(text_in) in test_inputs
            or near_duplicate_of(text_in, test_raw)
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

    teacher_report = None
    if teacher is not None:
        # test inputs (and near-duplicates) are dropped before the teacher ever sees them
        clean = [
            t for t in inputs if normalize_input(t) not in test_inputs and not near_duplicate_of(t, test_raw)
        ]
        labels, report = label_with_teacher(teacher, task_set, train, clean, teacher_options)
        teacher_report = report.to_dict()
        if report.scored:
            note = (note + " " if note else "") + (
                f"Teacher {report.name} ({report.strategy}) on {report.scored} gold train items: validity "
                f"{report.validity:.2f}, accuracy {report.accuracy:.2f}."
            )
        tc = counts[tname]
        tc.test_excluded = len(inputs) - len(clean)
        tc.offered = report.labelled + sum(report.dropped.values()) + tc.test_excluded
        tc.dropped = dict(report.dropped)
        tc.invalid = report.dropped.get("invalid", 0)
        for item_id, text_in, answer in labels:
            if item_id in gold_by_id and gold_by_id[item_id] != answer:
                tc.mismatched += 1
                continue
            offer(tname, item_id, text_in, answer)

    if synthesize > 0:
        _offer_synthetic(task_set, spec, train, synthesize, seed, teacher, counts, offer)

    for it in augment_by_substitution(train, augment, seed=seed):
        counts["template"].offered += 1
        try:
            answer = canonical_answer(spec, it.gold)
        except EnforcementError:
            counts["template"].invalid += 1
            continue
        offer("template", it.id, it.input, answer)

    cap = qopts.cap(sum(1 for c in candidates if c[0] == "gold"))
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    seen_near: set[str] = set()
    for source, item_id, text_in, answer in candidates:
        key, near = normalize_input(text_in), near_key(text_in)
        if key in seen:
            counts[source].duplicate += 1
            continue
        if near in seen_near:
            counts[source].near_duplicate += 1
            continue
        if source != "gold" and counts[source].kept >= cap:
            counts[source].capped += 1
            continue
        seen.add(key)
        seen_near.add(near)
        counts[source].kept += 1
        messages = [*make_messages(spec, text_in, instruction), {"role": "assistant", "content": answer}]
        records.append({"id": item_id, "source": source, "messages": messages})

    random.Random(seed).shuffle(records)
    _check_no_test(records, test_ids, test_inputs)
    records, dev_records = split_dev(records, qopts, seed)
    out = Path(out_path)
    write_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    dev = None
    if dev_records:
        dev_file = out.with_name("dev.jsonl")
        write_atomic(dev_file, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in dev_records))
        dev = {
            "path": dev_file.name,
            "records": len(dev_records),
            "sources": dict(Counter(r["source"] for r in dev_records)),
            "sha256": file_sha256(dev_file),
        }
    by_source = Counter(r["source"] for r in records)
    card = DatasetCard(
        path=out.name,
        records=len(records),
        sources={name: {**asdict(c), "validity": c.validity} for name, c in counts.items()},
        spec_hash=spec.hash,
        dataset_sha256=file_sha256(out),
        token_lengths=token_stats(records, tokenizer) if tokenizer is not None else None,
        instruction=instruction,
        test_ids=len(test_ids),
        seed=seed,
        formbound_version=__version__,
        shares={k: round(v / len(records), 4) for k, v in sorted(by_source.items())} if records else {},
        cap_per_source=cap,
        dev=dev,
        teacher=teacher_report,
        note=note,
    )
    write_atomic(card_path(out), json.dumps(card.to_dict(), indent=2) + "\n")
    return card


def _offer_synthetic(
    task_set: TaskSet,
    spec: Any,
    train: Sequence[Task],
    n: int,
    seed: int,
    teacher: Any,
    counts: dict[str, SourceCounts],
    offer: Callable[[str, str, str, str | None], None],
) -> None:
    """Offer SQL or schema-driven synthetic records (whichever fits the task set's format)."""
    if task_set.database is not None and spec.format == "sql":
        from formbound.escalate.synth_sql import synthesize_sql

        result = synthesize_sql(task_set, limit=n, teacher=teacher)
        c = counts["sql_synth"]
        c.offered = result.counts.get("offered", 0)
        c.dropped = {k: v for k, v in result.counts.items() if k not in ("offered", "kept")}
        for k, pair in enumerate(result.pairs):
            offer("sql_synth", f"sql~{pair.kind}~{k + 1}", pair.question, pair.query)
        return
    from formbound.escalate.synth_schema import synthesize_from_schema

    items, dropped = synthesize_from_schema(task_set, train, n, seed=seed, teacher=teacher)
    c = counts["schema_synth"]
    c.offered = dropped.get("offered", 0)
    c.dropped = {k: v for k, v in dropped.items() if k != "offered"}
    for it in items:
        try:
            answer = canonical_answer(spec, it.gold)
        except EnforcementError:
            c.invalid += 1
            continue
        offer("schema_synth", it.id, it.input, answer)


def _check_no_test(records: list[dict[str, Any]], test_ids: set[str], test_inputs: set[str]) -> None:
    for rec in records:
        user = "\n".join(m["content"] for m in rec["messages"] if m["role"] == "user")
        if rec["id"] in test_ids or any(t and t in normalize_input(user) for t in test_inputs):
            raise FormboundError(
                f"test item leaked into the fine-tuning set (record {rec['id']!r}); refusing to write"
            )

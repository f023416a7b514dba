"""Teacher distillation: a stronger model labels inputs through its best rung of the ladder.

The teacher answers through :class:`formbound.Generator` with ``constrained`` decoding where its model
source can constrain, else ``reask``; every kept answer passes ``enforce(repair=False)``. Where the
train split has gold, the teacher is scored on it first (validity, accuracy) and refused below
``min_accuracy``. Self-consistency (``samples`` answers at ``temperature`` > 0, majority kept) and
agreement with a second teacher filter the labels further.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, EnforcementError

if TYPE_CHECKING:
    from formbound.measure.tasks import Task, TaskSet

__all__ = [
    "TeacherOptions",
    "TeacherRejected",
    "TeacherReport",
    "label_with_teacher",
    "paraphrase",
    "teacher_name",
]


class TeacherRejected(ConfigError):
    """The teacher's answers on the gold train items are not accurate enough to train on.

    Attributes:
        report: The :class:`TeacherReport` with the numbers.
    """

    def __init__(self, message: str, report: TeacherReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class TeacherOptions:
    """How a teacher labels.

    Attributes:
        min_accuracy: Refuse a teacher whose accuracy on the gold train items is below this.
        samples: Answers per input; above 1, the majority answer is kept (self-consistency).
        temperature: Sampling temperature when ``samples`` > 1.
        second: A second teacher; an answer is kept only when both agree.
        max_new_tokens: Token limit per answer (default: the :class:`~formbound.Generator` default, 256).
    """

    min_accuracy: float = 0.8
    samples: int = 1
    temperature: float = 0.7
    second: Any = None
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_accuracy <= 1:
            raise ConfigError(f"min_accuracy must be in [0, 1], got {self.min_accuracy!r}")
        if self.samples < 1:
            raise ConfigError(f"samples must be >= 1, got {self.samples!r}")
        if self.samples > 1 and self.temperature <= 0:
            raise ConfigError("self-consistency needs temperature > 0 (greedy samples are all the same)")


@dataclass
class TeacherReport:
    """How good the teacher's labels are: scored on gold train items, and what was dropped why."""

    name: str
    strategy: str
    scored: int = 0
    validity: float | None = None
    accuracy: float | None = None
    min_accuracy: float = 0.8
    dropped: dict[str, int] = field(default_factory=dict)
    labelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def teacher_name(model: Any) -> str:
    """``teacher:NAME`` — the source label of a teacher's records."""
    return f"teacher:{getattr(model, 'name', None) or type(model).__name__}"


def _generators(model: Any, spec: Any, task_set: TaskSet, opts: TeacherOptions) -> list[Any]:
    from formbound.generate import Generator

    strategy = "constrained" if getattr(model, "can_constrain", False) else "reask"
    n = opts.samples
    return [
        Generator(
            model,
            spec,
            strategy=strategy,
            instruction=task_set.instruction,
            max_new_tokens=opts.max_new_tokens,
            temperature=opts.temperature if n > 1 else 0.0,
            seed=k if n > 1 else None,
        )
        for k in range(n)
    ]


def _answers(gens: list[Any], spec: Any, inputs: Sequence[str]) -> list[tuple[str | None, str]]:
    """(answer text or None, reason) per input: majority of the samples, each re-enforced without repair."""
    from formbound.enforce import enforce

    per_sample = [g.batch(list(inputs)) for g in gens]
    out: list[tuple[str | None, str]] = []
    for i in range(len(inputs)):
        texts = []
        for outs in per_sample:
            r = outs[i]
            if isinstance(r, EnforcementError):
                continue
            try:
                texts.append(enforce(r.text, spec, repair=False).text)
            except EnforcementError:
                continue
        if not texts:
            out.append((None, "invalid"))
            continue
        top, count = Counter(texts).most_common(1)[0]
        out.append((top, "ok") if count * 2 > len(gens) else (None, "no_majority"))
    return out


def _correct(spec: Any, task_set: TaskSet, answer: str, gold: Any) -> float:
    """Share of gold leaves right (JSON/YAML), or execution match (SQL with a database)."""
    database = task_set.database
    if isinstance(gold, str) and database is not None:
        from formbound.formats.sql.execute import execution_match

        return float(execution_match(database, answer, gold)[0])
    from formbound.measure.metrics import field_scores

    value = spec.check(answer)
    value = json.loads(json.dumps(value, default=str))
    scores = field_scores(value, gold)
    return sum(scores.values()) / len(scores) if scores else float(value == gold)


def label_with_teacher(
    teacher: Any,
    task_set: TaskSet,
    train: Sequence[Task],
    inputs: Sequence[str],
    options: TeacherOptions | None = None,
) -> tuple[list[tuple[str, str, str]], TeacherReport]:
    """Label ``inputs`` (and the train inputs without gold) with a teacher, after scoring it on gold.

    Returns:
        ``(labels, report)``: labels are ``(id, input, answer text)``; ids are ``u<k>`` for the given
        inputs and the item id for train inputs.

    Raises:
        TeacherRejected: the teacher's accuracy on the gold train items is below ``min_accuracy``.
    """
    opts = options or TeacherOptions()
    spec = task_set.spec
    gens = _generators(teacher, spec, task_set, opts)
    report = TeacherReport(teacher_name(teacher), gens[0].strategy.name, min_accuracy=opts.min_accuracy)
    dropped: Counter[str] = Counter()
    gold_items = [it for it in train if it.gold is not None]
    if gold_items:
        answers = _answers(gens, spec, [it.input for it in gold_items])
        valid = [(a, it) for (a, _), it in zip(answers, gold_items, strict=True) if a is not None]
        report.scored = len(gold_items)
        report.validity = round(len(valid) / len(gold_items), 4)
        right = sum(_correct(spec, task_set, a, it.gold) for a, it in valid)
        report.accuracy = round(right / len(gold_items), 4)
        if report.accuracy < opts.min_accuracy:
            raise TeacherRejected(
                f"teacher {report.name!r} scores accuracy {report.accuracy:.2f} (validity "
                f"{report.validity:.2f}) on {report.scored} gold train items, below min_accuracy "
                f"{opts.min_accuracy:.2f}; use a stronger teacher or lower the threshold",
                report,
            )
    todo = [(f"u{k + 1}", text) for k, text in enumerate(inputs)]
    todo += [(it.id, it.input) for it in train if it.gold is None]
    answers = _answers(gens, spec, [t for _, t in todo])
    if opts.second is not None:
        second = _answers(
            _generators(opts.second, spec, task_set, TeacherOptions(min_accuracy=0)),
            spec,
            [t for _, t in todo],
        )
        answers = [
            (a, r) if a is None or a == b else (None, "disagreement")
            for (a, r), (b, _) in zip(answers, second, strict=True)
        ]
    labels = []
    for (item_id, text), (answer, reason) in zip(todo, answers, strict=True):
        if answer is None:
            dropped[reason] += 1
        else:
            labels.append((item_id, text, answer))
    report.dropped = dict(dropped)
    report.labelled = len(labels)
    return labels, report


_PARAPHRASE = (
    "Rewrite this question in different words for a database user. Keep every quoted value and every "
    "number exactly as written. Answer with the rewritten question only, on one line.\n\nQuestion: {q}"
)


def _literals(text: str) -> list[str]:
    import re

    return re.findall(r"'([^']*)'", text) + re.findall(r"\b\d+(?:\.\d+)?\b", text)


def paraphrase(teacher: Any, pairs: Sequence[Any]) -> tuple[list[Any], int]:
    """Pairs with their questions paraphrased by ``teacher`` where the paraphrase keeps every literal.

    Returns:
        ``(pairs, n_paraphrased)``; a pair whose paraphrase is empty, multi-line or drops a quoted value
        or number keeps its template question.
    """
    from dataclasses import replace

    prompts = [[{"role": "user", "content": _PARAPHRASE.format(q=p.question)}] for p in pairs]
    gens = teacher.generate(prompts, max_new_tokens=96, temperature=0.0) if prompts else []
    out, n = [], 0
    for pair, gen in zip(pairs, gens, strict=True):
        text = str(getattr(gen, "text", gen)).strip().strip('"')
        keeps = all(lit in text for lit in _literals(pair.question))
        if text and "\n" not in text and keeps and gen.finish_reason != "length":
            out.append(replace(pair, question=text))
            n += 1
        else:
            out.append(pair)
    return out, n

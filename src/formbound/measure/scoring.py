"""Score a record against its task's gold answer (field matches, SQL execution, causes of wrong values)."""

from __future__ import annotations

from typing import Any

from formbound._util import MISSING, pointer_get
from formbound.errors import ConfigError
from formbound.measure.metrics import classify_wrong, field_scores, leaves
from formbound.measure.records import Record
from formbound.measure.tasks import Task, TaskSet

__all__ = ["score", "sql_literals"]

_UNSET = object()


def _at(value: Any, path: str) -> Any:
    found = pointer_get(value, path)
    return None if found is MISSING else found


def sql_literals(sql: str, dialect: str = "sqlite") -> list[Any]:
    """String and number literals of a query (what a question must mention for a model to write it)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        return []
    out: list[Any] = []
    for lit in tree.find_all(exp.Literal):
        if lit.is_string:
            out.append(lit.this)
        else:
            try:
                num = float(lit.this)
            except ValueError:
                continue
            out.append(int(num) if num.is_integer() else num)
    return out


def score(task_set: TaskSet, task: Task, record: Record) -> Record:
    """Fill ``record.correct``, ``record.fields`` and ``record.wrong`` from ``task.gold``; return it.

    JSON/YAML: per-leaf exact match (:func:`~formbound.measure.metrics.field_scores`); whole-object
    match when every leaf matches. An invalid answer scores every gold leaf wrong. Each wrong leaf of a
    valid answer is classified by :func:`~formbound.measure.metrics.classify_wrong`.

    SQL: execution accuracy — same multiset of rows as the gold query on the task set's database. A
    wrong valid query is "missing_information" when a literal of the gold query (a name, a code, a
    number) does not occur in the question, else "behaviour".
    """
    if task_set.format == "sql":
        return _score_sql(task_set, task, record)
    if not record.schema_valid:
        record.fields = {path: False for path in leaves(task.gold)}
        record.correct = False
        record.wrong = []
        return record
    scores = field_scores(record.value, task.gold)
    record.fields = scores
    record.correct = all(scores.values())
    record.wrong = []
    for path, ok in scores.items():
        if ok:
            continue
        gold = _at(task.gold, path)
        record.wrong.append(
            {
                "path": path,
                "gold": gold,
                "pred": _at(record.value, path),
                "cause": classify_wrong(gold, task.input),
            }
        )
    return record


def _score_sql(task_set: TaskSet, task: Task, record: Record) -> Record:
    from formbound.formats.sql.execute import execution_match

    record.fields = None
    record.wrong = []
    if not record.schema_valid or not isinstance(record.value, str):
        record.correct = False
        return record
    db = task_set.database
    if db is None:  # pragma: no cover - SQL sets always have a database
        raise ConfigError(f"task set {task_set.name!r} has no database to execute queries on")
    ok, problem = execution_match(db, record.value, str(task.gold))
    record.correct = ok
    if not ok:
        dialect = str(task_set.spec.describe().get("dialect") or "sqlite")
        # Only string literals: numbers in LIMIT 1 or "> 0" are rarely spelled out in a question.
        absent = [
            lit
            for lit in sql_literals(str(task.gold), dialect)
            if isinstance(lit, str) and classify_wrong(lit, task.input) != "behaviour"
        ]
        record.wrong.append(
            {
                "path": "",
                "gold": str(task.gold),
                "pred": record.value,
                "cause": "missing_information" if absent else "behaviour",
                **({"absent": absent} if absent else {}),
                **({"problem": problem} if problem else {}),
            }
        )
    return record

"""SQL ``enforce`` (parse + policy + schema check) per query vs sqlglot alone, on the shop_sql gold queries.

Baselines measured in the same run, on the same 50 gold queries of ``src/formbound/tasksets/shop_sql``:
  * ``sqlglot.parse_one(q, read="sqlite")`` — syntax only (what a user would call at the least);
  * ``parse_one`` + ``sqlglot.optimizer.qualify.qualify(schema=...)`` — the nearest sqlglot gets to
    formbound's schema stage (unknown tables/columns raise with ``validate_qualify_columns``).
formbound: ``enforce(q, spec)`` with the task set's spec (sqlite dialect, DDL from schema.sql: parse,
one-statement/read-only policy, tables and columns resolved). Repairable inputs wrap each gold query in
a Markdown fence, a ``SQL:`` label with ``;;``, or prose around it; their baseline is ``parse_one`` on
the clean query (a user calling sqlglot directly has no repair at all: every one of them fails there).

Figures are the median, over ``--rounds`` rounds (7), of the mean time per query over the 50 queries.

Rerun: python bench/bench_sql.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlglot
from _common import ROOT, machine, median_seconds, table
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

import formbound as fb

SET = Path(ROOT) / "src" / "formbound" / "tasksets" / "shop_sql"

#: How a model wraps a correct query; every one of these is repaired by formbound.
WRAPPERS: dict[str, Callable[[str], str]] = {
    "fenced": lambda q: f"```sql\n{q};\n```",
    "label + ;;": lambda q: f"SQL: {q};;",
    "prose around": lambda q: f"Here is the query:\n{q}\nIt answers the question.",
}


def load() -> tuple[fb.Spec, list[str], dict[str, object]]:
    data = json.loads((SET / "spec.json").read_text(encoding="utf-8"))
    data.pop("task")
    spec = fb.Spec.from_dict(data, base_dir=SET)
    lines = (SET / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["gold"] for line in lines if line.strip()]
    schema: dict[str, object] = {}  # table -> {column: type}, as qualify() takes it
    for statement in sqlglot.parse((SET / "schema.sql").read_text(encoding="utf-8"), read="sqlite"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            table_name = statement.this.this.name
            columns = statement.this.expressions
            schema[table_name] = {
                c.name: (c.args["kind"].sql("sqlite") if c.args.get("kind") else "TEXT")
                for c in columns
                if isinstance(c, exp.ColumnDef)
            }
    return spec, queries, schema


def main() -> None:
    parser = argparse.ArgumentParser(description="SQL enforce vs sqlglot on the shop_sql gold queries")
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (the median is reported)")
    args = parser.parse_args()
    rounds = args.rounds
    spec, queries, schema = load()
    n = len(queries)

    def parse_only() -> None:
        for q in queries:
            sqlglot.parse_one(q, read="sqlite")

    def parse_qualify() -> None:
        for q in queries:
            qualify(sqlglot.parse_one(q, read="sqlite"), schema=schema, dialect="sqlite")

    def ours(texts: list[str]) -> Callable[[], None]:
        def run() -> None:
            for t in texts:
                fb.enforce(t, spec)

        return run

    # Every gold query must pass both sides before anything is timed.
    ours(queries)()
    qualified_ok = 0
    for q in queries:
        try:
            qualify(sqlglot.parse_one(q, read="sqlite"), schema=schema, dialect="sqlite")
            qualified_ok += 1
        except SqlglotError:
            pass  # counted: sqlglot's qualifier rejects a few valid queries (reported below)

    base_parse = median_seconds(parse_only, 1, rounds) / n
    base_qualify = median_seconds(parse_qualify, 1, rounds) / n
    valid = median_seconds(ours(queries), 1, rounds) / n
    rows: list[list[Any]] = [
        ["valid gold", "sqlglot.parse_one", f"{base_parse * 1e6:.0f}", f"{valid * 1e6:.0f}",
         f"{valid / base_parse:.2f}x"],
        ["valid gold", "parse_one + qualify(schema)", f"{base_qualify * 1e6:.0f}", f"{valid * 1e6:.0f}",
         f"{valid / base_qualify:.2f}x"],
    ]  # fmt: skip
    for name, wrap in WRAPPERS.items():
        texts = [wrap(q) for q in queries]
        repaired = [fb.enforce(t, spec).repairs for t in texts]
        assert all(repaired), f"{name}: some inputs were not repaired"
        direct_fail = 0
        for t in texts:
            try:
                sqlglot.parse_one(t, read="sqlite")
            except SqlglotError:
                direct_fail += 1
        took = median_seconds(ours(texts), 1, repeat=min(5, rounds)) / n
        rows.append(
            [f"repairable: {name} ({direct_fail}/{n} rejected by parse_one)",
             "sqlglot.parse_one (clean query)", f"{base_parse * 1e6:.0f}", f"{took * 1e6:.0f}",
             f"{took / base_parse:.2f}x"]
        )  # fmt: skip

    print(f"# SQL enforce vs sqlglot — {machine(['sqlglot'])}")
    print(
        f"{n} gold queries of the bundled shop_sql task set; qualify() accepted {qualified_ok}/{n}; "
        f"median of {rounds} rounds\n"
    )
    print(table(["input", "baseline", "baseline µs/query", "formbound µs/query", "ratio"], rows))
    print("\nrerun: python bench/bench_sql.py" + (f" --rounds {rounds}" if rounds != 7 else ""))


if __name__ == "__main__":
    main()

"""The templates of SQL synthesis: a profile of each table's columns and values, and the pairs they make.

Generic over any schema with foreign keys: the display column of a table is ``name`` when it has one,
else its primary key; low-cardinality text columns give equality filters and ``GROUP BY``; numeric
columns give thresholds, aggregates and ``ORDER BY``/``LIMIT``; foreign keys give joins and anti-joins.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from formbound.escalate.synth_sql import SqlPair

__all__ = ["profile", "table_pairs"]


# --------------------------------------------------------------------------------- wording
def _words(name: str) -> str:
    return name.replace("_", " ").lower()


def _singular(name: str) -> str:
    w = _words(name)
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith("ses"):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class _Table:
    name: str
    display: str
    pk: str | None
    categorical: list[tuple[str, list[Any]]]  # low-cardinality columns and their values
    unique_text: list[tuple[str, list[str]]]  # e.g. names: a few values
    numeric: list[tuple[str, list[float]]]  # values sorted
    dates: list[tuple[str, list[str]]]
    fks: list[tuple[str, str, str]]


def profile(conn: sqlite3.Connection, schema: Any, max_values: int) -> dict[str, _Table]:
    out = {}
    for t in schema.tables:
        if t.view:
            continue
        cols = t.column_names
        fk_cols = {fk[0] for fk in t.foreign_keys}
        pk = "id" if "id" in cols else None
        text_cols = [c.name for c in t.columns if "CHAR" in c.type.upper() or "TEXT" in c.type.upper()]
        display = "name" if "name" in cols else (pk or (text_cols[0] if text_cols else cols[0]))
        prof = _Table(t.name, display, pk, [], [], [], [], list(t.foreign_keys))
        n_rows = conn.execute(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]
        for c in t.columns:
            if c.name in fk_cols or c.name == pk:
                continue
            values = [
                r[0] for r in conn.execute(f'SELECT "{c.name}" FROM "{t.name}" WHERE "{c.name}" IS NOT NULL')
            ]
            if not values:
                continue
            distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
            if all(isinstance(v, str) for v in values):
                if all(_DATE.match(v) for v in values):
                    prof.dates.append((c.name, sorted(values)))
                elif len(distinct) <= max(2, n_rows // 3):
                    counts = Counter(values)
                    prof.categorical.append((c.name, [v for v, _ in counts.most_common(max_values)]))
                else:
                    step = max(1, len(distinct) // max_values)
                    prof.unique_text.append((c.name, distinct[::step][:max_values]))
            elif all(isinstance(v, (int, float)) for v in values):
                prof.numeric.append((c.name, sorted(float(v) for v in values)))
        out[t.name] = prof
    return out


def _thresholds(values: list[float]) -> list[float | int]:
    picks = []
    for q in (0.25, 0.5, 0.75):
        v = values[min(len(values) - 1, int(q * len(values)))]
        picks.append(int(v) if float(v).is_integer() else round(v))
    return sorted(set(picks))


# ------------------------------------------------------------------------------ templates
def _single_table(t: _Table) -> Iterator[SqlPair]:
    n, d, s = t.name, t.display, _singular(t.name)
    tw = _words(n)
    for col, values in t.categorical:
        cw = _words(col)
        for v in values:
            yield SqlPair(
                f"Which {tw} have {cw} {_lit(v)}? Give their {_words(d)}.",
                f"SELECT {d} FROM {n} WHERE {col} = {_lit(v)}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have {cw} {_lit(v)}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} = {_lit(v)}",
                "aggregate",
            )
            for num, _ in t.numeric:
                yield SqlPair(
                    f"What is the average {_words(num)} of {tw} with {cw} {_lit(v)}, to two decimals?",
                    f"SELECT ROUND(AVG({num}), 2) FROM {n} WHERE {col} = {_lit(v)}",
                    "aggregate",
                )
        for v in values[:4]:
            for num, nvalues in t.numeric:
                x = _thresholds(nvalues)[0]
                yield SqlPair(
                    f"Which {tw} with {cw} {_lit(v)} have a {_words(num)} above {x}? Give their {_words(d)}.",
                    f"SELECT {d} FROM {n} WHERE {col} = {_lit(v)} AND {num} > {x}",
                    "filter",
                )
        yield SqlPair(f"List the distinct {cw} values of {tw}.", f"SELECT DISTINCT {col} FROM {n}", "filter")
        yield SqlPair(
            f"How many {tw} are there for each {cw}?",
            f"SELECT {col}, COUNT(*) FROM {n} GROUP BY {col}",
            "group_by",
        )
        for k in (1, 2, 3):
            yield SqlPair(
                f"Which {cw} values occur in more than {k} {tw}? Give the {cw} and the count.",
                f"SELECT {col}, COUNT(*) FROM {n} GROUP BY {col} HAVING COUNT(*) > {k}",
                "having",
            )
        for num, _ in t.numeric:
            yield SqlPair(
                f"What is the total {_words(num)} of {tw} for each {cw}?",
                f"SELECT {col}, SUM({num}) FROM {n} GROUP BY {col}",
                "group_by",
            )
    for col, values in t.unique_text:
        for v in values:
            for other in [c for c, _ in t.categorical + t.numeric + t.dates + t.unique_text if c != col][:3]:
                yield SqlPair(
                    f"What is the {_words(other)} of the {s} whose {_words(col)} is {_lit(v)}?",
                    f"SELECT {other} FROM {n} WHERE {col} = {_lit(v)}",
                    "filter",
                )
    for num, values in t.numeric:
        nw = _words(num)
        for x in _thresholds(values):
            yield SqlPair(
                f"Which {tw} have a {nw} greater than {x}? Give the {_words(d)} and {nw}.",
                f"SELECT {d}, {num} FROM {n} WHERE {num} > {x}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have a {nw} below {x}?",
                f"SELECT COUNT(*) FROM {n} WHERE {num} < {x}",
                "aggregate",
            )
        for fn, word in (("MIN", "lowest"), ("MAX", "highest"), ("SUM", "total")):
            yield SqlPair(
                f"What is the {word} {nw} over all {tw}?", f"SELECT {fn}({num}) FROM {n}", "aggregate"
            )
        for k in (1, 2, 3, 4, 5):
            for order, word in (("DESC", "highest"), ("ASC", "lowest")):
                q = (
                    f"Which {s} has the {word} {nw}?"
                    if k == 1
                    else f"What are the {k} {tw} with the {word} {nw}? "
                    f"Give the {_words(d)} and {nw}, {word} first."
                )
                sel = d if k == 1 else f"{d}, {num}"
                yield SqlPair(q, f"SELECT {sel} FROM {n} ORDER BY {num} {order} LIMIT {k}", "order_limit")
    for col, values in t.dates:
        cw = _words(col)
        for v in (values[len(values) // 4], values[len(values) // 2], values[3 * len(values) // 4]):
            yield SqlPair(
                f"Which {tw} have a {cw} before {v}? Give their {_words(d)}.",
                f"SELECT {d} FROM {n} WHERE {col} < {_lit(v)}",
                "filter",
            )
            yield SqlPair(
                f"How many {tw} have a {cw} on or after {v}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} >= {_lit(v)}",
                "aggregate",
            )
        for year in sorted({v[:4] for v in values}):
            yield SqlPair(
                f"How many {tw} have a {cw} in {year}?",
                f"SELECT COUNT(*) FROM {n} WHERE {col} LIKE '{year}-%'",
                "aggregate",
            )


def _joins(child: _Table, tables: dict[str, _Table]) -> Iterator[SqlPair]:
    c, cw, cs = child.name, _words(child.name), _singular(child.name)
    for fk, parent_name, ref in child.fks:
        p = tables.get(parent_name)
        if p is None:
            continue
        pn, pw, ps, pd = p.name, _words(p.name), _singular(p.name), p.display
        on = f"JOIN {c} AS c ON c.{fk} = p.{ref}"
        for col, values in p.categorical + p.unique_text:
            for v in values:
                what = child.display if child.display != fk else child.pk or child.display
                yield SqlPair(
                    f"List the {cw} of {pw} whose {_words(col)} is {_lit(v)}. Give the {cs} {_words(what)}.",
                    f"SELECT c.{what} FROM {pn} AS p {on} WHERE p.{col} = {_lit(v)}",
                    "join",
                )
        for col, values in child.categorical:
            for v in values:
                yield SqlPair(
                    f"Which {pw} have at least one {cs} with {_words(col)} {_lit(v)}? "
                    f"List each {_words(pd)} once.",
                    f"SELECT DISTINCT p.{pd} FROM {pn} AS p {on} WHERE c.{col} = {_lit(v)}",
                    "join",
                )
                yield SqlPair(
                    f"Which {pw} have no {cs} with {_words(col)} {_lit(v)}?",
                    f"SELECT p.{pd} FROM {pn} AS p WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {c} AS c WHERE c.{fk} = p.{ref} AND c.{col} = {_lit(v)})",
                    "anti_join",
                )
        for col, values in p.categorical + p.unique_text:
            for v in values[:6]:
                yield SqlPair(
                    f"How many {cw} belong to the {ps} whose {_words(col)} is {_lit(v)}?",
                    f"SELECT COUNT(*) FROM {pn} AS p {on} WHERE p.{col} = {_lit(v)}",
                    "join",
                )
        yield SqlPair(
            f"Which {pw} have no {cw} at all?",
            f"SELECT p.{pd} FROM {pn} AS p WHERE NOT EXISTS (SELECT 1 FROM {c} AS c WHERE c.{fk} = p.{ref})",
            "anti_join",
        )
        yield SqlPair(
            f"How many {cw} does each {ps} have? Give the {ps} {_words(pd)} and the count.",
            f"SELECT p.{pd}, COUNT(*) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd}",
            "group_by",
        )
        for k in (1, 2, 3, 4):
            yield SqlPair(
                f"Which {pw} have more than {k} {cw}? Give the {_words(pd)} and the number of {cw}.",
                f"SELECT p.{pd}, COUNT(*) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd} HAVING COUNT(*) > {k}",
                "having",
            )
        for num, _ in child.numeric:
            yield SqlPair(
                f"What is the total {_words(num)} of {cw} for each {ps}? "
                f"Give the {_words(pd)} and the total.",
                f"SELECT p.{pd}, SUM(c.{num}) FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd}",
                "group_by",
            )
            yield SqlPair(
                f"Which {ps} has the largest total {_words(num)} of {cw}?",
                f"SELECT p.{pd} FROM {pn} AS p {on} GROUP BY p.{ref}, p.{pd} "
                f"ORDER BY SUM(c.{num}) DESC LIMIT 1",
                "order_limit",
            )


def table_pairs(t: _Table, tables: dict[str, _Table]) -> Iterator[SqlPair]:
    """Every templated pair of one table: single-table templates, then joins along its foreign keys."""
    yield from _single_table(t)
    yield from _joins(t, tables)

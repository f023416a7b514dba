"""A Lark grammar (llguidance dialect) for a read-only query subset over a known schema.

The grammar produces ``SELECT`` queries only — joins, WHERE, GROUP BY/HAVING, ORDER BY, LIMIT,
aggregates and simple arithmetic — and nothing that writes. Every table and column it can produce
comes from the spec's schema, and each query is generated for one *scope* (a table, or two tables joined
on a foreign key), so a column can only be named in a query whose FROM clause has it: an unknown or
ambiguous column cannot be generated. Spaces are fixed (no runaway whitespace).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from formbound.formats.sql.identifiers import quote_identifier, reserved_words
from formbound.formats.sql.schema import SqlSchema, SqlTable

__all__ = ["build_grammar"]

#: Joined pairs of tables kept at most, so the grammar stays small for wide schemas.
MAX_JOIN_PAIRS = 40


def _lit(text: str) -> str:
    return json.dumps(text)


@dataclass(frozen=True)
class _Scope:
    key: str
    from_clause: str  # grammar expression for the FROM clause
    columns: tuple[str, ...]  # grammar literals of column references (already quoted as literals)


def _scopes(schema: SqlSchema, dialect: str, reserved: set[str]) -> tuple[list[_Scope], list[str]]:
    """One scope per table, one per joined pair; and the extra rules the join conditions need."""
    scopes: list[_Scope] = []
    rules: list[str] = []
    q = {t.name.lower(): quote_identifier(t.name, dialect, reserved) for t in schema.tables}

    def cols(table: SqlTable, qualify: bool) -> list[str]:
        prefix = q[table.name.lower()] + "." if qualify else ""
        return [prefix + quote_identifier(c, dialect, reserved) for c in table.column_names]

    for i, table in enumerate(schema.tables):
        refs = cols(table, False) + cols(table, True)
        scopes.append(_Scope(f"t{i}", _lit(q[table.name.lower()]), tuple(_lit(r) for r in refs)))
    for n, (a, b, on_pairs) in enumerate(_join_pairs(schema)):
        key = f"j{n}"
        names_a = {c.lower() for c in a.column_names}
        names_b = {c.lower() for c in b.column_names}
        shared = names_a & names_b
        refs = cols(a, True) + cols(b, True)
        refs += [
            quote_identifier(c, dialect, reserved)
            for c in (*a.column_names, *b.column_names)
            if c.lower() not in shared
        ]
        qa, qb = q[a.name.lower()], q[b.name.lower()]
        if on_pairs:
            on = " | ".join(
                _lit(f"{left} = {right}")
                for x, y in on_pairs
                for pair in [
                    (
                        f"{qa}.{quote_identifier(x, dialect, reserved)}",
                        f"{qb}.{quote_identifier(y, dialect, reserved)}",
                    )
                ]
                for left, right in (pair, pair[::-1])
            )
        else:
            on = f'{key}_ca " = " {key}_cb | {key}_cb " = " {key}_ca'
            rules.append(f"{key}_ca: " + " | ".join(_lit(r) for r in cols(a, True)))
            rules.append(f"{key}_cb: " + " | ".join(_lit(r) for r in cols(b, True)))
        rules.append(f"{key}_on: {on}")
        rules.append(f"{key}_from: {_lit(qa)} join_kind {_lit(qb)} | {_lit(qb)} join_kind {_lit(qa)}")
        from_clause = f'{key}_from " ON " {key}_on'
        scopes.append(_Scope(key, from_clause, tuple(_lit(r) for r in dict.fromkeys(refs))))
    return scopes, rules


def _join_pairs(schema: SqlSchema) -> list[tuple[SqlTable, SqlTable, list[tuple[str, str]]]]:
    """Pairs of distinct tables to join: along foreign keys when the schema has any, else every pair."""
    tables = schema.tables
    pairs: dict[tuple[str, str], tuple[SqlTable, SqlTable, list[tuple[str, str]]]] = {}
    for table in tables:
        for column, ref_table, ref_column in table.foreign_keys:
            target = schema.table(ref_table)
            if target is None or target.name.lower() == table.name.lower():
                continue
            ref_col = ref_column or (target.column_names[0] if target.column_names else "")
            if target.column(ref_col) is None or table.column(column) is None:
                continue
            key = (table.name.lower(), target.name.lower())
            entry = pairs.setdefault(key, (table, target, []))
            entry[2].append((table.column(column).name, target.column(ref_col).name))  # type: ignore[union-attr]
    if not pairs:
        for i, a in enumerate(tables):
            for b in tables[i + 1 :]:
                pairs[(a.name.lower(), b.name.lower())] = (a, b, [])
    return list(pairs.values())[:MAX_JOIN_PAIRS]


def _limit_style(dialect: str) -> str:
    if dialect in ("tsql", "fabric"):
        return "top"
    if dialect in ("oracle",):
        return "fetch"
    return "limit"


def build_grammar(schema: SqlSchema | None, dialect: str, tables: tuple[str, ...] | None = None) -> str:
    """The Lark grammar (start rule ``start``) of the query subset.

    Args:
        schema: Tables and columns to draw identifiers from; None for generic identifiers.
        dialect: The sqlglot dialect the queries are written in.
        tables: Without a schema, the only table names allowed (``allowed_tables``); None for any.
    """
    reserved = set(reserved_words(dialect))
    style = _limit_style(dialect)
    rules: list[str] = []
    scope_rules: list[str] = []
    if schema is not None:
        scopes, extra = _scopes(schema, dialect, reserved)
        rules.extend(extra)
        for scope in scopes:
            rules.append(f"{scope.key}_c: " + " | ".join(scope.columns))
    else:
        if tables:
            table_rule = " | ".join(_lit(quote_identifier(t, dialect, reserved)) for t in tables)
        else:
            table_rule = "IDENT"
        rules.append(f"gen_t: {table_rule}")
        rules.append('gen_c: IDENT | gen_t "." IDENT')
        rules.append('gen_on: gen_c " = " gen_c')
        from_clause = 'gen_t (join_kind gen_t " ON " gen_on)?'
        scopes = [_Scope("gen", from_clause, ())]
    for scope in scopes:
        k = scope.key
        top = '("TOP " INT " ")? ' if style == "top" else ""
        limit = ""
        if style == "limit":
            limit = ' (" LIMIT " INT)?'
        elif style == "fetch":
            limit = ' (" FETCH FIRST " INT " ROWS ONLY")?'
        # ORDER BY an aggregate only with GROUP BY: SQLite calls it a misuse of aggregate otherwise
        head = f'"SELECT " ("DISTINCT ")? {top}{k}_sel " FROM " {scope.from_clause} (" WHERE " {k}_cond)?'
        scope_rules.append(
            f'{k}_q: {head} (" ORDER BY " {k}_ord)?{limit}'
            f' | {head} " GROUP BY " {k}_grp (" HAVING " {k}_hcond)? (" ORDER BY " {k}_gord)?{limit}'
        )
        scope_rules += [
            f'{k}_sel: "*" | {k}_item (", " {k}_item){{0,7}}',
            f'{k}_item: ({k}_val | {k}_agg) (" AS " ALIAS)?',
            f'{k}_agg: "COUNT(*)" | aggf "(" ("DISTINCT ")? {k}_c ")"',
            f"{k}_val: {k}_term (arith {k}_term){{0,2}}",
            f"{k}_term: {k}_c | num",
            f"{k}_cond: {k}_pred (logic {k}_pred){{0,3}}",
            f'{k}_pred: ("NOT ")? {k}_atom',
            f"{k}_atom: {k}_val cmp {k}_val"
            f' | {k}_c " IS " ("NOT ")? "NULL"'
            f' | {k}_c (" NOT")? " IN (" lit (", " lit){{0,5}} ")"'
            f' | {k}_c (" NOT")? " LIKE " STR'
            f' | {k}_c " BETWEEN " num " AND " num'
            f" | {k}_c cmp STR"
            f' | "(" {k}_cond ")"',
            f'{k}_grp: {k}_c (", " {k}_c){{0,3}}',
            f"{k}_hcond: {k}_agg cmp ({k}_agg | num) (logic {k}_agg cmp num){{0,2}}",
            f'{k}_ord: {k}_oi (", " {k}_oi){{0,2}}',
            f'{k}_oi: {k}_c (" ASC" | " DESC")?',
            f'{k}_gord: {k}_goi (", " {k}_goi){{0,2}}',
            f'{k}_goi: ({k}_c | {k}_agg) (" ASC" | " DESC")?',
        ]
    alias_exclusion = "|".join(re.escape(w) for w in sorted(reserved))
    lines = [
        'start: query ";"?',
        "query: " + " | ".join(f"{s.key}_q" for s in scopes),
        *scope_rules,
        *rules,
        'aggf: "COUNT" | "SUM" | "AVG" | "MIN" | "MAX"',
        'join_kind: " JOIN " | " LEFT JOIN " | " INNER JOIN "',
        'arith: " + " | " - " | " * " | " / "',
        'cmp: " = " | " <> " | " < " | " <= " | " > " | " >= "',
        'logic: " AND " | " OR "',
        "lit: num | STR",
        "num: INT | DEC",
        "INT: /[1-9][0-9]{0,5}|0/",
        r"DEC: /(0|[1-9][0-9]{0,5})\.[0-9]{1,4}/",
        r"STR: /'[^'\\\n\r\x00-\x1f]{0,40}'/",
        f"ALIAS: /[a-z][a-z0-9_]{{0,15}}/ & ~/(?i)({alias_exclusion})/",
    ]
    if schema is None:
        lines.append(f"IDENT: /[a-z_][a-z0-9_]{{0,30}}/ & ~/(?i)({alias_exclusion})/")
    return "\n".join(lines) + "\n"

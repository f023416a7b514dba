"""The schema stage of a SQL spec: every table and column a query names must exist, unambiguously.

Name resolution follows sqlglot's scopes (:func:`sqlglot.optimizer.scope.traverse_scope`): each SELECT
sees the tables, CTEs and derived tables of its FROM/JOIN clauses, the aliases of its own select list,
and, for correlated subqueries, the sources of the enclosing queries. Where the columns of a source
cannot be known (a table-valued function, ``SELECT *`` over one) the check stays silent rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from formbound._util import suggest
from formbound.errors import Issue
from formbound.formats.sql.schema import SqlSchema

__all__ = ["check_schema"]

#: Columns every table has in a dialect without declaring them.
_IMPLICIT_COLUMNS: dict[str, frozenset[str]] = {
    "sqlite": frozenset({"rowid", "oid", "_rowid_"}),
    "postgres": frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"}),
    "oracle": frozenset({"rowid", "rownum"}),
}

Columns = list[str] | None  # None: not known


def check_schema(statement: exp.Expr, schema: SqlSchema, dialect: str) -> list[Issue]:
    """Unknown tables and columns, ambiguous columns and set operations of unequal width in ``statement``."""
    checker = _Checker(schema, dialect)
    try:
        scopes = traverse_scope(statement)
    except (SqlglotError, RecursionError) as exc:
        return [Issue(f"cannot resolve the query's names: {exc}", kind="unresolvable")]
    for scope in scopes:
        checker.check_scope(scope)
    for setop in statement.find_all(exp.SetOperation):
        checker.check_setop(setop)
    return checker.issues


class _Checker:
    def __init__(self, schema: SqlSchema, dialect: str) -> None:
        self.schema = schema
        self.implicit = _IMPLICIT_COLUMNS.get(dialect, frozenset())
        self.issues: list[Issue] = []
        self._seen: set[str] = set()

    def add(self, issue: Issue) -> None:
        if issue.message not in self._seen:
            self._seen.add(issue.message)
            self.issues.append(issue)

    # ------------------------------------------------------------- sources
    def source_columns(self, source: exp.Expr | Scope) -> Columns:
        if isinstance(source, Scope):
            return self.scope_output(source)
        if isinstance(source, exp.Table):
            if not isinstance(source.this, exp.Identifier):
                return None  # table-valued function
            table = self.schema.table(source.name)
            if table is None:
                return None
            return [c.lower() for c in table.column_names]
        return None

    def scope_output(self, scope: Scope) -> Columns:
        """Output column names of a derived table / CTE scope (lower case), or None when unknown."""
        expression = scope.expression
        alias_columns = _alias_columns(expression)
        if alias_columns is not None:
            return alias_columns
        if isinstance(expression, exp.SetOperation):
            # the attribute was renamed in sqlglot 26
            branches = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
            return self.scope_output(branches[0]) if branches else None
        if not isinstance(expression, exp.Select):
            return None
        out: list[str] = []
        for projection in expression.expressions:
            if isinstance(projection, exp.Star):
                for src in scope.sources.values():
                    cols = self.source_columns(src)
                    if cols is None:
                        return None
                    out.extend(cols)
            elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                found = _lookup(scope.sources, projection.table)
                cols = self.source_columns(found) if found is not None else None
                if cols is None:
                    return None
                out.extend(cols)
            else:
                out.append(projection.alias_or_name.lower())
        return out

    # ---------------------------------------------------------------- scopes
    def check_scope(self, scope: Scope) -> None:
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                if self.schema.table(source.name) is None:
                    self.add(
                        Issue(
                            f"unknown table {source.name!r} (known: {', '.join(self.schema.table_names)})",
                            kind="unknown_table",
                            suggestion=self.schema.closest_table(source.name),
                        )
                    )
            del name
        aliases = _select_aliases(scope.expression)
        using = _using_columns(scope.expression)
        for column in scope.columns:
            if _owner(column) is not scope.expression:
                continue  # sqlglot lists columns of IN (SELECT …) subqueries in the outer scope too
            if isinstance(column.this, exp.Star):
                if column.table and _lookup_chain(scope, column.table) is None:
                    self._unknown_alias(scope, column)
                continue
            if column.table:
                self._check_qualified(scope, column)
            else:
                self._check_bare(scope, column, aliases, using)

    def _unknown_alias(self, scope: Scope, column: exp.Column) -> None:
        names = _visible_source_names(scope)
        self.add(
            Issue(
                f"{column.sql()!r} names table or alias {column.table!r}, which is not in the FROM clause "
                f"(in scope: {', '.join(names) or 'none'})",
                kind="unknown_table",
                suggestion=suggest(column.table, names) or (names[0] if len(names) == 1 else None),
            )
        )

    def _check_qualified(self, scope: Scope, column: exp.Column) -> None:
        source = _lookup_chain(scope, column.table)
        if source is None:
            self._unknown_alias(scope, column)
            return
        cols = self.source_columns(source)
        name = column.name.lower()
        if cols is None or name in cols or name in self.implicit:
            return
        label = source.name if isinstance(source, exp.Table) else column.table
        self.add(
            Issue(
                f"unknown column {column.name!r} in {label!r} "
                f"(columns: {', '.join(self._display(source, cols))})",
                kind="unknown_column",
                suggestion=self._closest(column.name, source, cols),
            )
        )

    def _check_bare(self, scope: Scope, column: exp.Column, aliases: set[str], using: set[str]) -> None:
        name = column.name.lower()
        current: Scope | None = scope
        all_known: list[str] = []
        while current is not None:
            matches = []
            unknown = False
            for alias, source in current.sources.items():
                cols = self.source_columns(source)
                if cols is None:
                    unknown = True
                    continue
                all_known.extend(cols)
                if name in cols:
                    matches.append((alias, source, cols))
            if len(matches) > 1 and name not in using and "*" not in using and current is scope:
                tables = ", ".join(alias for alias, _, _ in matches)
                self.add(
                    Issue(
                        f"column {column.name!r} is ambiguous: it is in {tables}; qualify it (e.g. "
                        f"{matches[0][0]}.{column.name})",
                        kind="ambiguous_column",
                    )
                )
                return
            if matches or unknown:
                return
            if current is scope and name in aliases:
                return
            if current is scope and isinstance(scope.expression, exp.SetOperation):
                output = self.scope_output(scope)
                if output is None or name in output:
                    return
                all_known.extend(output)
            current = current.parent if _is_correlatable(current) else None
        if name in self.implicit:
            return
        hint = suggest(column.name, sorted(set(all_known))) if all_known else None
        quoted_string = column.this.args.get("quoted") and column.this.sql().startswith('"')
        extra = "; string literals take single quotes" if quoted_string else ""
        self.add(
            Issue(
                f"unknown column {column.name!r}: no table in the FROM clause has it{extra}",
                kind="unknown_column",
                suggestion=hint,
            )
        )

    def _display(self, source: exp.Expr | Scope, cols: list[str]) -> list[str]:
        if isinstance(source, exp.Table):
            table = self.schema.table(source.name)
            if table is not None:
                return list(table.column_names)
        return cols

    def _closest(self, name: str, source: exp.Expr | Scope, cols: list[str]) -> str | None:
        return suggest(name, self._display(source, cols))

    # ---------------------------------------------------------- set operations
    def check_setop(self, setop: exp.SetOperation) -> None:
        left = self.width(setop.left)
        right = self.width(setop.right)
        if left is None or right is None or left == right:
            return
        op = setop.key.upper()
        self.add(
            Issue(
                f"the two sides of {op} have {left} and {right} columns; both must select the same number",
                kind="set_arity",
            )
        )

    def width(self, query: exp.Expr) -> int | None:
        """Number of output columns of a query, or None when it cannot be known without running it."""
        if isinstance(query, exp.Subquery):
            return self.width(query.this)
        if isinstance(query, exp.SetOperation):
            return self.width(query.left)
        if not isinstance(query, exp.Select):
            return None
        total = 0
        for projection in query.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                qualifier = projection.table if isinstance(projection, exp.Column) else ""
                sources = [
                    t
                    for t in _from_tables(query)
                    if not qualifier or t.alias_or_name.lower() == qualifier.lower()
                ]
                if not sources:
                    return None
                for source in sources:
                    cols = self.source_columns(source)
                    if cols is None:
                        return None
                    total += len(cols)
            else:
                total += 1
        return total


def _owner(column: exp.Column) -> exp.Expr | None:
    node = column.parent
    while node is not None and not isinstance(node, (exp.Select, exp.SetOperation)):
        node = node.parent
    return node


def _from_tables(select: exp.Select) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        out.append(from_.this)
    for join in select.args.get("joins") or []:
        out.append(join.this)
    return out


def _alias_columns(select: exp.Expr) -> list[str] | None:
    """Column names given by ``name(a, b) AS (…)`` style CTE/derived-table aliases."""
    parent = select.parent
    while isinstance(parent, exp.SetOperation):  # a branch of a (recursive) CTE's set operation
        parent = parent.parent
    if isinstance(parent, (exp.CTE, exp.Subquery)):
        alias = parent.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            return [c.name.lower() for c in alias.columns]
    return None


def _lookup(sources: Mapping[str, exp.Expr | Scope], name: str) -> exp.Expr | Scope | None:
    low = name.lower()
    for alias, source in sources.items():
        if alias.lower() == low:
            return source
    return None


def _lookup_chain(scope: Scope, name: str) -> exp.Expr | Scope | None:
    current: Scope | None = scope
    while current is not None:
        found = _lookup(current.sources, name)
        if found is not None:
            return found
        current = current.parent if _is_correlatable(current) else None
    return None


def _visible_source_names(scope: Scope) -> list[str]:
    names: list[str] = []
    current: Scope | None = scope
    while current is not None:
        names.extend(current.sources)
        current = current.parent if _is_correlatable(current) else None
    return names


def _is_correlatable(scope: Scope) -> bool:
    """Subqueries (in WHERE, SELECT …) may name the columns of the enclosing query; derived tables may not."""
    return bool(scope.is_subquery or scope.is_udtf or getattr(scope, "is_lateral", False))


def _select_aliases(expression: exp.Expr) -> set[str]:
    if isinstance(expression, exp.Select):
        return {p.alias.lower() for p in expression.expressions if isinstance(p, exp.Alias) and p.alias}
    if isinstance(expression, exp.SetOperation):
        # ORDER BY of a set operation names its output columns
        return {name.lower() for name in expression.named_selects}
    return set()


def _using_columns(expression: exp.Expr) -> set[str]:
    out: set[str] = set()
    if not isinstance(expression, exp.Select):
        return out
    for join in expression.args.get("joins") or []:
        for ident in join.args.get("using") or []:
            out.add(ident.name.lower())
        if join.args.get("method") and str(join.args["method"]).upper() == "NATURAL":
            out.add("*")
    return out

"""The policy stage of a SQL spec: one statement, read-only, only the allowed tables.

This is the guard a text-to-SQL application relies on, so it allows what it knows to be safe rather than
rejecting what it knows to be dangerous: with ``read_only=True`` the statement must be a query
(SELECT, WITH … SELECT, a set operation of queries), nothing inside it may write or lock, and every
function it calls must be on the allowlist of pure functions (:mod:`.functions`).

``allowed_tables`` is checked per scope (:func:`sqlglot.optimizer.scope.traverse_scope`): a CTE name stands
for the CTE only where that CTE is visible, a qualified name (``otherdb.main.users``) must match the
allowed name's qualifiers, and identifiers follow the dialect's case rules (a quoted ``"Users"`` is not
``users`` in PostgreSQL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from formbound._util import suggest
from formbound.errors import Issue
from formbound.formats.sql.functions import PURE_BY_DIALECT, PURE_FUNCTION_CLASSES

__all__ = ["UNSUPPORTED", "check_policy", "function_problem", "referenced_tables"]

#: Key in a statement's ``meta``: why sqlglot could only keep it as an opaque command.
UNSUPPORTED = "formbound_unsupported"

#: Node types that write, change the session or run arbitrary commands, wherever they appear.
_WRITES: tuple[type[exp.Expr], ...] = (
    exp.DML,
    exp.DDL,
    exp.Drop,
    exp.Alter,
    exp.AlterColumn,
    exp.Comment,
    exp.Undrop,
    exp.Put,
    exp.Get,
    exp.Command,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Set,
    exp.Use,
    exp.Copy,
    exp.TruncateTable,
    exp.LoadData,
    exp.Analyze,
    exp.Grant,
    exp.Revoke,
    exp.Merge,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
    exp.Kill,
    exp.Declare,
    exp.Execute,
    exp.Export,
    exp.Install,
    exp.Into,
    exp.Lock,
)

_DEFAULT_SCHEMAS = {"main", "public", "dbo"}
#: Characters that make DuckDB read a "table" name as a file path (``FROM 'x.csv'``).
_PATH_CHARS = re.compile(r"[./\\:]")


def _normalized(statement: exp.Expr, dialect: str) -> exp.Expr:
    """A copy with identifiers in the dialect's case (unquoted folded, quoted kept where case matters)."""
    return normalize_identifiers(statement.copy(), dialect=dialect)


def _cte_references(statement: exp.Expr) -> set[int]:
    """Ids of the table nodes that name a CTE visible in their own scope (sqlglot's scope rules)."""
    refs: set[int] = set()
    try:
        for scope in traverse_scope(statement):
            for node, source in scope.selected_sources.values():
                if isinstance(source, Scope) and isinstance(node, exp.Table):
                    refs.add(id(node))
    except (SqlglotError, RecursionError):
        return set()  # then every table reference is checked as a table: refuse rather than guess
    return refs


def referenced_tables(statement: exp.Expr) -> list[exp.Table]:
    """The tables a statement reads or writes; a reference to a CTE counts only in the scope it is visible."""
    ctes = _cte_references(statement)
    tables = statement.find_all(exp.Table)
    return [t for t in tables if isinstance(t.this, exp.Identifier) and id(t) not in ctes]


def _table_label(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p)


def _allowed_keys(allowed_tables: tuple[str, ...], dialect: str) -> set[tuple[str, ...]]:
    keys = set()
    for name in allowed_tables:
        try:
            table = exp.to_table(name, dialect=dialect)
        except (SqlglotError, ValueError):
            continue
        table = normalize_identifiers(table, dialect=dialect)
        keys.add(tuple(p for p in (table.catalog, table.db, table.name) if p))
    return keys


def _table_allowed(table: exp.Table, keys: set[tuple[str, ...]]) -> bool:
    parts = tuple(p for p in (table.catalog, table.db, table.name) if p)
    if parts in keys:
        return True
    # a bare allowed name also covers the default schema, never another catalog or schema
    default_schema = not table.db or table.db.lower() in _DEFAULT_SCHEMAS
    return not table.catalog and default_schema and (table.name,) in keys


def check_policy(
    statements: Sequence[exp.Expr],
    *,
    read_only: bool,
    allowed_tables: tuple[str, ...] | None,
    dialect: str = "sqlite",
    allowed_functions: frozenset[str] = frozenset(),
) -> list[Issue]:
    """Problems of ``statements`` under the policy; empty when it passes.

    Args:
        statements: What :meth:`SqlSpec.parse` returned.
        read_only: Allow only queries, and in them only pure functions.
        allowed_tables: The only tables a statement may name, or None.
        dialect: The sqlglot dialect (case rules of identifiers, the dialect's pure functions).
        allowed_functions: Further function names (lower case) the user declared pure.
    """
    if len(statements) != 1:
        kinds = ", ".join(type(s).__name__.upper() for s in statements[:5])
        return [
            Issue(
                f"found {len(statements)} statements ({kinds}); exactly one is allowed — "
                "remove everything after the first statement",
                kind="multiple_statements",
            )
        ]
    statement = _normalized(statements[0], dialect)
    issues: list[Issue] = []
    reason = statements[0].meta.get(UNSUPPORTED) if isinstance(statements[0], exp.Command) else None
    if reason and not read_only:
        issues.append(Issue(f"{reason}: sqlglot cannot check it; fix the keywords", kind="unsupported"))
    if read_only:
        issues.extend(_read_only_issues(statement, dialect, allowed_functions))
    if allowed_tables is not None:
        issues.extend(_table_issues(statement, allowed_tables, dialect))
    return _dedupe(issues)


def _read_only_issues(statement: exp.Expr, dialect: str, allowed_functions: frozenset[str]) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(statement, exp.Query):
        issues.append(
            Issue(
                f"{_statement_name(statement)} is not a query; only SELECT / WITH … SELECT / "
                "UNION, INTERSECT, EXCEPT of queries are allowed (read_only=True)",
                kind="write",
            )
        )
    for node in statement.walk():
        if node is statement and issues:
            continue
        if isinstance(node, _WRITES):
            issues.append(
                Issue(
                    f"{_statement_name(node)} inside the query writes or changes state; "
                    "only reading is allowed (read_only=True)",
                    kind="write",
                )
            )
        elif isinstance(node, exp.Func):
            problem = function_problem(node, dialect, allowed_functions)
            if problem is not None:
                issues.append(Issue(problem, kind="side_effect"))
        elif isinstance(node, exp.Table) and dialect == "duckdb" and isinstance(node.this, exp.Identifier):
            if _PATH_CHARS.search(node.name):
                issues.append(
                    Issue(
                        f"table name {node.name!r} reads a file in DuckDB; only tables of the database "
                        "may be read (read_only=True)",
                        kind="side_effect",
                    )
                )
    return issues


def function_problem(node: exp.Func, dialect: str, allowed_functions: frozenset[str]) -> str | None:
    """Why a read-only query may not call ``node``, or None when the function is on the allowlist."""
    name = _function_name(node)
    parent = node.parent
    qualified = False
    if isinstance(parent, exp.Dot) and parent.expression is node:  # package.function(…)
        qualified = True
        name = f"{parent.this.sql(dialect=dialect)}.{name}".lower()
    if name in allowed_functions:
        return None
    if not qualified and not isinstance(node, exp.Anonymous):
        if type(node).__name__ in PURE_FUNCTION_CLASSES:
            return None
    elif not qualified and not _is_quoted(node) and name in PURE_BY_DIALECT.get(dialect, frozenset()):
        return None
    where = "in FROM " if isinstance(parent, exp.Table) else ""
    return (
        f"function {name}() {where}is not on the read-only allowlist of pure {dialect} functions "
        "(it may read files, sleep, lock, or change state); if it is pure, allow it with "
        f"allowed_functions=[{name!r}]"
    )


def _is_quoted(node: exp.Func) -> bool:
    this = node.args.get("this")
    return isinstance(this, exp.Identifier) and bool(this.args.get("quoted"))


def _table_issues(statement: exp.Expr, allowed_tables: tuple[str, ...], dialect: str) -> list[Issue]:
    issues: list[Issue] = []
    keys = _allowed_keys(allowed_tables, dialect)
    for table in referenced_tables(statement):
        if not _table_allowed(table, keys):
            issues.append(
                Issue(
                    f"table {_table_label(table)!r} is not in allowed_tables ({', '.join(allowed_tables)})",
                    kind="table_not_allowed",
                    suggestion=suggest(table.name, list(allowed_tables)),
                )
            )
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            issues.append(
                Issue(
                    f"table-valued function {table.this.sql()[:40]!r} is not allowed with "
                    "allowed_tables; read from the allowed tables only",
                    kind="table_not_allowed",
                )
            )
    for func in statement.find_all(exp.GenerateSeries, exp.Unnest, exp.Explode):
        if isinstance(func.parent, (exp.From, exp.Join, exp.Lateral, exp.Table)):
            issues.append(
                Issue(
                    f"table-valued function {func.sql()[:40]!r} is not allowed with allowed_tables",
                    kind="table_not_allowed",
                )
            )
    return issues


def _statement_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        reason = node.meta.get(UNSUPPORTED)
        return f"command {str(node.this).upper()!r}" + (f" ({reason})" if reason else "")
    if isinstance(node, exp.Create):
        return f"CREATE {node.args.get('kind') or ''}".strip()
    if isinstance(node, exp.Into):
        return "SELECT … INTO"
    if isinstance(node, exp.Lock):
        return "FOR UPDATE/SHARE locking"
    return type(node).__name__.upper()


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        this = node.this
        return (this.name if isinstance(this, exp.Identifier) else str(this)).lower()
    return node.sql_name().lower()


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        if issue.message not in seen:
            seen.add(issue.message)
            out.append(issue)
    return out

"""The policy stage of a SQL spec: one statement, read-only, only the allowed tables.

This is the guard a text-to-SQL application relies on, so it allows what it knows to be safe rather than
rejecting what it knows to be dangerous: with ``read_only=True`` the statement must be a query
(SELECT, WITH … SELECT, a set operation of queries) and nothing inside it may write, lock, or call a
function known to have side effects.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from formbound.errors import Issue

__all__ = ["SIDE_EFFECT_FUNCTIONS", "check_policy", "referenced_tables"]

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

#: Functions that read files, load code, sleep, or change state although they sit inside a SELECT.
SIDE_EFFECT_FUNCTIONS: frozenset[str] = frozenset(
    {
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "pg_sleep",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "set_config",
        "nextval",
        "setval",
        "dblink",
        "dblink_exec",
        "sleep",
        "benchmark",
        "load_file",
        "sys_exec",
        "sys_eval",
        "xp_cmdshell",
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "read_json",
        "read_json_auto",
        "read_text",
        "read_blob",
    }
)

_DEFAULT_SCHEMAS = {"main", "public", "dbo", "temp"}


def referenced_tables(statement: exp.Expr) -> list[exp.Table]:
    """The tables a statement reads or writes, without references to its own CTEs."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    out = []
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table-valued function; see check_policy
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        out.append(table)
    return out


def _table_label(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p)


def check_policy(
    statements: Sequence[exp.Expr],
    *,
    read_only: bool,
    allowed_tables: tuple[str, ...] | None,
) -> list[Issue]:
    """Problems of ``statements`` under the policy; empty when it passes."""
    if len(statements) != 1:
        kinds = ", ".join(type(s).__name__.upper() for s in statements[:5])
        return [
            Issue(
                f"found {len(statements)} statements ({kinds}); exactly one is allowed — "
                "remove everything after the first statement",
                kind="multiple_statements",
            )
        ]
    statement = statements[0]
    issues: list[Issue] = []
    if read_only:
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
                name = _function_name(node)
                if name in SIDE_EFFECT_FUNCTIONS:
                    issues.append(
                        Issue(
                            f"function {name}() has side effects (files, code, sleeping, sequences) "
                            "and is not allowed (read_only=True)",
                            kind="side_effect",
                        )
                    )
    if allowed_tables is not None:
        allowed = {t.lower() for t in allowed_tables}
        for table in referenced_tables(statement):
            label = _table_label(table).lower()
            bare = table.name.lower()
            qualifier = (table.db or "").lower()
            ok = label in allowed or (bare in allowed and (not qualifier or qualifier in _DEFAULT_SCHEMAS))
            if not ok:
                from formbound._util import suggest

                issues.append(
                    Issue(
                        f"table {_table_label(table)!r} is not in allowed_tables "
                        f"({', '.join(allowed_tables)})",
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
    return _dedupe(issues)


def _statement_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return f"command {str(node.this).upper()!r}"
    if isinstance(node, exp.Create):
        return f"CREATE {node.args.get('kind') or ''}".strip()
    if isinstance(node, exp.Into):
        return "SELECT … INTO"
    if isinstance(node, exp.Lock):
        return "FOR UPDATE/SHARE locking"
    return type(node).__name__.upper()


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        if issue.message not in seen:
            seen.add(issue.message)
            out.append(issue)
    return out

"""The tables and columns a SQL spec knows, read from a DDL script or a database file.

:class:`SqlSchema` is built once, when the spec is built: a broken DDL script or an unreadable database
raises :class:`~formbound.errors.SpecError` then, never while checking a model output.
Databases are opened read-only (SQLite through a ``file:…?mode=ro`` URI, DuckDB with ``read_only=True``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from formbound._util import suggest
from formbound.errors import DependencyError, SpecError
from formbound.formats.sql.errors import describe_parse_error, quiet_sqlglot
from formbound.formats.sql.identifiers import quote_identifier, reserved_words

__all__ = ["SqlColumn", "SqlSchema", "SqlTable", "database_kind", "sqlite_readonly"]


@dataclass(frozen=True)
class SqlColumn:
    """A column: its name as declared and its type as written in the spec's dialect (may be empty)."""

    name: str
    type: str = ""


@dataclass(frozen=True)
class SqlTable:
    """A table or view.

    Attributes:
        name: The name as declared.
        columns: The columns in declaration order.
        foreign_keys: ``(column, referenced_table, referenced_column)`` triples.
        view: True for a view.
    """

    name: str
    columns: tuple[SqlColumn, ...]
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    view: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> SqlColumn | None:
        """The column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


class SqlSchema:
    """Tables by name (looked up case-insensitively), in declaration order."""

    def __init__(self, tables: list[SqlTable]) -> None:
        self._tables: dict[str, SqlTable] = {}
        for table in tables:
            key = table.name.lower()
            if key in self._tables:
                raise SpecError(f"table {table.name!r} is declared twice; keep one definition")
            self._tables[key] = table

    # ------------------------------------------------------------------ access
    @property
    def tables(self) -> tuple[SqlTable, ...]:
        return tuple(self._tables.values())

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self._tables.values())

    def table(self, name: str) -> SqlTable | None:
        """The table called ``name`` (case-insensitive), or None."""
        return self._tables.get(name.lower())

    def closest_table(self, name: str) -> str | None:
        return suggest(name, list(self.table_names))

    def restricted(self, names: tuple[str, ...]) -> SqlSchema:
        """The same schema with only the tables ``names``."""
        keep = {n.lower() for n in names}
        return SqlSchema([t for t in self.tables if t.name.lower() in keep])

    def render(self, dialect: str) -> str:
        """Compact DDL, one ``CREATE TABLE`` line per table, for prompts."""
        reserved = set(reserved_words(dialect))

        def q(name: str) -> str:
            return quote_identifier(name, dialect, reserved)

        lines = []
        for table in self.tables:
            cols = [f"{q(col.name)} {col.type}".rstrip() for col in table.columns]
            cols += [
                f"FOREIGN KEY ({q(column)}) REFERENCES {q(ref_table)}({q(ref_col)})"
                for column, ref_table, ref_col in table.foreign_keys
            ]
            kind = "VIEW" if table.view else "TABLE"
            lines.append(f"CREATE {kind} {q(table.name)} ({', '.join(cols)});")
        return "\n".join(lines)

    # ---------------------------------------------------------------- builders
    @classmethod
    def from_ddl(cls, ddl: str, dialect: str) -> SqlSchema:
        """Read ``CREATE TABLE``/``CREATE VIEW`` statements; ``CREATE INDEX`` is ignored.

        Raises:
            SpecError: the script does not parse, holds another kind of statement, or declares no table.
        """
        try:
            with quiet_sqlglot() as warnings:
                statements = sqlglot.parse(ddl, read=dialect)
        except ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            raise SpecError(
                f"the DDL does not parse as {dialect} SQL at line {first.get('line')}, column "
                f"{first.get('col')}: {describe_parse_error(first)}; fix the CREATE TABLE script"
            ) from exc
        except SqlglotError as exc:
            raise SpecError(
                f"the DDL does not parse as {dialect} SQL: {exc}; fix the CREATE TABLE script"
            ) from exc
        tables: list[SqlTable] = []
        for stmt in statements:
            if stmt is None:
                continue
            if not isinstance(stmt, exp.Create):
                snippet = stmt.sql(dialect=dialect)[:60]
                why = f" ({warnings[0].split('. Falling back')[0]})" if warnings else ""
                raise SpecError(
                    f"the DDL may only hold CREATE TABLE / VIEW / INDEX statements, got {snippet!r}{why}"
                )
            kind = str(stmt.args.get("kind") or "").upper()
            if kind == "INDEX":
                continue
            if kind == "TABLE":
                tables.append(_table_from_create(stmt, dialect, tables))
            elif kind == "VIEW":
                tables.append(_view_from_create(stmt, tables))
            else:
                snippet = stmt.sql(dialect=dialect)[:60]
                raise SpecError(
                    f"the DDL may only hold CREATE TABLE / VIEW / INDEX statements, got {snippet!r}"
                )
        if not tables:
            raise SpecError("the DDL declares no table; give at least one CREATE TABLE statement")
        return cls(tables)

    @classmethod
    def from_database(cls, path: str | Path, dialect: str) -> SqlSchema:
        """Read the schema of a SQLite or DuckDB database file, opened read-only."""
        p = Path(path)
        kind = database_kind(p)
        if kind == "duckdb":
            return cls._from_duckdb(p)
        return cls._from_sqlite(p, dialect)

    @classmethod
    def _from_sqlite(cls, path: Path, dialect: str) -> SqlSchema:
        conn = sqlite_readonly(path)
        try:
            rows = conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            ).fetchall()
            tables = []
            for name, typ in rows:
                quoted = '"' + name.replace('"', '""') + '"'
                cols = tuple(
                    SqlColumn(r[1], r[2] or "") for r in conn.execute(f"PRAGMA table_info({quoted})")
                )
                fks = tuple(
                    (r[3], r[2], r[4] or "") for r in conn.execute(f"PRAGMA foreign_key_list({quoted})")
                )
                tables.append(SqlTable(name, cols, fks, view=typ == "view"))
        except sqlite3.DatabaseError as exc:
            raise SpecError(f"cannot read the schema of SQLite database {str(path)!r}: {exc}") from exc
        finally:
            conn.close()
        if not tables:
            raise SpecError(f"SQLite database {str(path)!r} has no tables")
        return cls(tables)

    @classmethod
    def _from_duckdb(cls, path: Path) -> SqlSchema:
        duckdb = import_duckdb()
        try:
            conn = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise SpecError(f"cannot open DuckDB database {str(path)!r} read-only: {exc}") from exc
        try:
            rows = conn.execute(
                "SELECT c.table_name, c.column_name, c.data_type, t.table_type "
                "FROM information_schema.columns c JOIN information_schema.tables t "
                "ON c.table_schema = t.table_schema AND c.table_name = t.table_name "
                "WHERE c.table_schema = 'main' ORDER BY c.table_name, c.ordinal_position"
            ).fetchall()
        finally:
            conn.close()
        by_table: dict[str, list[SqlColumn]] = {}
        views: set[str] = set()
        for table, column, typ, table_type in rows:
            by_table.setdefault(table, []).append(SqlColumn(column, typ or ""))
            if "VIEW" in str(table_type).upper():
                views.add(table)
        if not by_table:
            raise SpecError(f"DuckDB database {str(path)!r} has no tables")
        return cls([SqlTable(n, tuple(c), view=n in views) for n, c in by_table.items()])


def _table_from_create(stmt: exp.Create, dialect: str, previous: list[SqlTable]) -> SqlTable:
    target = stmt.this
    if isinstance(target, exp.Schema):
        table = target.this
        name = table.name if isinstance(table, exp.Table) else str(table)
        columns: list[SqlColumn] = []
        fks: list[tuple[str, str, str]] = []
        for item in target.expressions:
            if isinstance(item, exp.ColumnDef):
                kind = item.args.get("kind")
                columns.append(SqlColumn(item.name, kind.sql(dialect=dialect) if kind is not None else ""))
                for constraint in item.args.get("constraints") or []:
                    ref = constraint.args.get("kind")
                    if isinstance(ref, exp.Reference):
                        fks.extend(_reference_pairs([item.name], ref))
            elif isinstance(item, exp.ForeignKey):
                ref = item.args.get("reference")
                if isinstance(ref, exp.Reference):
                    fks.extend(_reference_pairs([c.name for c in item.expressions], ref))
        seen: set[str] = set()
        for col in columns:
            if col.name.lower() in seen:
                raise SpecError(f"column {col.name!r} is declared twice in table {name!r}")
            seen.add(col.name.lower())
        if not columns:
            raise SpecError(f"table {name!r} in the DDL has no columns")
        return SqlTable(name, tuple(columns), tuple(dict.fromkeys(fks)))
    query = stmt.expression
    name = target.name if isinstance(target, exp.Table) else str(target)
    if isinstance(query, exp.Query):  # CREATE TABLE t AS SELECT …
        return SqlTable(name, _query_columns(query, previous, name))
    raise SpecError(f"table {name!r} in the DDL has no column list; write CREATE TABLE {name} (col TYPE, …)")


def _view_from_create(stmt: exp.Create, previous: list[SqlTable]) -> SqlTable:
    target = stmt.this
    name = target.this.name if isinstance(target, exp.Schema) else target.name
    if isinstance(target, exp.Schema) and target.expressions:
        return SqlTable(name, tuple(SqlColumn(c.name) for c in target.expressions), view=True)
    query = stmt.expression
    if not isinstance(query, exp.Query):
        raise SpecError(f"view {name!r} in the DDL has no query")
    return SqlTable(name, _query_columns(query, previous, name), view=True)


def _query_columns(query: exp.Query, previous: list[SqlTable], name: str) -> tuple[SqlColumn, ...]:
    """Output columns of a view's query, expanding ``*`` over tables declared before it."""
    known = {t.name.lower(): t for t in previous}
    out: list[SqlColumn] = []
    select = query if isinstance(query, exp.Select) else query.find(exp.Select)
    if select is None:
        raise SpecError(f"cannot tell the columns of {name!r}; list them: CREATE VIEW {name} (a, b) AS …")
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            for table in select.find_all(exp.Table):
                source = known.get(table.name.lower())
                if source is None:
                    raise SpecError(
                        f"cannot expand * in {name!r}: table {table.name!r} is not declared before it"
                    )
                out.extend(source.columns)
        else:
            out.append(SqlColumn(projection.alias_or_name))
    return tuple(out)


def _reference_pairs(columns: list[str], ref: exp.Reference) -> list[tuple[str, str, str]]:
    target = ref.this
    if isinstance(target, exp.Schema):
        table = target.this.name
        ref_cols = [c.name for c in target.expressions]
    else:
        table = target.name
        ref_cols = []
    if not ref_cols:
        ref_cols = [""] * len(columns)
    return [(c, table, r) for c, r in zip(columns, ref_cols, strict=False)]


def database_kind(path: Path) -> str:
    """``"sqlite"`` or ``"duckdb"``, from the file's header (the suffix decides for empty files)."""
    if not path.is_file():
        raise SpecError(
            f"database file {str(path)!r} does not exist; give the path of a SQLite or DuckDB file"
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise SpecError(f"cannot read database file {str(path)!r}: {exc.strerror}") from exc
    if head.startswith(b"SQLite format 3"):
        return "sqlite"
    if head[8:12] == b"DUCK" or path.suffix.lower() == ".duckdb":
        return "duckdb"
    raise SpecError(f"{str(path)!r} is neither a SQLite nor a DuckDB database file")


def sqlite_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``; ``query_only`` as a second lock)."""
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise SpecError(f"cannot open SQLite database {str(path)!r} read-only: {exc}") from exc
    return conn


def import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise DependencyError(
            "reading a DuckDB database needs the duckdb package: pip install duckdb"
        ) from exc
    return duckdb

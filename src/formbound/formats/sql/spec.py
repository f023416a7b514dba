"""SQL specs: the output must be one SQL statement that parses in a dialect, obeys a policy, names only
what the schema has, and (optionally) runs.

Stages, in order:

``syntax``   sqlglot parses the text in the spec's dialect (errors carry line and column; :mod:`.syntax`)
``policy``   exactly one statement; with ``read_only=True`` a query that neither writes nor locks nor calls
             a function with side effects; only ``allowed_tables`` are read (:mod:`.policy`)
``schema``   with ``ddl=`` or ``database=``: tables and columns exist and columns are unambiguous; both sides
             of a set operation have the same width (:mod:`.resolve`)
``semantic`` with ``execute_check=True``: the query runs read-only within ``timeout_s`` (:mod:`.execute`)

>>> spec = SqlSpec(ddl="CREATE TABLE users (id INTEGER, name TEXT);")
>>> from formbound.enforce import enforce
>>> result = enforce("SQL: select NAME from users where id = 1;;", spec)
>>> result.text, result.repairs
('SELECT NAME FROM users WHERE id = 1', ('strip_label', 'semicolon'))
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, Dialects

from formbound._util import suggest
from formbound.constraints import Constraint
from formbound.errors import EnforcementError, SpecError
from formbound.formats.base import Candidate, Spec
from formbound.formats.sql.execute import Executor
from formbound.formats.sql.grammar import build_grammar
from formbound.formats.sql.policy import check_policy
from formbound.formats.sql.repair import AmbiguousBlocks
from formbound.formats.sql.repair import candidates as repair_candidates
from formbound.formats.sql.resolve import check_schema
from formbound.formats.sql.schema import SqlSchema, database_kind
from formbound.formats.sql.syntax import MAX_CHARS, MAX_DEPTH, NODE, parse_statements

__all__ = ["MAX_CHARS", "MAX_DEPTH", "SQL_DIALECTS", "SqlSpec"]

#: Every dialect sqlglot knows, by name.
SQL_DIALECTS: tuple[str, ...] = tuple(sorted(d.value for d in Dialects if d.value))

_OPTIONS = (
    "dialect",
    "ddl",
    "database",
    "read_only",
    "allowed_tables",
    "allowed_functions",
    "execute_check",
    "timeout_s",
    "max_chars",
)


def _check_dialect(dialect: Any) -> str:
    if not isinstance(dialect, str):
        raise SpecError(f"dialect must be a string such as 'sqlite', got {type(dialect).__name__}")
    name = dialect.strip().lower()
    known = set(SQL_DIALECTS) | {k for k in Dialect.classes if k}
    if name not in known:
        hint = suggest(name, sorted(known))
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise SpecError(f"unknown SQL dialect {dialect!r} (known: {', '.join(sorted(known))}){extra}")
    return name


def _read_ddl(ddl: Any, base_dir: Path | None) -> str | None:
    if ddl is None:
        return None
    if isinstance(ddl, Path) or (
        isinstance(ddl, str)
        and ddl.strip().lower().endswith(".sql")
        and "\n" not in ddl.strip()
        and "(" not in ddl
    ):
        path = Path(ddl)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise SpecError(
                f"DDL file {str(path)!r} does not exist; give CREATE TABLE text or an existing .sql file"
            )
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read DDL file {str(path)!r}: {exc}") from exc
    if not isinstance(ddl, str):
        raise SpecError(f"ddl must be CREATE TABLE text or a .sql file name, got {type(ddl).__name__}")
    if not ddl.strip():
        raise SpecError("ddl is empty; give CREATE TABLE statements or leave ddl=None")
    return ddl


class SqlSpec(Spec):
    """One SQL statement in ``dialect`` that obeys a policy and, given a schema, names only what exists.

    Args:
        dialect: A sqlglot dialect name (``"sqlite"``, ``"postgres"``, ``"duckdb"``, …); a typo gets
            "did you mean".
        ddl: ``CREATE TABLE`` (and ``CREATE VIEW``) statements, as text or a ``.sql`` file path.
        database: A SQLite (or DuckDB, with ``duckdb`` installed) database file; its schema is read
            from it, opened read-only.
        read_only: Allow only queries (SELECT / WITH / set operations); writes fail at stage ``policy``.
        allowed_tables: The only tables a statement may read (and, with ``read_only=False``, write);
            a CTE of the same name does not count as the table outside its own scope.
        allowed_functions: Function names to allow in read-only mode besides the allowlist of pure
            functions (typed sqlglot functions and the dialect's known pure ones); e.g. a pure UDF.
        execute_check: Run each query read-only against ``database`` (or, with ``ddl`` in SQLite, an
            empty in-memory copy) and report runtime errors at stage ``semantic``.
        timeout_s: Time limit of the execution check.
        max_chars: Longest text checked; longer text is refused at stage ``syntax`` before parsing.

    Raises:
        SpecError: An unknown dialect, a DDL that does not parse or run, a missing database, an allowed
            table the schema lacks, or ``execute_check`` without anything to run against.
    """

    format: ClassVar[str] = "sql"
    stages: ClassVar[tuple[str, ...]] = ("syntax", "policy", "schema", "semantic")

    def __init__(
        self,
        dialect: str = "sqlite",
        ddl: str | Path | None = None,
        database: str | Path | None = None,
        read_only: bool = True,
        allowed_tables: Iterable[str] | None = None,
        execute_check: bool = False,
        timeout_s: float = 2.0,
        allowed_functions: Iterable[str] | None = None,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self.dialect = _check_dialect(dialect)
        self.ddl = _read_ddl(ddl, None)
        if self.ddl is not None and database is not None:
            raise SpecError("give ddl= or database=, not both (the database already has its schema)")
        if not isinstance(read_only, bool):
            raise SpecError(f"read_only must be True or False, got {read_only!r}")
        if not isinstance(execute_check, bool):
            raise SpecError(f"execute_check must be True or False, got {execute_check!r}")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise SpecError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise SpecError(f"max_chars must be a positive whole number, got {max_chars!r}")
        self.max_chars = max_chars
        if allowed_functions is None:
            allowed_functions = ()
        if isinstance(allowed_functions, str) or not all(isinstance(f, str) for f in allowed_functions):
            raise SpecError(f"allowed_functions must be a list of function names, got {allowed_functions!r}")
        self.allowed_functions = tuple(dict.fromkeys(f.strip().lower() for f in allowed_functions))
        self.read_only = read_only
        self.execute_check = execute_check
        self.timeout_s = float(timeout_s)
        self.database: Path | None = None
        self.schema: SqlSchema | None = None
        db_kind = "sqlite"
        if database is not None:
            if not isinstance(database, (str, Path)):
                raise SpecError(f"database must be a file path, got {type(database).__name__}")
            self.database = Path(database)
            db_kind = database_kind(self.database)
            self.schema = SqlSchema.from_database(self.database, self.dialect)
        elif self.ddl is not None:
            self.schema = SqlSchema.from_ddl(self.ddl, self.dialect)
            if self.dialect == "sqlite":
                _run_ddl_in_memory(self.ddl)
        self.allowed_tables = self._check_allowed(allowed_tables)
        self._executor: Executor | None = None
        if execute_check:
            if self.database is None and (self.ddl is None or self.dialect != "sqlite"):
                raise SpecError(
                    "execute_check=True needs database= (a SQLite/DuckDB file) or ddl= with dialect='sqlite'"
                )
            self._executor = Executor(
                database=self.database, kind=db_kind, ddl_sqlite=self.ddl, timeout_s=self.timeout_s
            )
        self._exec_dialect = db_kind if self.database is not None else "sqlite"
        self._constraint: Constraint | None = None

    def _check_allowed(self, allowed: Iterable[str] | None) -> tuple[str, ...] | None:
        if allowed is None:
            return None
        if isinstance(allowed, str) or not all(isinstance(t, str) for t in allowed):
            raise SpecError(f"allowed_tables must be a list of table names, got {allowed!r}")
        names = tuple(dict.fromkeys(allowed))
        if not names:
            raise SpecError("allowed_tables is empty, so no query could pass; list the tables or use None")
        if self.schema is not None:
            for name in names:
                if self.schema.table(name.split(".")[-1]) is None:
                    hint = self.schema.closest_table(name)
                    extra = f"; did you mean {hint!r}?" if hint else ""
                    raise SpecError(f"allowed table {name!r} is not in the schema{extra}")
        return names

    # -------------------------------------------------------------- description
    @classmethod
    def from_description(cls, data: dict[str, Any], base_dir: Path) -> SqlSpec:
        """Rebuild from :meth:`describe`; relative ``ddl``/``database`` file names resolve in ``base_dir``."""
        for key in data:
            if key not in _OPTIONS:
                hint = suggest(key, list(_OPTIONS))
                extra = f"; did you mean {hint!r}?" if hint else ""
                raise SpecError(f"unknown SQL spec option {key!r} (known: {', '.join(_OPTIONS)}){extra}")
        options = dict(data)
        options["ddl"] = _read_ddl(options.get("ddl"), base_dir)
        database = options.get("database")
        if isinstance(database, str) and not Path(database).is_absolute():
            options["database"] = base_dir / database
        return cls(**options)

    def describe(self) -> dict[str, Any]:
        # options added later appear only when set, so the hashes of existing specs stay the same
        extra: dict[str, Any] = {}
        if self.allowed_functions:
            extra["allowed_functions"] = list(self.allowed_functions)
        if self.max_chars != MAX_CHARS:
            extra["max_chars"] = self.max_chars
        return {
            "format": "sql",
            "dialect": self.dialect,
            "ddl": self.ddl,
            "database": str(self.database) if self.database is not None else None,
            "read_only": self.read_only,
            "allowed_tables": list(self.allowed_tables) if self.allowed_tables is not None else None,
            "execute_check": self.execute_check,
            "timeout_s": self.timeout_s,
            **extra,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SqlSpec) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash(self.hash)

    def render_schema(self) -> str:
        """Compact DDL of the tables a query may use (all of them without ``allowed_tables``)."""
        if self.schema is None:
            if self.allowed_tables:
                return f"-- tables: {', '.join(self.allowed_tables)} (columns not given)"
            return "-- no schema given"
        schema = self.schema.restricted(self.allowed_tables) if self.allowed_tables else self.schema
        return schema.render(self.dialect)

    # ------------------------------------------------------------------ stages
    def parse(self, text: str) -> tuple[exp.Expr, ...]:
        """The statements of ``text`` (more than one fails at stage ``policy``, in :meth:`validate`)."""
        return parse_statements(text, self.dialect, self.max_chars)

    def validate(self, value: Any, text: str) -> exp.Expr:
        """Run the policy, schema and semantic stages; return the one statement."""
        if isinstance(value, AmbiguousBlocks):
            raise value.error(text)
        statements: Sequence[exp.Expr] = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(s, NODE) for s in statements):
            raise TypeError("SqlSpec.validate() takes what SqlSpec.parse() returns")
        issues = check_policy(
            statements,
            read_only=self.read_only,
            allowed_tables=self.allowed_tables,
            dialect=self.dialect,
            allowed_functions=frozenset(self.allowed_functions),
        )
        if issues:
            raise EnforcementError("policy", issues, text)
        statement = statements[0]
        if self.schema is not None:
            issues = check_schema(statement, self.schema, self.dialect)
            if issues:
                raise EnforcementError("schema", issues, text)
        if self._executor is not None:
            issues = self._executor.run(statement.sql(dialect=self._exec_dialect, comments=False))
            if issues:
                raise EnforcementError("semantic", issues, text)
        return statement

    def candidates(self, text: str) -> Iterator[Candidate]:
        """Repaired versions of ``text``, most conservative first (see :mod:`.repair`)."""
        return repair_candidates(text, self)

    def dump(self, value: Any) -> str:
        """Normalized SQL in the spec's dialect, without comments (a comment cannot smuggle a statement)."""
        if isinstance(value, (tuple, list)):
            return ";\n".join(self.dump(v) for v in value)
        if not isinstance(value, NODE):
            raise TypeError(f"SqlSpec.dump() takes a sqlglot expression, got {type(value).__name__}")
        return value.sql(dialect=self.dialect, comments=False)

    # ------------------------------------------------------------- constraint
    def constraint(self) -> Constraint:
        """A Lark grammar of read-only SELECT queries over the schema's tables and columns."""
        if self._constraint is None:
            schema = self.schema
            if schema is not None and self.allowed_tables:
                schema = schema.restricted(self.allowed_tables)
            grammar = build_grammar(schema, self.dialect, self.allowed_tables)
            unenforced = ["column types", "GROUP BY / aggregate consistency"]
            if schema is None:
                unenforced.append("table and column names")
            if self.execute_check:
                unenforced.append("runtime errors")
            self._constraint = Constraint(kind="lark", value=grammar, unenforced=tuple(unenforced))
        return self._constraint


def _run_ddl_in_memory(ddl: str) -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(ddl)
    except sqlite3.Error as exc:
        raise SpecError(f"the DDL does not run in SQLite: {exc}; fix the CREATE TABLE script") from exc
    finally:
        conn.close()

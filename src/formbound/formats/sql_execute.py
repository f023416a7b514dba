"""The semantic stage of a SQL spec: run the query read-only, with a time limit, and report runtime errors.

SQLite is opened through a ``file:…?mode=ro`` URI with ``PRAGMA query_only`` and an authorizer that denies
every action but reading, so even a query that slipped past the policy stage cannot change the file.
Without a database file, a spec with a SQLite DDL runs the query against an empty in-memory copy of the
schema (catches wrong functions, misuse of aggregates, type errors the engine reports).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from formbound.errors import Issue, SpecError
from formbound.formats.sql_schema import import_duckdb, sqlite_readonly

__all__ = ["Executor"]

_READ_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


class Executor:
    """Runs one query at a time against a database file (SQLite or DuckDB) or an in-memory SQLite DDL copy.

    Args:
        database: Path of the database file, or None.
        kind: ``"sqlite"`` or ``"duckdb"`` (ignored without ``database``).
        ddl_sqlite: The DDL in SQLite syntax, for the in-memory copy when there is no database.
        timeout_s: Wall-clock limit of one query.
        max_rows: Rows fetched at most (the query is stopped after them).
    """

    def __init__(
        self,
        *,
        database: Path | None,
        kind: str = "sqlite",
        ddl_sqlite: str | None = None,
        timeout_s: float = 2.0,
        max_rows: int = 1000,
    ) -> None:
        if database is None and ddl_sqlite is None:
            raise SpecError(
                "execute_check=True needs database= (a SQLite/DuckDB file) or ddl= with dialect='sqlite'"
            )
        self.database = database
        self.kind = kind
        self.ddl_sqlite = ddl_sqlite
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        if database is None and ddl_sqlite is not None:
            conn = self._memory()  # fail at construction when the DDL does not run
            conn.close()

    def _memory(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            conn.executescript(self.ddl_sqlite or "")
        except sqlite3.Error as exc:
            conn.close()
            raise SpecError(f"the DDL does not run in SQLite: {exc}; fix the CREATE TABLE script") from exc
        return conn

    def run(self, sql: str) -> list[Issue]:
        """Runtime problems of ``sql``; empty when it runs (and fetches up to ``max_rows``) in time."""
        if self.database is not None and self.kind == "duckdb":
            return self._run_duckdb(sql)
        conn = sqlite_readonly(self.database) if self.database is not None else self._memory()
        try:
            return self._run_sqlite(conn, sql)
        finally:
            conn.close()

    def _run_sqlite(self, conn: sqlite3.Connection, sql: str) -> list[Issue]:
        deadline = time.monotonic() + self.timeout_s
        conn.set_authorizer(_authorizer)
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(sql)
            cursor.fetchmany(self.max_rows)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted" or time.monotonic() > deadline:
                return [self._timeout()]
            return [Issue(f"the database rejected the query: {exc}", kind="runtime")]
        except (sqlite3.DatabaseError, sqlite3.Warning, sqlite3.ProgrammingError, OverflowError) as exc:
            return [Issue(f"the database rejected the query: {exc}", kind="runtime")]
        finally:
            conn.set_progress_handler(None, 0)
        return []

    def _timeout(self) -> Issue:
        return Issue(
            f"the query ran longer than {self.timeout_s:g} s and was stopped; simplify it or raise timeout_s",
            kind="timeout",
        )

    def _run_duckdb(self, sql: str) -> list[Issue]:
        duckdb = import_duckdb()
        assert self.database is not None
        try:
            conn = duckdb.connect(str(self.database), read_only=True)
        except duckdb.Error as exc:
            return [Issue(f"cannot open the DuckDB database read-only: {exc}", kind="runtime")]
        timer = threading.Timer(self.timeout_s, conn.interrupt)
        timer.start()
        started = time.monotonic()
        try:
            conn.execute(sql).fetchmany(self.max_rows)
        except duckdb.Error as exc:
            if time.monotonic() - started >= self.timeout_s:
                return [self._timeout()]
            return [Issue(f"the database rejected the query: {exc}", kind="runtime")]
        finally:
            timer.cancel()
            conn.close()
        return []

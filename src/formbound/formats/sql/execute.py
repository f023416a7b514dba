"""The one read-only SQL executor: the semantic stage of a SQL spec, and execution accuracy in measurements.

Every query runs with the strongest guarantees the engine offers (see :mod:`._engine`): read-only, an
authorizer that allows only reading (SQLite), no file or network access (DuckDB), a deadline, and a cap on
value and result sizes. On top of that it runs in a child process under an address-space rlimit, killed
when it overruns ``timeout_s``: no engine bounds every allocation (DuckDB's ``repeat('x', 1e9)``), and a
single SQLite function call does not return to the progress handler.

Without a database file, a spec with a SQLite DDL runs the query against an empty in-memory copy of the
schema (catches wrong functions, misuse of aggregates, type errors the engine reports).
"""

from __future__ import annotations

import json
import marshal
import os
import selectors
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError, Issue, SpecError
from formbound.formats.sql import _engine
from formbound.formats.sql._engine import QueryFailed

__all__ = ["MAX_ROWS", "Executor", "execution_match", "run_query"]

#: Rows fetched at most when results are compared (execution accuracy).
MAX_ROWS = 100_000
#: Seconds a child process may take to start (import DuckDB, open the database).
_CHILD_STARTUP_S = 10.0
#: Seconds after the query's own time limit before the child is killed.
_GRACE_S = 0.5

_MESSAGES = {
    "timeout": "the query {detail} and was stopped; simplify it or raise timeout_s",
    "too_big": "the query builds a value or result that is too big: {detail}",
    "runtime": "the database rejected the query: {detail}",
}


class Executor:
    """Runs one query at a time against a database file (SQLite or DuckDB) or an in-memory SQLite DDL copy.

    Args:
        database: Path of the database file, or None.
        kind: ``"sqlite"`` or ``"duckdb"`` (ignored without ``database``).
        ddl_sqlite: The DDL in SQLite syntax, for the in-memory copy when there is no database.
        timeout_s: Wall-clock limit of one query.
        max_rows: Rows fetched at most (the query is stopped after them).
        max_steps: SQLite virtual-machine steps allowed (a limit that does not depend on the machine's
            speed, for reproducible measurements); None for no limit but the deadline.

    Raises:
        SpecError: Neither a database nor a DDL, or a DDL that does not run in SQLite.
    """

    def __init__(
        self,
        *,
        database: Path | None,
        kind: str = "sqlite",
        ddl_sqlite: str | None = None,
        timeout_s: float = 2.0,
        max_rows: int = 1000,
        max_steps: int | None = None,
    ) -> None:
        if database is None and ddl_sqlite is None:
            raise SpecError(
                "execute_check=True needs database= (a SQLite/DuckDB file) or ddl= with dialect='sqlite'"
            )
        self.database = database
        self.kind = kind if database is not None else "sqlite"
        self.ddl_sqlite = ddl_sqlite
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_steps = max_steps
        if database is None:
            try:  # fail at construction when the DDL does not run
                _engine.open_sqlite(None, ddl_sqlite).close()
            except sqlite3.Error as exc:
                raise SpecError(
                    f"the DDL does not run in SQLite: {exc}; fix the CREATE TABLE script"
                ) from exc

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql``: at most ``max_rows + 1``, so a caller can tell that there were more.

        The query runs in a child process, killed when it overruns ``timeout_s``: a single SQLite call
        such as ``printf('%.*c', 900000000, 'x')`` never returns to the progress handler, and DuckDB does
        not count every allocation against its memory limit.

        Raises:
            QueryFailed: The engine refused the query, or stopped it at a limit.
        """
        return self._fetch_in_child(sql)

    def run(self, sql: str) -> list[Issue]:
        """Runtime problems of ``sql``; empty when it runs (and fetches up to ``max_rows``) in time."""
        try:
            self.fetch(sql)
        except QueryFailed as exc:
            return [Issue(_MESSAGES[exc.kind].format(detail=exc.message), kind=exc.kind)]
        return []

    def _fetch_in_child(self, sql: str) -> list[tuple[Any, ...]]:
        database = None
        if self.database is not None:
            database = str(self.database) if self.kind == "duckdb" else self.database.resolve().as_uri()
        job = {
            "kind": self.kind,
            "database": database,
            "ddl": self.ddl_sqlite,
            "sql": sql,
            "timeout_s": self.timeout_s,
            "max_rows": self.max_rows,
            "max_steps": self.max_steps,
            "address_space": _engine.CHILD_ADDRESS_SPACE,
        }
        stdout, stderr, returncode = _run_child(json.dumps(job).encode(), self.timeout_s)
        try:
            out = marshal.loads(stdout)
        except (EOFError, ValueError, TypeError) as exc:
            # killed by the rlimit before it could answer (std::bad_alloc aborts the process)
            lines = stderr.decode(errors="replace").strip().splitlines()
            detail = lines[-1][:200] if lines else f"exit code {returncode}"
            raise QueryFailed("too_big", f"the query process died: {detail}") from exc
        if out[0] == "error":
            raise QueryFailed(out[1], out[2])
        return [tuple(row) for row in out[1]]


def _run_child(job: bytes, timeout_s: float) -> tuple[bytes, bytes, int]:
    """Run one job in a child process; the query's clock starts when the child says it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-I", _engine.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE always sets them
            raise QueryFailed("runtime", "cannot talk to the query process")
        proc.stdin.write(job)
        proc.stdin.close()
        proc.stdin = None  # written and closed: communicate() below only reads
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(_CHILD_STARTUP_S):
                raise QueryFailed("timeout", f"the query process did not start in {_CHILD_STARTUP_S:g} s")
        ready = os.read(proc.stdout.fileno(), 1)  # unbuffered: communicate() reads the descriptor
        if ready != _engine.READY:
            _, stderr = proc.communicate(timeout=_CHILD_STARTUP_S)
            return ready, stderr, proc.returncode
        stdout, stderr = proc.communicate(timeout=timeout_s + _GRACE_S)
        return stdout, stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        raise QueryFailed("timeout", f"ran longer than {timeout_s:g} s") from exc
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) + 0.0  # -0.0 -> 0.0
    return value


def run_query(
    database: str | Path, sql: str, *, timeout_s: float = 30.0, max_steps: int | None = 20_000_000
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on ``database``, opened read-only; floats rounded to 6 decimals.

    Raises:
        ConfigError: The query fails (the engine's message is kept), runs past ``max_steps`` SQLite steps or
            ``timeout_s``, builds a value that is too big, or returns more than :data:`MAX_ROWS` rows.
    """
    path = Path(database)
    kind = "duckdb" if path.suffix.lower() == ".duckdb" else "sqlite"
    executor = Executor(database=path, kind=kind, timeout_s=timeout_s, max_rows=MAX_ROWS, max_steps=max_steps)
    try:
        rows = executor.fetch(sql)
    except QueryFailed as exc:
        raise ConfigError(f"query failed: {exc.message} ({sql[:200]!r})") from exc
    if len(rows) > MAX_ROWS:
        raise ConfigError(f"query returned more than {MAX_ROWS:,} rows")
    return [tuple(_norm(v) for v in row) for row in rows]


def execution_match(database: str | Path, pred_sql: str, gold_sql: str) -> tuple[bool, str | None]:
    """Whether ``pred_sql`` returns the same multiset of rows as ``gold_sql`` on ``database``.

    Column names and row order are ignored (multisets of row tuples are compared), so ``ORDER BY``
    differences do not count against an answer.

    Returns:
        ``(match, problem)`` where ``problem`` says why the predicted query could not be compared
        (it failed or ran away), else ``None``.

    Raises:
        ConfigError: The gold query itself fails: the task set is broken.
    """
    gold_rows = run_query(database, gold_sql)
    try:
        pred_rows = run_query(database, pred_sql)
    except ConfigError as exc:
        return False, str(exc)
    return Counter(pred_rows) == Counter(gold_rows), None

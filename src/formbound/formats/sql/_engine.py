"""Open a database read-only with every limit the engine has, and fetch a bounded result.

This module imports only the standard library at load time (DuckDB lazily), because it is also run as a
script in a child process (``python -I _engine.py``), where importing the whole package would cost seconds:
the child reads one JSON job on stdin and writes ``marshal``-ed ``("ok", rows)`` or
``("error", kind, message)`` on stdout.

Limits, per engine:

* SQLite: ``mode=ro`` URI, ``PRAGMA query_only``, an authorizer that allows only reading, a progress handler
  that stops the query at its deadline (and after ``max_steps`` virtual-machine steps), and
  ``SQLITE_LIMIT_LENGTH`` so that no string or blob grows past ``max_value_bytes`` (``zeroblob(900000000)``
  fails at once instead of allocating 900 MB).
* DuckDB: ``read_only``, ``enable_external_access = false`` (no file or network access from ``read_csv``,
  ``glob``, …), ``memory_limit``, one thread, and ``lock_configuration`` so the query cannot undo them.
  DuckDB does not count every allocation against ``memory_limit`` (``repeat('x', 1e9)`` allocates 1 GB), so
  the caller runs every query in a child process under an address-space rlimit.
"""

from __future__ import annotations

import json
import marshal
import sqlite3
import sys
import threading
import time
from typing import Any

#: Longest string or blob a SQLite query may build (``SQLITE_LIMIT_LENGTH``).
MAX_VALUE_BYTES = 1_000_000
#: Bytes of strings and blobs fetched at most, over all rows.
MAX_RESULT_BYTES = 32_000_000
#: DuckDB's own memory limit.
DUCKDB_MEMORY_LIMIT = "256MB"
#: Address space of the child process (DuckDB needs ~200 MB of it to start).
CHILD_ADDRESS_SPACE = 1 << 30

_READ_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


class QueryFailed(Exception):
    """The engine refused or stopped the query; ``kind`` is ``runtime``, ``timeout`` or ``too_big``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def has_sqlite_limits() -> bool:
    """Whether this Python can cap SQLite value sizes in-process (``Connection.setlimit``, Python 3.11+)."""
    return hasattr(sqlite3.Connection, "setlimit")


def open_sqlite(database: str | None, ddl: str | None) -> sqlite3.Connection:
    """A read-only connection to ``database``, or an in-memory copy of ``ddl`` (then made read-only)."""
    if database is not None:
        uri = database + ("&" if "?" in database else "?") + "mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.executescript(ddl or "")
    conn.execute("PRAGMA query_only = ON")
    return conn


def fetch_sqlite(
    conn: sqlite3.Connection,
    sql: str,
    *,
    timeout_s: float,
    max_rows: int,
    max_steps: int | None = None,
    max_value_bytes: int = MAX_VALUE_BYTES,
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (at most ``max_rows + 1``, so a caller can tell "more than max_rows")."""
    if has_sqlite_limits():  # Python 3.11+; older ones run this in a child process under an rlimit
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)  # type: ignore[attr-defined,unused-ignore]
    deadline = time.monotonic() + timeout_s
    steps = [0]

    def tick() -> int:
        steps[0] += 1000
        return int(time.monotonic() > deadline or (max_steps is not None and steps[0] > max_steps))

    conn.set_authorizer(_authorizer)
    conn.set_progress_handler(tick, 1000)
    try:
        cursor = conn.execute(sql)
        return _bounded(cursor.fetchmany, max_rows)
    except sqlite3.OperationalError as exc:
        if time.monotonic() > deadline:
            raise QueryFailed("timeout", f"ran longer than {timeout_s:g} s") from exc
        if max_steps is not None and steps[0] > max_steps:
            raise QueryFailed("timeout", f"ran past {max_steps:,} steps") from exc
        raise QueryFailed("runtime", str(exc)) from exc
    except (sqlite3.DataError, OverflowError, MemoryError) as exc:
        raise QueryFailed("too_big", f"{exc} (values are limited to {max_value_bytes:,} bytes)") from exc
    except (sqlite3.Error, sqlite3.Warning) as exc:
        raise QueryFailed("runtime", str(exc)) from exc
    finally:
        conn.set_progress_handler(None, 0)


def _bounded(fetchmany: Any, max_rows: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    size = 0
    while len(rows) <= max_rows:
        chunk = fetchmany(min(256, max_rows + 1 - len(rows)))
        if not chunk:
            break
        for row in chunk:
            size += sum(len(v) for v in row if isinstance(v, (str, bytes)))
        if size > MAX_RESULT_BYTES:
            raise QueryFailed("too_big", f"the result holds more than {MAX_RESULT_BYTES:,} bytes")
        rows.extend(tuple(r) for r in chunk)
    return rows


def fetch_duckdb(database: str, sql: str, *, timeout_s: float, max_rows: int) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on a DuckDB file opened read-only, without file access, within DuckDB's limits."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "memory_limit": DUCKDB_MEMORY_LIMIT,
        "threads": 1,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    try:
        conn = duckdb.connect(database, read_only=True, config=config)
        conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        raise QueryFailed("runtime", f"cannot open the DuckDB database read-only: {exc}") from exc
    timer = threading.Timer(timeout_s, conn.interrupt)
    timer.start()
    started = time.monotonic()
    try:
        return _bounded(conn.execute(sql).fetchmany, max_rows)
    except duckdb.OutOfMemoryException as exc:
        raise QueryFailed("too_big", f"the query needs more memory than allowed: {exc}") from exc
    except duckdb.Error as exc:
        if time.monotonic() - started >= timeout_s:
            raise QueryFailed("timeout", f"ran longer than {timeout_s:g} s") from exc
        raise QueryFailed("runtime", str(exc)) from exc
    except MemoryError as exc:
        raise QueryFailed("too_big", "the query needs more memory than allowed") from exc
    finally:
        timer.cancel()
        conn.close()


#: What the child writes once it has started, so the parent starts the query's clock then.
READY = b"R"


def _child_main() -> None:  # pragma: no cover - runs in the child process, tested through Executor
    job = json.loads(sys.stdin.read())
    if job["kind"] == "duckdb":
        import duckdb  # noqa: F401  (imported before the clock starts)
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    try:
        import resource

        limit = int(job["address_space"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # no rlimit on this platform: the engine's own limits still hold
    try:
        limits = {"timeout_s": job["timeout_s"], "max_rows": job["max_rows"]}
        if job["kind"] == "duckdb":
            rows = fetch_duckdb(job["database"], job["sql"], **limits)
        else:
            conn = open_sqlite(job["database"], job["ddl"])
            try:
                rows = fetch_sqlite(conn, job["sql"], max_steps=job["max_steps"], **limits)
            finally:
                conn.close()
        plain = (type(None), bool, int, float, str, bytes)
        out: tuple[Any, ...] = ("ok", [tuple(v if isinstance(v, plain) else str(v) for v in r) for r in rows])
    except QueryFailed as exc:
        out = ("error", exc.kind, exc.message)
    except MemoryError:
        out = ("error", "too_big", "the query needs more memory than allowed")
    except (sqlite3.Error, ImportError) as exc:
        out = ("error", "runtime", str(exc))
    sys.stdout.buffer.write(marshal.dumps(out))


if __name__ == "__main__":  # pragma: no cover
    _child_main()

"""Task sets: a spec plus items with gold answers, read from a folder or by a bundled name.

The bundled task sets (``contacts``, ``events``, ``products``, ``service_config``, ``shop_sql``) ship
inside the package (``formbound/tasksets/``); :func:`bundled_task_sets` lists them and
:func:`resolve_task_set` turns a name or a folder into the folder, with "did you mean" for a typo.

A task set folder holds ``spec.json`` (a spec description, plus an optional ``"task"`` block with the
one-line ``instruction`` and ``max_new_tokens``), ``tasks.jsonl`` (one ``{"id", "input", "gold",
"split"}`` object per line) and, for SQL sets, ``data.sql`` with the rows: the SQLite database is built
from the DDL and the data into a cache, never committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formbound._util import cache_root, suggest
from formbound.errors import ConfigError, FormboundError, SpecError
from formbound.spec import Spec

__all__ = [
    "BUNDLED_DIR",
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_MAX_NEW_TOKENS",
    "Task",
    "TaskSet",
    "bundled_task_sets",
    "load_task_set",
    "resolve_task_set",
    "task_splits",
]

#: Where the bundled task sets live inside the installed package.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "tasksets"

#: Used when spec.json has no ``task.instruction``.
DEFAULT_INSTRUCTIONS: dict[str, str] = {
    "json": "Answer with the JSON object only.",
    "yaml": "Answer with the YAML document only.",
    "sql": "Answer with one SQL query only.",
}
#: Used when spec.json has no ``task.max_new_tokens``.
DEFAULT_MAX_NEW_TOKENS = 256


@dataclass(frozen=True)
class Task:
    """One item of a task set.

    Attributes:
        id: Unique id, e.g. ``"contacts-001"``.
        input: The text given to the model.
        gold: The correct answer: JSON data for JSON/YAML sets, a SQL string for SQL sets.
        split: ``"train"`` or ``"test"`` (any name is accepted).
        missing: JSON pointers of fields whose value is not in the input (gold ``null``).
        notes: Free text for people.
        line: Line number in tasks.jsonl.
    """

    id: str
    input: str
    gold: Any
    split: str
    missing: tuple[str, ...] = ()
    notes: str | None = None
    line: int = 0

    @property
    def hash(self) -> str:
        """Hash of input and gold: a cached answer is reused only while both are unchanged."""
        blob = json.dumps([self.id, self.input, self.gold], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class TaskSet:
    """A spec with its tasks.

    Attributes:
        name: Folder name, e.g. ``"contacts"``.
        path: The folder.
        spec: The :class:`~formbound.Spec` answers must satisfy.
        instruction: The one-line request given with every input.
        max_new_tokens: Token limit for one answer.
        tasks: Every task, in file order.
        ddl: DDL script text for SQL sets (``None`` otherwise).
        data_sql: INSERT statements for SQL sets (``None`` otherwise).
    """

    name: str
    path: Path
    spec: Spec
    instruction: str
    max_new_tokens: int
    tasks: list[Task]
    ddl: str | None = None
    data_sql: str | None = None
    _database: Path | None = field(default=None, repr=False)

    @property
    def format(self) -> str:
        return self.spec.format

    @property
    def splits(self) -> list[str]:
        """Split names present, in first-seen order."""
        return list(dict.fromkeys(t.split for t in self.tasks))

    def split(self, name: str) -> list[Task]:
        """The tasks of split ``name`` (``"all"`` for every task)."""
        if name == "all":
            return list(self.tasks)
        check_split(name, self.splits, self.name)
        return [t for t in self.tasks if t.split == name]

    def get(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise ConfigError(f"task set {self.name!r} has no task {task_id!r}")

    @property
    def hash(self) -> str:
        """Hash of the spec, the instruction and every task."""
        h = hashlib.sha256()
        h.update(self.spec.hash.encode())
        h.update(self.instruction.encode())
        for t in self.tasks:
            h.update(t.hash.encode())
        h.update((self.data_sql or "").encode())
        return h.hexdigest()[:16]

    @property
    def database(self) -> Path | None:
        """The SQLite database of a SQL set, built on first use in the cache folder (``None`` otherwise).

        The file is keyed by a hash of the DDL and data scripts, so a changed script builds a new one,
        and written to a temporary file first, so an interrupted build never leaves a half database.
        """
        if self.ddl is None:
            return None
        if self._database is None or not self._database.exists():
            self._database = _build_database(self.name, self.ddl, self.data_sql or "")
        return self._database

    def gold_text(self, task: Task) -> str:
        """The gold answer as canonical text in the spec's format (for few-shot examples)."""
        from formbound.enforce import enforce

        text = task.gold if isinstance(task.gold, str) and self.format == "sql" else json.dumps(task.gold)
        try:
            return enforce(text, self.spec, repair=False).text
        except FormboundError as exc:
            raise ConfigError(
                f"{self.name}/tasks.jsonl line {task.line}: gold answer of {task.id!r} "
                f"fails its own spec: {exc}"
            ) from exc

    def check(self) -> list[str]:
        """Problems with the gold answers: each must satisfy the spec, and gold SQL must run and return
        rows. Returns one message per problem (empty when all is well)."""
        problems = []
        for t in self.tasks:
            try:
                self.gold_text(t)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            if self.format == "sql":
                from formbound.formats.sql.execute import run_query

                db = self.database
                if db is None:  # pragma: no cover - SQL sets always have a database
                    raise ConfigError(f"task set {self.name!r} has no database")
                try:
                    rows = run_query(db, str(t.gold))
                except ConfigError as exc:
                    problems.append(f"{t.id}: gold SQL fails: {exc}")
                    continue
                if not rows:
                    problems.append(f"{t.id}: gold SQL returns no rows")
        return problems


def _build_database(name: str, ddl: str, data: str) -> Path:
    digest = hashlib.sha256((ddl + "\0" + data).encode()).hexdigest()[:16]
    folder = cache_root() / "taskdb"
    target = folder / f"{name}-{digest}.db"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".db", dir=folder)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(ddl)
            conn.executescript(data)
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"task set {name!r}: building the database from the DDL and data.sql failed: {exc}"
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"task set file {str(path)!r} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"task set file {str(path)!r} is not UTF-8 text: {exc}") from exc


def _parse_tasks(path: Path, fmt: str) -> list[Task]:
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    where = f"{path.parent.name}/{path.name}"
    for lineno, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{where} line {lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
            ) from exc
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} line {lineno}: expected a JSON object, got {type(obj).__name__}")
        missing_keys = [k for k in ("id", "input", "gold") if k not in obj]
        if missing_keys:
            raise ConfigError(f"{where} line {lineno}: missing key(s) {', '.join(missing_keys)}")
        tid, text, split = obj["id"], obj["input"], obj.get("split", "test")
        if not isinstance(tid, str) or not tid:
            raise ConfigError(f"{where} line {lineno}: 'id' must be a non-empty string, got {tid!r}")
        if tid in seen:
            raise ConfigError(f"{where} line {lineno}: duplicate id {tid!r} (first on line {seen[tid]})")
        seen[tid] = lineno
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where} line {lineno}: 'input' of {tid!r} must be a non-empty string")
        if not isinstance(split, str) or not split:
            raise ConfigError(
                f"{where} line {lineno}: 'split' of {tid!r} must be a string like 'train' or 'test'"
            )
        if fmt == "sql" and not isinstance(obj["gold"], str):
            raise ConfigError(
                f"{where} line {lineno}: 'gold' of {tid!r} must be a SQL string in a SQL task set"
            )
        missing = obj.get("missing", [])
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise ConfigError(f"{where} line {lineno}: 'missing' of {tid!r} must be a list of JSON pointers")
        notes = obj.get("notes")
        tasks.append(
            Task(tid, text, obj["gold"], split, tuple(missing), None if notes is None else str(notes), lineno)
        )
    if not tasks:
        raise ConfigError(f"{where} has no tasks")
    return tasks


def bundled_task_sets() -> list[str]:
    """Names of the task sets shipped with formbound, sorted.

    >>> bundled_task_sets()[:2]
    ['contacts', 'events']
    """
    if not BUNDLED_DIR.is_dir():  # pragma: no cover - a broken install
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "spec.json").is_file())


def resolve_task_set(name_or_path: str | os.PathLike[str]) -> Path:
    """The folder of a task set given as a folder path or as a bundled name (``"contacts"``).

    An existing folder wins over a bundled name; a bare name that is neither gets "did you mean".
    Reads nothing but the folder listing, so a command can check its flags before loading a model.

    Raises:
        ConfigError: no such folder or bundled name.

    >>> resolve_task_set("contactz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    formbound.errors.ConfigError: task set 'contactz' does not exist: ... did you mean 'contacts'?
    """
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return folder
    bundled = bundled_task_sets()
    text = os.fspath(name_or_path)
    if text in bundled:
        return BUNDLED_DIR / text
    hint = suggest(folder.name, bundled)
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise ConfigError(
        f"task set {text!r} does not exist: it is neither a folder nor a bundled task set "
        f"(bundled: {', '.join(bundled)}){extra}"
    )


def task_splits(name_or_path: str | os.PathLike[str]) -> list[str]:
    """Split names of a task set, in first-seen order, read without building its spec (cheap).

    Malformed lines are skipped here; :func:`load_task_set` reports them with their line numbers.
    """
    splits: dict[str, None] = {}
    for line in _read(resolve_task_set(name_or_path) / "tasks.jsonl").splitlines():
        try:
            obj = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("split", "test"), str):
            splits[obj.get("split", "test")] = None
    return list(splits)


def check_split(name: str, splits: list[str], task_set: str) -> None:
    """Raise ConfigError with "did you mean" unless ``name`` is ``"all"`` or one of ``splits``."""
    if name == "all" or name in splits:
        return
    hint = suggest(name, splits)
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise ConfigError(f"task set {task_set!r} has no split {name!r} (has: {', '.join(splits)}){extra}")


def load_task_set(path: str | os.PathLike[str]) -> TaskSet:
    """Read a task set folder, or a bundled task set by name (see the module docstring for the layout).

    Raises:
        ConfigError: an unknown name or folder, a missing file, a malformed line of tasks.jsonl (with its
            line number), a duplicate id.
        SpecError: the spec in spec.json cannot be built.
    """
    folder = resolve_task_set(path)
    spec_file = folder / "spec.json"
    try:
        desc = json.loads(_read(spec_file))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{folder.name}/spec.json line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(desc, dict):
        raise ConfigError(f"{folder.name}/spec.json must hold a JSON object")
    task_opts = desc.pop("task", {}) or {}
    if not isinstance(task_opts, dict):
        raise ConfigError(f"{folder.name}/spec.json: 'task' must be an object")
    fmt = desc.get("format")
    try:
        spec = Spec.from_dict(desc, base_dir=folder)
    except SpecError as exc:
        raise SpecError(f"{folder.name}/spec.json: {exc}") from exc
    instruction = task_opts.get("instruction") or DEFAULT_INSTRUCTIONS.get(spec.format, "Answer only.")
    max_new = task_opts.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if not isinstance(max_new, int) or isinstance(max_new, bool) or max_new < 1:
        raise ConfigError(
            f"{folder.name}/spec.json: task.max_new_tokens must be a positive integer, got {max_new!r}"
        )
    ddl = data_sql = None
    if spec.format == "sql":
        ddl_ref = desc.get("ddl", "schema.sql")
        ddl_path = (
            folder / ddl_ref
            if isinstance(ddl_ref, str) and not ddl_ref.lstrip().upper().startswith("CREATE")
            else None
        )
        ddl = _read(ddl_path) if ddl_path is not None else str(ddl_ref)
        data_path = folder / "data.sql"
        data_sql = _read(data_path) if data_path.exists() else ""
    tasks = _parse_tasks(folder / "tasks.jsonl", str(fmt))
    return TaskSet(folder.name, folder, spec, str(instruction), int(max_new), tasks, ddl, data_sql)

"""The Spec base class and Candidate: the extension point every format implements.

A :class:`Spec` is one format (JSON, YAML, SQL) plus what the output must satisfy in it (a JSON Schema,
a pydantic model, a DDL and a policy). Each format is a subclass living in :mod:`formbound.formats`;
the factories (``Spec.json``, ``Spec.yaml``, ``Spec.sql``) are the public way to build one; they look
the format up by name in :mod:`formbound.formats`, so this module imports no format.
A broken spec raises :class:`~formbound.errors.SpecError` when it is built, never later.
"""

from __future__ import annotations

import hashlib
import json
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from formbound.errors import EnforcementError, Issue, SpecError

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["Candidate", "Spec", "fail"]


class Candidate:
    """A repaired version of a text, with the names of the repairs that produced it.

    ``parsed`` may carry an already-parsed value so the spec need not parse ``text`` again.
    """

    __slots__ = ("parsed", "repairs", "text")
    _UNSET: ClassVar[object] = object()

    def __init__(self, text: str, repairs: tuple[str, ...], parsed: Any = _UNSET) -> None:
        self.text = text
        self.repairs = repairs
        self.parsed = parsed

    @property
    def has_parsed(self) -> bool:
        return self.parsed is not Candidate._UNSET

    def __repr__(self) -> str:
        return f"Candidate({self.text[:40]!r}, repairs={self.repairs})"


class Spec(ABC):
    """What an output must be. Build one with :meth:`json`, :meth:`yaml`, :meth:`sql` or :meth:`load`.

    Subclasses implement parsing, validation, repair candidates, canonical text and the decoding
    constraint for one format.
    """

    #: Format name, e.g. ``"json"``.
    format: ClassVar[str]
    #: Stages this format checks, in order; an error at a later stage means the text got further.
    stages: ClassVar[tuple[str, ...]] = ("syntax", "schema")

    # ----------------------------------------------------------------- factories
    @staticmethod
    def json(
        schema: Any,
        *,
        strict: bool = False,
        max_string_length: int | None = None,
        max_items: int | None = None,
        registry: Any = None,
        **unknown: Any,
    ) -> Spec:
        """A JSON spec from a JSON Schema dict, a path to a ``.json`` schema file, a pydantic model class, or
        any type pydantic validates (``list[Person]``, a dataclass, ``Literal[...]`` …).

        Options (see :class:`formbound.formats.json.JsonSpec`): ``strict=True`` refuses values a pydantic
        model would convert (by default each conversion is reported as the repair ``coerce``);
        ``max_string_length``/``max_items`` add fixed grammar bounds; ``registry`` is a
        :class:`referencing.Registry` for ``$ref`` targets outside the schema (nothing is ever fetched
        without one). A misspelt option is a :class:`SpecError` with "did you mean …".

        >>> spec = Spec.json({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
        >>> spec.format
        'json'
        """
        _no_unknown("json", unknown, ("strict", "max_string_length", "max_items", "registry"))
        return _build(
            "json",
            schema,
            strict=strict,
            max_string_length=max_string_length,
            max_items=max_items,
            registry=registry,
        )

    @staticmethod
    def yaml(
        schema: Any = None,
        *,
        multi_document: bool = False,
        max_chars: int | None = None,
        max_nodes: int | None = None,
        max_depth: int | None = None,
        max_string_length: int | None = None,
        max_items: int | None = None,
        **unknown: Any,
    ) -> Spec:
        """A YAML spec: the document must load (YAML 1.2, safe) and match ``schema`` (as for :meth:`json`).

        Options (see :class:`formbound.formats.yaml.YamlSpec`; ``None`` keeps its default): several
        documents, and the size limits on input characters, nodes (aliases and merges expanded), depth,
        strings and sequences. A misspelt option is a :class:`SpecError` with "did you mean …".
        """
        limits = {
            "max_chars": max_chars,
            "max_nodes": max_nodes,
            "max_depth": max_depth,
            "max_string_length": max_string_length,
            "max_items": max_items,
        }
        _no_unknown("yaml", unknown, ("multi_document", *limits))
        given = {k: v for k, v in limits.items() if v is not None}
        return _build("yaml", schema, multi_document=multi_document, **given)

    @staticmethod
    def sql(
        *,
        dialect: str = "sqlite",
        ddl: str | Path | None = None,
        database: str | Path | None = None,
        read_only: bool = True,
        allowed_tables: Iterable[str] | None = None,
        execute_check: bool = False,
        timeout_s: float = 2.0,
        allowed_functions: Iterable[str] | None = None,
        max_chars: int | None = None,
        **unknown: Any,
    ) -> Spec:
        """A SQL spec; see :class:`formbound.formats.sql.SqlSpec` for the options.

        A misspelt option (``databse=``) is a :class:`SpecError` with "did you mean …".
        """
        options: dict[str, Any] = {
            "dialect": dialect,
            "ddl": ddl,
            "database": database,
            "read_only": read_only,
            "allowed_tables": allowed_tables,
            "execute_check": execute_check,
            "timeout_s": timeout_s,
            "allowed_functions": allowed_functions,
        }
        _no_unknown("sql", unknown, (*options, "max_chars"))
        if max_chars is not None:
            options["max_chars"] = max_chars
        return _build("sql", **options)

    @staticmethod
    def coerce(spec: Any) -> Spec:
        """``spec`` itself if it is a Spec; a JSON spec for a schema dict or a pydantic model class; for a
        path (``str`` or ``Path``), the spec :meth:`load` reads from that file (a JSON Schema file is a
        JSON spec, as with :meth:`json`)."""
        if isinstance(spec, Spec):
            return spec
        if isinstance(spec, (str, Path)):
            return Spec.load(spec)
        if isinstance(spec, (dict, type)) or typing.get_origin(spec) is not None:
            return Spec.json(spec)
        raise SpecError(
            "expected a formbound.Spec, a JSON Schema dict, a path to a JSON Schema file or a pydantic "
            f"model class, got {type(spec).__name__}"
        )

    @staticmethod
    def load(path: str | Path, format: str | None = None) -> Spec:
        """A spec from a file.

        * ``spec.json`` written by formbound (``{"format": ..., ...}``, see :meth:`from_dict`);
        * a JSON Schema file (``.json``) for the ``json`` (default) or ``yaml`` format;
        * a DDL script (``.sql``) or a SQLite database (``.db``, ``.sqlite``) for the ``sql`` format.
        """
        p = Path(path)
        if not p.is_file():
            raise SpecError(f"spec file {str(p)!r} does not exist")
        suffix = p.suffix.lower()
        if suffix == ".sql":
            return Spec.sql(ddl=_read_text(p))
        if suffix == ".duckdb":
            return Spec.sql(database=str(p), dialect="duckdb")
        if suffix in (".db", ".sqlite", ".sqlite3"):
            return Spec.sql(database=str(p))
        try:
            data = json.loads(_read_text(p))
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec file {p.name!r} is not valid JSON: {exc}") from exc
        if (
            isinstance(data, dict)
            and "format" in data
            and isinstance(data.get("format"), str)
            and ("schema" in data or "ddl" in data or "database" in data or data["format"] == "sql")
        ):
            if format is not None and format != data["format"]:
                raise SpecError(f"spec file {p.name!r} is for format {data['format']!r}, not {format!r}")
            return Spec.from_dict(data, base_dir=p.parent)
        fmt = format or "json"
        if fmt == "json":
            return Spec.json(data)
        if fmt == "yaml":
            return Spec.yaml(data)
        raise SpecError(
            f"a JSON Schema file cannot define a {fmt!r} spec; give a .sql DDL file or a database"
        )

    @staticmethod
    def from_dict(data: dict[str, Any], base_dir: str | Path | None = None) -> Spec:
        """A spec from its description, as stored in a task set's ``spec.json``.

        ``{"format": "json"|"yaml", "schema": {...} | "schema.json"}`` or
        ``{"format": "sql", "dialect": ..., "ddl": "schema.sql" | "CREATE ...", ...}``; relative file
        names are resolved against ``base_dir``.
        """
        from formbound.formats import get_format

        data = dict(data)
        fmt = data.pop("format", None)
        if not isinstance(fmt, str):
            raise SpecError("spec description needs a 'format' string")
        cls = get_format(fmt)
        return cls.from_description(data, Path(base_dir) if base_dir is not None else Path.cwd())

    @classmethod
    def from_description(cls, data: dict[str, Any], base_dir: Path) -> Spec:
        raise SpecError(f"format {cls.format!r} cannot be built from a description")

    # ------------------------------------------------------------ the interface
    @abstractmethod
    def parse(self, text: str) -> Any:
        """Parse ``text``; raise :class:`EnforcementError` at stage ``"syntax"``."""

    @abstractmethod
    def validate(self, value: Any, text: str) -> Any:
        """Check a parsed value; return the final value (e.g. a pydantic instance) or raise an error."""

    def candidates(self, text: str) -> Iterator[Candidate]:
        """Repaired versions of ``text``, most conservative first. The default has none."""
        return iter(())

    @abstractmethod
    def dump(self, value: Any) -> str:
        """Canonical text of a value returned by :meth:`validate`."""

    @abstractmethod
    def constraint(self) -> Constraint:
        """The grammar that constrains decoding to (a superset of a subset of) this spec."""

    @property
    def unenforced(self) -> tuple[str, ...]:
        """Parts of the spec the decoding constraint cannot enforce (post-validation still does)."""
        return self.constraint().unenforced

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description; ``Spec.from_dict(spec.describe())`` rebuilds an equal spec."""

    def render_schema(self) -> str:
        """A compact, readable rendering of what the output must look like, for prompts."""
        return json.dumps(self.describe(), indent=None)

    @property
    def hash(self) -> str:
        """A stable hash of the spec, recorded in datasets and adapters built for it."""
        blob = json.dumps(self.describe(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def validate_with_repairs(self, value: Any, text: str) -> tuple[Any, tuple[str, ...]]:
        """:meth:`validate`, plus the names of any changes validation itself made (e.g. ``coerce``)."""
        return self.validate(value, text), ()

    def check(self, text: str) -> Any:
        """Parse and validate ``text`` without repairs; return the value or raise EnforcementError."""
        return self.validate(self.parse(text), text)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} format={self.format!r} hash={self.hash}>"


def _no_unknown(fmt: str, unknown: dict[str, Any], known: tuple[str, ...]) -> None:
    if not unknown:
        return
    from formbound._util import suggest

    key = sorted(unknown)[0]
    hint = suggest(key, list(known))
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise SpecError(f"unknown {fmt} spec option {key!r} (known: {', '.join(known)}){extra}")


def _build(fmt: str, *args: Any, **kwargs: Any) -> Spec:
    from formbound.formats import get_format

    cls: Any = get_format(fmt)
    spec: Spec = cls(*args, **kwargs)
    return spec


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec file {p.name!r} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(p)!r}: {exc.strerror}") from exc


def fail(stage: str, text: str, *issues: Issue) -> EnforcementError:
    """Shorthand used by formats to build an EnforcementError."""
    return EnforcementError(stage, list(issues), text)

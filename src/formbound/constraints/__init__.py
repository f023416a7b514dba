"""The only thing passed between a format and a model: a decoding constraint.

A format turns its spec into a :class:`Constraint`; a model source turns a constraint into a
constrained generation. Neither knows the other.

The package also holds what turns a JSON Schema into a grammar-ready schema: :mod:`.bounds` (bounds a
grammar adds where the spec sets none, budgets derived from a token limit) and :mod:`.relax` (keywords
dropped when no backend compiles a schema).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DIALECTS", "Constraint"]

ConstraintKind = Literal["json_schema", "regex", "lark"]
#: Grammar dialects, and the kind each belongs to. ``lark-llguidance`` uses operators only llguidance
#: implements (``%json``, lexeme ``max_tokens``, ``&``/``~``), so only llguidance may compile it; plain
#: ``lark`` is the portable subset.
DIALECTS: dict[str, str] = {
    "json_schema": "json_schema",
    "regex": "regex",
    "lark": "lark",
    "lark-llguidance": "lark",
}
_DEFAULT_DIALECT = {"json_schema": "json_schema", "regex": "regex", "lark": "lark-llguidance"}


@dataclass(frozen=True)
class Constraint:
    """A grammar for constrained decoding.

    Attributes:
        kind: ``"json_schema"`` (value is a JSON Schema dict), ``"regex"`` (a regular expression) or
            ``"lark"`` (a Lark grammar in llguidance's dialect, start rule ``start``).
        value: The schema, regex or grammar.
        unenforced: Keywords or rules of the spec the grammar cannot enforce; post-validation catches them.
        relaxed: True when this constraint is a relaxation of the spec (dropped keywords), not the spec.
        dialect: The grammar dialect ``value`` is written in (see :data:`DIALECTS`); by default the kind's
            own, and ``"lark-llguidance"`` for Lark (the YAML and SQL grammars use llguidance-only
            operators). A backend or server that cannot take the dialect must refuse it visibly.
        repetition_guard: Decoding option (opt-in, llguidance in process only): stop an array that
            repeats its previous element exactly and a free string that repeats a token n-gram
            (:mod:`formbound.models.repetition`). Not part of :attr:`key`: the grammar is the same.
    """

    kind: ConstraintKind
    value: Any
    unenforced: tuple[str, ...] = field(default=())
    relaxed: bool = False
    dialect: str = ""
    repetition_guard: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _DEFAULT_DIALECT:
            raise ValueError(f"unknown constraint kind {self.kind!r}; use one of {sorted(_DEFAULT_DIALECT)}")
        if not self.dialect:
            object.__setattr__(self, "dialect", _DEFAULT_DIALECT[self.kind])
        elif DIALECTS.get(self.dialect) != self.kind:
            known = sorted(d for d, k in DIALECTS.items() if k == self.kind)
            raise ValueError(
                f"dialect {self.dialect!r} does not hold a {self.kind} constraint; use one of {known}"
            )

    @property
    def key(self) -> str:
        """A stable hash, for caching compiled grammars."""
        blob = json.dumps([self.kind, self.dialect, self.value], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

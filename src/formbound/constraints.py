"""The only thing passed between a format and a model: a decoding constraint.

A format turns its spec into a :class:`Constraint`; a model source turns a constraint into a
constrained generation. Neither knows the other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Constraint"]

ConstraintKind = Literal["json_schema", "regex", "lark"]


@dataclass(frozen=True)
class Constraint:
    """A grammar for constrained decoding.

    Attributes:
        kind: ``"json_schema"`` (value is a JSON Schema dict), ``"regex"`` (a regular expression) or
            ``"lark"`` (a Lark grammar in llguidance's dialect, start rule ``start``).
        value: The schema, regex or grammar.
        unenforced: Keywords or rules of the spec the grammar cannot enforce; post-validation catches them.
        relaxed: True when this constraint is a relaxation of the spec (dropped keywords), not the spec.
    """

    kind: ConstraintKind
    value: Any
    unenforced: tuple[str, ...] = field(default=())
    relaxed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("json_schema", "regex", "lark"):
            raise ValueError(f"unknown constraint kind {self.kind!r}")

    @property
    def key(self) -> str:
        """A stable hash, for caching compiled grammars."""
        blob = json.dumps([self.kind, self.value], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

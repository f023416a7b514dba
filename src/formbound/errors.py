"""Exceptions raised by formbound.

Every exception derives from :class:`FormboundError`. Subclasses carry the data a caller needs to act
on the failure (stage, per-error paths and positions, the text judged, every attempt of a re-ask loop)
rather than only a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "STAGES",
    "Attempt",
    "ConfigError",
    "DependencyError",
    "EnforcementError",
    "FormboundError",
    "GenerationError",
    "Issue",
    "SpecError",
    "SpecWarning",
]

#: Stages of enforcement, in the order a text normally passes them.
STAGES: tuple[str, ...] = ("syntax", "schema", "policy", "semantic")


class FormboundError(Exception):
    """Root of every error formbound raises."""


class SpecError(FormboundError, ValueError):
    """A spec (schema, DDL, dialect, policy) is malformed; raised when the spec is built."""


class SpecWarning(UserWarning):
    """A spec is accepted but probably not what was meant (a misspelt JSON Schema keyword, say).

    Turn it into an error with ``warnings.simplefilter("error", SpecWarning)``.
    """


class ConfigError(FormboundError, ValueError):
    """An option or configuration value is invalid."""


class DependencyError(FormboundError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class GenerationError(FormboundError, RuntimeError):
    """A model could not be loaded or could not generate."""


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a text.

    Attributes:
        message: What is wrong, naming the bad value where there is one.
        path: JSON pointer to the offending value (``""`` is the root), or ``None`` where no path applies.
        kind: A short machine-readable category, e.g. ``"json_syntax"``, ``"required"``, ``"write"``.
        line: 1-based line in the judged text, for syntax errors.
        column: 1-based column in the judged text, for syntax errors.
        suggestion: A fix to try, e.g. the closest valid column name.
    """

    message: str
    path: str | None = None
    kind: str = "invalid"
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f"line {self.line}, column {self.column or 1}: "
        elif self.path is not None:
            where = f"at {self.path or '/'}: "
        tail = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{where}{self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Attempt:
    """One try inside a re-ask loop: the text a model produced and what was wrong with it."""

    text: str
    error: EnforcementError | None
    feedback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class EnforcementError(FormboundError, ValueError):
    """A text does not satisfy a spec.

    Attributes:
        stage: Where it failed: ``"syntax"``, ``"schema"``, ``"policy"`` or ``"semantic"``.
        errors: The individual :class:`Issue` objects, at least one.
        text: The text that was judged (after repairs, when repairs were applied).
        raw: The text as given, before any repair.
        repairs: Names of the repairs applied to ``raw`` to obtain ``text``.
        attempts: Every attempt of a re-ask loop (empty outside one).
    """

    def __init__(
        self,
        stage: str,
        errors: Sequence[Issue],
        text: str,
        *,
        raw: str | None = None,
        repairs: Sequence[str] = (),
        attempts: Sequence[Attempt] = (),
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if not errors:
            raise ValueError("EnforcementError needs at least one Issue")
        self.stage = stage
        self.errors: list[Issue] = list(errors)
        self.text = text
        self.raw = text if raw is None else raw
        self.repairs: tuple[str, ...] = tuple(repairs)
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        #: Model generations behind the attempts, set by :class:`formbound.Generator` (else empty).
        self.generations: tuple[Any, ...] = ()
        #: Index of the attempt this error describes (the best one) within ``generations``.
        self.chosen = 0
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.stage} error"
        if len(self.errors) > 1:
            head += f" ({len(self.errors)} problems)"
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f"; … and {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
        tries = f" after {len(self.attempts)} attempts" if len(self.attempts) > 1 else ""
        return f"{head}{tries}: {shown}{more}"

    def with_attempts(self, attempts: Sequence[Attempt]) -> EnforcementError:
        """A copy of this error carrying ``attempts``."""
        return EnforcementError(
            self.stage, self.errors, self.text, raw=self.raw, repairs=self.repairs, attempts=attempts
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "errors": [e.to_dict() for e in self.errors],
            "repairs": list(self.repairs),
            "attempts": len(self.attempts),
        }

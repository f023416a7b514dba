"""formbound: dependable structured output from language models.

Check → repair → prompt → constrain → measure → escalate. The public API is listed in ``__all__``.
"""

from __future__ import annotations

from formbound._version import __version__
from formbound.constraints import Constraint
from formbound.enforce import Result, enforce, guard
from formbound.errors import (
    Attempt,
    ConfigError,
    DependencyError,
    EnforcementError,
    FormboundError,
    GenerationError,
    Issue,
    SpecError,
)
from formbound.generate import Generator
from formbound.spec import Spec

__all__ = [
    "Attempt",
    "ConfigError",
    "Constraint",
    "DependencyError",
    "EnforcementError",
    "FormboundError",
    "GenerationError",
    "Generator",
    "Issue",
    "Result",
    "Spec",
    "SpecError",
    "__version__",
    "enforce",
    "guard",
]

r"""formbound: dependable structured output from language models.

Quick start (check and repair a model's answer; no model needed)::

    >>> import formbound as fb
    >>> schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    >>> result = fb.enforce("Sure! ```json\n{'age': 36,}\n```", schema)
    >>> result.value, result.repairs
    ({'age': 36}, ('strip_fence', 'single_quotes', 'trailing_comma'))
    >>> fb.enforce('{"age": "36"}', schema)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    formbound.errors.EnforcementError: ...'36' is not of type 'integer'...
    >>> from formbound import models                                      # doctest: +SKIP
    >>> model = models.load("default")  # `formbound install-default-model` first  # doctest: +SKIP
    >>> from formbound.measure import evaluate                             # doctest: +SKIP
    >>> evaluate(model, "contacts", "prompted,constrained", limit=8, out_dir="runs/x")  # doctest: +SKIP

Check → repair → prompt → constrain → measure → escalate. The public API is listed in ``__all__``;
``formbound list`` on the command line shows the bundled task sets, strategies and model sources.
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

"""What every sub-command shares: exit codes, logging verbosity, and flag checks before a model loads.

Exit codes: 0 success (a valid text for ``check``), 1 the command ran and the answer is "no" (an invalid
text, a failed generation), 2 a usage error (a bad flag, an unknown task set, strategy, split or spec),
3 an internal error: one line on stderr, no traceback (``--verbose`` shows it).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from formbound.errors import ConfigError, FormboundError, SpecError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_USAGE",
    "VERBOSE_KEY",
    "InternalError",
    "check_run_flags",
    "configure_logging",
    "translate_errors",
    "verbosity_options",
]

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
#: ``click.Context.meta`` key (shared by a command and its group) set by ``--verbose``.
VERBOSE_KEY = "formbound.verbose"

#: Loggers whose progress output ``--quiet`` silences (the models' libraries log through these).
_LIBRARY_LOGGERS = ("transformers", "huggingface_hub", "accelerate", "peft", "datasets")


class InternalError(click.ClickException):
    """An unexpected exception, shown as one line with exit code 3."""

    exit_code = EXIT_INTERNAL


def translate_errors(exc: BaseException, verbose: bool = False) -> click.ClickException:
    """The click exception (and so the exit code) for an error raised by a command.

    ``ConfigError`` and ``SpecError`` are usage errors (2); other ``FormboundError``s are failures (1);
    anything else is an internal error (3), one line naming the exception type.
    """
    if isinstance(exc, (ConfigError, SpecError)):
        return click.UsageError(str(exc))
    if isinstance(exc, FormboundError):
        return click.ClickException(str(exc))
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    hint = "" if verbose else " (rerun with --verbose for the traceback)"
    return InternalError(f"internal error: {type(exc).__name__}: {first}{hint}; please report it")


def configure_logging(quiet: bool, verbose: bool) -> None:
    """Route the ``formbound`` logger to stderr; ``quiet`` also silences the model libraries' progress bars.

    Library code only logs to ``logging.getLogger("formbound")`` (and its children); handlers are the
    application's business, so only the command line installs one.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[VERBOSE_KEY] = verbose  # read by the group when a command fails unexpectedly
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logger = logging.getLogger("formbound")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if quiet:
        # transformers and huggingface_hub read these when they draw a progress bar or log.
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        _disable_library_bars()


class _StderrHandler(logging.Handler):
    """Writes to the standard error of the moment (click's test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


def _disable_library_bars() -> None:
    """Turn off progress bars in libraries already imported (the environment covers later imports)."""
    for module, func in (
        ("transformers.utils.logging", "disable_progress_bar"),
        ("huggingface_hub.utils", "disable_progress_bars"),
    ):
        mod = sys.modules.get(module)
        if mod is not None and callable(getattr(mod, func, None)):
            getattr(mod, func)()


def verbosity_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--quiet`` and ``--verbose``; the command receives ``quiet`` and ``verbose``."""
    fn = click.option(
        "--verbose", "-v", is_flag=True, help="Show debug logs, and the traceback of an internal error."
    )(fn)
    fn = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="Only warnings and errors: no progress bars (formbound's or the model libraries').",
    )(fn)
    return fn


def check_run_flags(tasks: str, strategies: str, split: str | None) -> Path:
    """Check ``--tasks``, ``--strategies`` and ``--split`` cheaply, without a model; return the folder.

    Only names are checked here (no spec is built), so a typo costs well under a second; the full task
    set is read by the command itself, still before any model loads.

    Raises:
        click.UsageError: an unknown task set, strategy or split, with "did you mean" (exit code 2).
    """
    from formbound.measure.strategies import parse_strategies
    from formbound.measure.tasks import check_split, resolve_task_set, task_splits

    try:
        parse_strategies(strategies)
        folder = resolve_task_set(tasks)
        if split is not None:
            check_split(split, task_splits(folder), folder.name)
    except FormboundError as exc:
        raise translate_errors(exc) from exc
    return folder

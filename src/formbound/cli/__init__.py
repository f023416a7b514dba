"""The ``formbound`` command: a thin layer over the public API.

Each sub-command lives in its own module and is imported only when used. Exit codes (every command):
0 success, 1 an invalid text or a failed run, 2 a usage error, 3 an internal error (one line, no
traceback unless ``--verbose``); see :mod:`formbound.cli._common`.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

import click

from formbound import __version__
from formbound.cli._common import VERBOSE_KEY, translate_errors

#: command name -> "module:function" (a click.Command)
COMMANDS: dict[str, str] = {
    "check": "formbound.cli.check:check",
    "eval": "formbound.cli.measure:eval_cmd",
    "generate": "formbound.cli.generate:generate_cmd",
    "report": "formbound.cli.measure:report_cmd",
    "escalate": "formbound.cli.escalate:escalate_cmd",
    "list": "formbound.cli.listing:list_cmd",
    "install-default-model": "formbound.cli.install:install_default_model",
}


class LazyGroup(click.Group):
    """Imports a sub-command's module only when it runs, and maps every error to one line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise
        cmd: Any = getattr(mod, attr)
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            verbose = bool(ctx.meta.get(VERBOSE_KEY))
            if verbose:
                click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            raise translate_errors(exc, verbose=verbose) from exc


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="formbound")
def main() -> None:
    """Check, repair, constrain and measure structured model output; escalate to a LoRA adapter.

    Exit codes: 0 success, 1 invalid text or failed run, 2 usage error, 3 internal error.
    """

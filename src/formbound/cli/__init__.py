"""The ``formbound`` command: a thin layer over the public API.

Each sub-command lives in its own module and is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from formbound import __version__

#: command name -> "module:function" (a click.Command)
COMMANDS: dict[str, str] = {
    "check": "formbound.cli.check:check",
    "eval": "formbound.cli.measure:eval_cmd",
    "report": "formbound.cli.measure:report_cmd",
    "escalate": "formbound.cli.escalate:escalate_cmd",
}


class LazyGroup(click.Group):
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


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="formbound")
def main() -> None:
    """Check, repair, constrain and measure structured model output; escalate to a LoRA adapter."""

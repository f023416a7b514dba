"""``formbound eval`` and ``formbound report``: thin wrappers over :mod:`formbound.measure`."""

from __future__ import annotations

import shlex
import sys

import click

from formbound.cli._common import check_run_flags, configure_logging, translate_errors, verbosity_options
from formbound.cli._model_options import load_model, model_options
from formbound.errors import FormboundError

__all__ = ["eval_cmd", "report_cmd"]


def _command_line() -> str:
    return shlex.join(["formbound", *sys.argv[1:]])


@click.command("eval")
@click.option("--model", "model", default="default", show_default=True, help="Model name, id or local path.")
@click.option(
    "--tasks",
    "tasks",
    required=True,
    help="Bundled task set name (see `formbound list`), e.g. contacts, or a task set folder.",
)
@click.option(
    "--strategies",
    default="raw,prompted,repaired,reask,constrained",
    show_default=True,
    help="Comma-separated rungs: raw, prompted, repaired, reask[:N], constrained, "
    "adapter:PATH[+constrained].",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for cache and report."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Answer at most N items (seeded choice; default: the whole split).",
)
@click.option("--split", default="test", show_default=True, help="Split to answer: test, train or all.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--max-new-tokens", type=click.IntRange(min=1), default=None, help="Default: the task set's limit."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Prompts per generate call (default: 8; 1 for llama.cpp on CPU).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="formbound's progress bar.")
@verbosity_options
@model_options
def eval_cmd(
    model: str,
    tasks: str,
    strategies: str,
    out: str,
    limit: int | None,
    split: str,
    seed: int,
    max_new_tokens: int | None,
    batch_size: int | None,
    progress: bool,
    quiet: bool,
    verbose: bool,
    base_url: str | None,
    api_key_env: str,
    backend: str | None,
) -> None:
    """Measure strategies of a model on a task set; write OUT/report.{json,md} and charts."""
    configure_logging(quiet, verbose)
    task_set = check_run_flags(tasks, strategies, split)  # before any model loads: a typo costs no time
    from formbound.measure import evaluate
    from formbound.measure.report import markdown

    try:
        report = evaluate(
            load_model(model, base_url, api_key_env, backend),
            task_set,
            strategies,
            split=split,
            limit=limit,
            seed=seed,
            out_dir=out,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            progress=progress and not quiet,
            command=_command_line(),
        )
    except FormboundError as exc:
        raise translate_errors(exc) from exc
    click.echo(markdown(report))
    click.echo(f"report written to {out}/report.md", err=True)


@click.command("report")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--compare",
    "other",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A second report folder to show side by side.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default=None,
    help="With --compare: write compare.md and compare.png here.",
)
@verbosity_options
def report_cmd(folder: str, other: str | None, out: str | None, quiet: bool, verbose: bool) -> None:
    """Re-render FOLDER's report.md and charts from its report.json, or compare two reports."""
    configure_logging(quiet, verbose)
    from formbound.measure import compare, render
    from formbound.measure.report import markdown

    try:
        if other is None:
            report = render(folder)
            click.echo(markdown(report))
        else:
            click.echo(compare(folder, other, out))
    except FormboundError as exc:
        raise translate_errors(exc) from exc

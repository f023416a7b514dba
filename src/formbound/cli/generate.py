"""``formbound generate``: structured answers from a model, one per input line, through a ``Generator``.

Output: one value per line on standard output, in input order. JSON and SQL values are their canonical
text (:attr:`formbound.Result.text`; statements of a multi-statement SQL value joined by ``"; "``). A
YAML value is printed as one line of JSON, which is also YAML 1.2 flow style, so every line parses
with a YAML loader (and with a JSON one); ``formbound check --format yaml`` prints the block form.

An item that fails its spec prints an empty line (line N of the output is still the answer to input
N) and its error on standard error; the command then exits 1 after every item has been answered.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import click

from formbound.cli._common import EXIT_INVALID, configure_logging, translate_errors, verbosity_options
from formbound.cli._model_options import load_model, model_options
from formbound.errors import EnforcementError, FormboundError

__all__ = ["generate_cmd", "one_line"]


@click.command("generate")
@click.option(
    "--model",
    "model",
    default=None,
    help="Model name, id or local path [default: 'default', or the model the --run recorded].",
)
@click.option(
    "--spec",
    "spec_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Spec file: a JSON Schema (.json), a formbound or task-set spec.json, a DDL script (.sql) or a "
    "SQLite db (required unless --run).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml", "sql"]),
    default=None,
    help="Format of the answers (default: from the spec file; json for a bare JSON Schema).",
)
@click.option(
    "--strategy",
    default=None,
    help="Rung of the ladder: auto (constrained where the model can, else reask), raw, prompted, "
    "repaired, reask[:N], constrained, adapter:PATH[+constrained] [default: auto, or the --run's].",
)
@click.option(
    "--run",
    "run",
    default=None,
    type=click.Path(file_okay=False),
    help="Deploy what `formbound escalate --out RUN` recommended: its model, adapter, spec, prompt and "
    "strategy (Generator.from_run).",
)
@click.option("--instruction", default=None, help="What to do with each input, e.g. 'Extract the contact.'")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None, help="Token limit per answer.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Inputs sent to the model together (answers are printed after each batch).",
)
@model_options
@verbosity_options
@click.argument("inputs", nargs=-1)
def generate_cmd(
    model: str | None,
    spec_path: str | None,
    fmt: str | None,
    strategy: str | None,
    run: str | None,
    instruction: str | None,
    max_new_tokens: int | None,
    batch_size: int,
    base_url: str | None,
    api_key_env: str,
    backend: str | None,
    quiet: bool,
    verbose: bool,
    inputs: tuple[str, ...],
) -> None:
    """Answer each INPUT (default: each non-empty line of standard input) with one value per line.

    \b
    Examples:
      formbound generate --spec person.json --strategy constrained "Ada Lovelace, 36"
      cat notes.txt | formbound generate --run runs/contacts > contacts.jsonl
    Exit codes: 0 every item valid, 1 an item failed (error on stderr, the others printed),
    2 a usage error, 3 an internal error.
    """
    configure_logging(quiet, verbose)
    if run is None and spec_path is None:
        raise click.UsageError("give --spec SPEC (or --run DIR, a folder written by `formbound escalate`)")
    if run is not None and (spec_path is not None or fmt is not None or strategy is not None):
        raise click.UsageError("--run sets the spec and the strategy; drop --spec, --format and --strategy")
    options: dict[str, Any] = {}
    if instruction is not None:
        options["instruction"] = instruction
    if max_new_tokens is not None:
        options["max_new_tokens"] = max_new_tokens
    try:
        gen = _generator(model, spec_path, fmt, strategy, run, options, base_url, api_key_env, backend)
    except FormboundError as exc:
        raise translate_errors(exc) from exc
    failed = 0
    for offset, batch in _batches(_inputs(inputs), batch_size):
        try:
            outcomes = gen.batch(batch)
        except FormboundError as exc:
            raise translate_errors(exc) from exc
        for k, outcome in enumerate(outcomes):
            if isinstance(outcome, EnforcementError):
                failed += 1
                click.echo("")
                click.echo(f"item {offset + k + 1}: {_first_lines(str(outcome))}", err=True)
            else:
                click.echo(one_line(outcome))
        sys.stdout.flush()
    if failed:
        raise click.exceptions.Exit(EXIT_INVALID)


def one_line(result: Any) -> str:
    """A result as one line: JSON and SQL as their canonical text, YAML as JSON (YAML 1.2 flow style)."""
    spec = result.spec
    if spec.format == "yaml":
        value = result.value
        if hasattr(value, "model_dump"):
            value = value.model_dump(mode="json", by_alias=True)
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    if spec.format == "sql" and isinstance(result.value, (list, tuple)):
        return "; ".join(spec.dump(v) for v in result.value)
    return str(result.text)


def _generator(
    model: str | None,
    spec_path: str | None,
    fmt: str | None,
    strategy: str | None,
    run: str | None,
    options: dict[str, Any],
    base_url: str | None,
    api_key_env: str,
    backend: str | None,
) -> Any:
    from formbound import Generator
    from formbound.cli.check import load_spec_file
    from formbound.strategies import parse_strategy

    # Flags first: a typo costs no model load.
    spec = load_spec_file(spec_path, format=fmt) if spec_path is not None else None
    if strategy not in (None, "auto", "reask"):
        parse_strategy(strategy)
    loaded = _load(model, base_url, api_key_env, backend) if model is not None or run is None else None
    if run is not None:
        return Generator.from_run(run, model=loaded, **options)
    return Generator(loaded, spec, strategy=strategy or "auto", **options)


def _load(name: str | None, base_url: str | None, api_key_env: str, backend: str | None) -> Any:
    from formbound.models.lazy import LazyModel

    model = load_model(name or "default", base_url, api_key_env, backend)
    # Every call generates, so there is nothing to gain from loading lazily; and "auto" needs to know
    # whether the real model can constrain decoding.
    return model.load() if isinstance(model, LazyModel) else model


def _inputs(args: tuple[str, ...]) -> Iterator[str]:
    if args and args != ("-",):
        yield from args
        return
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        if text.strip():
            yield text


def _batches(items: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    batch: list[str] = []
    offset = 0
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield offset, batch
            offset += size
            batch = []
    if batch:
        yield offset, batch


def _first_lines(text: str, limit: int = 5) -> str:
    lines = text.strip().splitlines()
    more = f" (+{len(lines) - limit} more lines)" if len(lines) > limit else ""
    return " / ".join(line.strip() for line in lines[:limit]) + more

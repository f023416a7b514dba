"""``formbound escalate``: a thin wrapper over :func:`formbound.escalate.escalate`."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from formbound.cli._common import check_run_flags, configure_logging, translate_errors, verbosity_options
from formbound.cli._model_options import load_model, model_options
from formbound.errors import FormboundError

__all__ = ["cpu_training_defaults", "escalate_cmd", "resolve_fast_model"]


def cpu_training_defaults(given: dict[str, Any], *, gpu: bool | None = None) -> dict[str, Any]:
    """The ladder's CPU training defaults that training flags (``given``) leave in place.

    Without a GPU the ladder trains 16 steps of 4 without LoRA dropout
    (:func:`~formbound.escalate.train_config.default_train_config`); ``--max-steps 32`` then means 32
    such steps, not 32 steps of :class:`TrainConfig`'s batch of 8. ``--epochs`` replaces the step count.
    On a GPU nothing is kept (the ladder sizes its default from the dataset, which flags replace).

    >>> cpu_training_defaults({"max_steps": 32}, gpu=False)
    {'batch_size': 4, 'lora_dropout': 0.0}
    >>> cpu_training_defaults({"epochs": 2.0}, gpu=False)
    {'batch_size': 4, 'lora_dropout': 0.0}
    >>> cpu_training_defaults({"learning_rate": 0.002}, gpu=False)["max_steps"]
    16
    >>> cpu_training_defaults({"max_steps": 32}, gpu=True)
    {}
    """
    from formbound.escalate.train_config import cuda_available, default_train_config

    if cuda_available() if gpu is None else gpu:
        return {}
    default = default_train_config(gpu=False)
    kept: dict[str, Any] = {"batch_size": default.batch_size, "lora_dropout": default.lora_dropout}
    if "max_steps" not in given and "epochs" not in given:
        kept["max_steps"] = default.max_steps
    return {k: v for k, v in kept.items() if k not in given}


def resolve_fast_model(option: str, model: str) -> str | None:
    """The cheap rungs' model name for ``--fast-model`` (``None``: measure them with ``--model``).

    ``auto`` picks ``llamacpp:default`` (the same GGUF through llama.cpp, several times faster per
    token on CPU) when ``--model`` is ``default`` and llama-cpp-python is importable.
    """
    if option == "none":
        return None
    if option != "auto":
        return option
    if model != "default":
        return None
    import importlib.util

    return "llamacpp:default" if importlib.util.find_spec("llama_cpp") is not None else None


@click.command("escalate")
@click.option("--model", "model", default="default", show_default=True, help="Model name, id or local path.")
@click.option(
    "--tasks",
    "tasks",
    default=None,
    help="Bundled task set name (see `formbound list`), e.g. contacts, or a task set folder "
    "(required unless --rebase).",
)
@click.option(
    "--target",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.98,
    show_default=True,
    help="Schema validity to reach on the test split.",
)
@click.option(
    "--accuracy-target",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Field accuracy a cheap rung must also reach to stop the ladder (default: validity alone).",
)
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder for reports, dataset, adapter and decision (required unless --rebase).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Measure at most N test items (default: the whole test split).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Significance level of the paired tests [default: 0.05, or the run's with --rebase].",
)
@click.option(
    "--rebase",
    "rebase_model",
    default=None,
    help="Re-measure the run given by --run on this new base model: is its adapter still needed?",
)
@click.option(
    "--run",
    "run",
    default=None,
    type=click.Path(file_okay=False),
    help="With --rebase: the folder of a finished escalate run.",
)
@click.option(
    "--learning-curve/--no-learning-curve",
    default=None,
    help="Also train on 25%/50% of the data and say whether more data would help [default: on a GPU].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force-train", is_flag=True, help="Train an adapter even when the ladder would stop earlier.")
@click.option(
    "--strategies",
    default="raw,prompted,repaired,reask,constrained",
    show_default=True,
    help="Cheap rungs to measure, cheapest first.",
)
@click.option(
    "--augment",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="Template-substituted train inputs to add to the dataset.",
)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None, help="Training epochs.")
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="Training steps (overrides epochs)."
)
@click.option("--lr", "learning_rate", type=float, default=None, help="Peak learning rate.")
@click.option("--rank", type=click.IntRange(min=1), default=None, help="LoRA rank.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Examples per optimizer step.")
@click.option(
    "--lora-dropout",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=None,
    help="Dropout on the LoRA input. Training flags change the ladder's default settings (on CPU: 16 "
    "steps of 4 without dropout; on a GPU: one pass over the data, batch 8, dropout 0.05), and only "
    "what they name.",
)
@click.option(
    "--teacher",
    default=None,
    metavar="MODEL",
    help="A stronger model that labels train and --inputs inputs for the dataset (scored on gold first).",
)
@click.option(
    "--inputs",
    "inputs_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help='Unlabelled inputs for --teacher: JSONL, one {"input": ...} object or string per line.',
)
@click.option(
    "--fast-model",
    default="auto",
    show_default=True,
    help="Model for the cheap rungs, and for the adapter rungs when it can load LoRA adapters "
    "(llama.cpp: the adapter is converted to a LoRA GGUF), e.g. llamacpp:default; 'none' measures them "
    "with --model. auto: llamacpp:default when --model is default and llama-cpp-python is installed.",
)
@click.option("--on-regression", type=click.Choice(["reject", "flag"]), default="reject", show_default=True)
@verbosity_options
@model_options
def escalate_cmd(
    model: str,
    tasks: str | None,
    target: float,
    accuracy_target: float | None,
    out: str | None,
    limit: int | None,
    alpha: float | None,
    rebase_model: str | None,
    run: str | None,
    learning_curve: bool | None,
    seed: int,
    force_train: bool,
    strategies: str,
    augment: int,
    epochs: float | None,
    max_steps: int | None,
    learning_rate: float | None,
    rank: int | None,
    batch_size: int | None,
    lora_dropout: float | None,
    fast_model: str,
    on_regression: str,
    teacher: str | None,
    inputs_file: str | None,
    quiet: bool,
    verbose: bool,
    base_url: str | None,
    api_key_env: str,
    backend: str | None,
) -> None:
    """Measure the cheap rungs; train, measure and judge a LoRA adapter when they fall short.

    Writes OUT/decision.md and OUT/decision.json and prints the decision. With --rebase MODEL --run
    RUN: measures RUN's task set on MODEL, retrains the adapter on RUN's dataset, and says whether it
    is still needed (written to RUN/rebase/MODEL unless --out is given).
    """
    configure_logging(quiet, verbose)
    from formbound.escalate import DataSources, TrainConfig, escalate, rebase
    from formbound.escalate.sources import read_inputs

    if rebase_model is None and (tasks is None or out is None):
        raise click.UsageError("--tasks and --out are required (unless --rebase MODEL --run RUN)")
    if inputs_file is not None and teacher is None:
        raise click.UsageError("--inputs needs --teacher MODEL: a model to label them")
    if rebase_model is not None and run is None:
        raise click.UsageError("--rebase needs --run: the folder of the escalate run to re-measure")
    # before any model loads: a typo costs no time (the ladder measures the test split)
    task_set = check_run_flags(tasks, strategies, "test") if tasks is not None else None

    overrides: dict[str, Any] = {
        "epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "r": rank,
        "batch_size": batch_size,
        "lora_dropout": lora_dropout,
    }
    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        config = TrainConfig(seed=seed, **{**cpu_training_defaults(given), **given}) if given else None
        if config is not None and rank is not None:
            config.lora_alpha = 2 * rank
        if rebase_model is not None:
            decision = rebase(
                load_model(rebase_model, base_url, api_key_env, backend),
                str(run),
                out_dir=out,
                tasks=tasks,
                train_config=config,
                alpha=alpha,
                command=shlex.join(["formbound", *sys.argv[1:]]),
            )
            click.echo(decision.summary())
            return
        data = None
        if teacher is not None:
            inputs = read_inputs(inputs_file) if inputs_file is not None else []
            data = DataSources(teacher=load_model(teacher, base_url, api_key_env, backend), inputs=inputs)
        fast = resolve_fast_model(fast_model, model)
        decision = escalate(
            load_model(model, base_url, api_key_env, backend),
            task_set,
            target=target,
            accuracy_target=accuracy_target,
            out_dir=str(out),
            force_train=force_train,
            limit=limit,
            seed=seed,
            strategies=[s.strip() for s in strategies.split(",") if s.strip()],
            train_config=config,
            augment=augment,
            on_regression=on_regression,
            alpha=0.05 if alpha is None else alpha,
            learning_curve=learning_curve,
            data=data,
            command=shlex.join(["formbound", *sys.argv[1:]]),
            fast_model=None if fast is None else load_model(fast, None, api_key_env, backend),
        )
    except FormboundError as exc:
        raise translate_errors(exc) from exc
    click.echo(decision.summary())
    click.echo(f"decision written to {out}/decision.md", err=True)

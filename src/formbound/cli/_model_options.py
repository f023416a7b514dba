"""Options shared by the commands that load a model (``eval``, ``escalate``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from formbound.errors import ConfigError


def model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--base-url``, ``--api-key-env`` and ``--backend`` to a command."""
    fn = click.option(
        "--backend",
        default=None,
        help="Grammar backend for in-process constrained decoding: llguidance (default), outlines_core, "
        "xgrammar.",
    )(fn)
    fn = click.option(
        "--api-key-env",
        default="OPENAI_API_KEY",
        show_default=True,
        help="Environment variable holding the API key of an openai: model (never pass keys as arguments).",
    )(fn)
    fn = click.option(
        "--base-url",
        default=None,
        help="Server URL for an openai:MODEL model, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp).",
    )(fn)
    return fn


def load_model(name: str, base_url: str | None, api_key_env: str, backend: str | None) -> Any:
    """The model for ``--model NAME`` and the shared options.

    A local model comes back lazy (:class:`formbound.models.LazyModel`): its weights load only when an
    answer must be generated, so a rerun that finds everything cached never loads them.
    """
    from formbound.models import load

    options: dict[str, Any] = {}
    if name.startswith("openai:"):
        if base_url is not None:
            options["base_url"] = base_url
        key = os.environ.get(api_key_env)
        if key:
            options["api_key"] = key
    elif base_url is not None:
        raise ConfigError(f"--base-url applies to openai:MODEL models, not to {name!r}")
    if backend is not None:
        if name.startswith("openai:"):
            raise ConfigError("--backend applies to in-process models; a server uses its own")
        options["backend"] = backend
    return load(name, lazy=True, **options)

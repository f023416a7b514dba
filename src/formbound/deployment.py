"""The ``"deploy"`` record of a run folder: what :meth:`formbound.Generator.from_run` reads back.

``formbound escalate`` writes it into ``decision.json``; the spec and the prompt are stored whole, and files
(the adapter, a spec's schema or database) are named relative to the run folder, so a copied run folder
still works.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formbound.errors import ConfigError
from formbound.spec import Spec
from formbound.strategies import parse_strategy

__all__ = ["DEPLOY_FILE", "deploy_record", "read_deploy"]

#: The file of a run folder that :meth:`Generator.from_run` reads.
DEPLOY_FILE = "decision.json"


def read_deploy(run_dir: str | os.PathLike[str]) -> tuple[Any, Spec, dict[str, Any]]:
    """``(model, spec, Generator options)`` recorded in ``run_dir``'s ``decision.json``.

    Raises:
        ConfigError: the folder has no decision, or what it names cannot be found.
    """
    root = Path(run_dir)
    path = root / DEPLOY_FILE
    if not path.is_file():
        raise ConfigError(f"{str(root)!r} has no {DEPLOY_FILE}: run `formbound escalate --out {root}` first")
    try:
        decision = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    deploy = decision.get("deploy") if isinstance(decision, dict) else None
    if not isinstance(deploy, dict) or not isinstance(deploy.get("spec"), dict):
        raise ConfigError(
            f"{str(path)!r} has no 'deploy' record (escalate writes it since 0.2); rerun escalate"
        )
    spec = Spec.from_dict(deploy["spec"], base_dir=root)
    strategy = str(deploy.get("strategy") or "")
    adapter = deploy.get("adapter")
    if adapter:
        folder = _relative(root, adapter)
        if not folder.is_dir():
            raise ConfigError(f"the recommended adapter {str(folder)!r} does not exist")
        strategy = f"adapter:{folder}" + ("+constrained" if deploy.get("constrained") else "")
    examples = [(str(i), str(o)) for i, o in deploy.get("examples") or []]
    options: dict[str, Any] = {
        "strategy": parse_strategy(strategy),
        "instruction": deploy.get("instruction"),
        "examples": examples,
        "max_new_tokens": deploy.get("max_new_tokens"),
        "seed": deploy.get("seed"),
    }
    return _serving_model(deploy, path), spec, options


def _serving_model(deploy: dict[str, Any], path: Path) -> Any:
    """The engine the recommended strategy was measured on when it loads here, else the model."""
    model = deploy.get("model", "default")
    engine = deploy.get("engine")
    if not isinstance(engine, str) or not engine:
        return model
    if not engine.startswith("llamacpp:") or importlib.util.find_spec("llama_cpp") is not None:
        return engine
    warnings.warn(
        f"{str(path)!r}: the recommended strategy was measured on {engine!r}, and llama-cpp-python is not "
        f"installed here (pip install 'formbound[llamacpp]'); serving it on {model!r} instead: the same "
        "weights, with another engine's numerics, so its answers can differ from the measured ones",
        stacklevel=3,
    )
    return model


def deploy_record(
    run_dir: Path,
    *,
    model: str,
    spec: Spec,
    strategy: str,
    adapter: Path | None = None,
    constrained: bool = False,
    instruction: str | None = None,
    examples: Sequence[tuple[str, str]] = (),
    seed: int | None = None,
    max_new_tokens: int | None = None,
    task_set: Path | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """What :meth:`Generator.from_run` needs, stored in ``decision.json`` under ``"deploy"``.

    The spec and the prompt are stored whole; files (the adapter, a spec's schema or database) are named
    relative to ``run_dir`` where possible. ``engine`` names the model the recommended strategy was
    measured on when that is not ``model`` (``"llamacpp:default"``: the same weights through llama.cpp).
    """
    description = _portable_spec(run_dir, spec.describe())
    return {
        "model": model,
        "spec": description,
        "strategy": strategy,
        "adapter": _portable(run_dir, adapter) if adapter is not None else None,
        "constrained": constrained,
        "instruction": instruction,
        "examples": [list(pair) for pair in examples],
        "seed": seed,
        "max_new_tokens": max_new_tokens,
        "task_set": _portable(run_dir, task_set) if task_set is not None else None,
        "engine": engine,
    }


def _portable_spec(run_dir: Path, description: dict[str, Any]) -> dict[str, Any]:
    out = dict(description)
    for key in ("database",):
        value = out.get(key)
        if isinstance(value, str) and value and Path(value).exists():
            out[key] = _portable(run_dir, Path(value))
    return out


def _portable(root: Path, path: Path) -> str:
    try:
        return os.path.relpath(Path(path).resolve(), Path(root).resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())


def _relative(root: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"decision in {str(root)!r} names no path where one is needed")
    path = Path(value)
    if not path.is_absolute():
        path = root / path
    return path

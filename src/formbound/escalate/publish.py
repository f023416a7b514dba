"""The adapter folder: its metadata, the staging folder it is written to, the rename that publishes it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound.errors import ConfigError

__all__ = ["METADATA_FILE", "publish", "read_metadata", "read_run_file", "work_dir", "write_run_file"]

METADATA_FILE = "metadata.json"
#: In the work folder: what the checkpoints there were made with (compared before resuming).
RUN_FILE = "run.json"


def work_dir(out: str | os.PathLike[str]) -> Path:
    """The folder of checkpoints and of the adapter being written: ``<out>.partial`` next to ``out``."""
    path = Path(out)
    return path.with_name(path.name + ".partial")


def read_metadata(adapter_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metadata.json`` of an adapter folder."""
    p = Path(adapter_path) / METADATA_FILE
    if not p.is_file():
        raise ConfigError(
            f"{str(adapter_path)!r} has no {METADATA_FILE}; is it an adapter trained by formbound?"
        )
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def write_run_file(work: Path, fingerprint: dict[str, Any]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(work / RUN_FILE, json.dumps(fingerprint, sort_keys=True) + "\n")


def read_run_file(work: Path) -> dict[str, Any] | None:
    p = work / RUN_FILE
    if not p.is_file():
        return None
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def publish(
    model: Any,
    work: Path,
    out: Path,
    metadata: dict[str, Any],
    *,
    state_dict: dict[str, Any] | None = None,
    keep_work: bool = False,
) -> None:
    """Write the adapter into ``work/final``, then rename it to ``out`` in one step (main process only).

    Args:
        model: The (unwrapped) ``peft.PeftModel``.
        work: The work folder (see :func:`work_dir`).
        out: The adapter folder to create; an existing one is replaced.
        metadata: The content of ``metadata.json``.
        state_dict: The model's full state dict, gathered from every process when the weights are
            sharded (FSDP); ``None`` reads the weights from ``model`` itself.
        keep_work: Keep the checkpoints in ``work`` afterwards.
    """
    final = work / "final"
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    model.save_pretrained(str(final), state_dict=state_dict)
    write_atomic(final / METADATA_FILE, json.dumps(metadata, indent=2, default=str) + "\n")
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(final, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)

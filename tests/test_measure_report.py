"""Report files (json, md, charts), re-rendering, comparison, and the `formbound eval`/`report` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _measure_fakes import FakeModel, write_task_set
from formbound.cli import main
from formbound.errors import ConfigError
from formbound.measure import compare, evaluate, load_report, render

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    evaluate(
        FakeModel(),
        write_task_set(tmp_path / "people"),
        "raw,repaired,constrained",
        out_dir=out,
        progress=False,
        command="formbound eval --tasks people",
    )
    return out


def test_report_files(run_dir: Path) -> None:
    data = json.loads((run_dir / "report.json").read_text())
    assert data["strategies"] == ["raw", "repaired", "constrained"]
    meta = data["meta"]
    assert meta["seed"] == 0 and meta["split"] == "test" and meta["items"] == 4
    assert meta["model"] == {"name": "fake", "source": "test"}
    assert meta["task_set"]["name"] == "people"
    assert {"formbound", "torch", "transformers", "outlines"} <= set(meta["versions"])
    assert meta["command"] == "formbound eval --tasks people"
    raw = data["metrics"]["raw"]
    assert raw["schema_valid"]["k"] == 2 and raw["schema_valid"]["n"] == 4
    assert 0 <= raw["schema_valid"]["low"] <= 0.5 <= raw["schema_valid"]["high"] <= 1
    md = (run_dir / "report.md").read_text()
    assert "| `raw` | 4 | 50% [" in md
    assert "| `raw` | syntax | json_syntax | 1 | p-05 |" in md  # taxonomy row with its first example
    assert "| `raw` | syntax | truncated | 1 | p-06 |" in md  # cut off by the token limit: its own kind
    assert "| `/age` |" in md  # per-field table
    for chart in ("validity.png", "latency.png"):
        assert (run_dir / chart).read_bytes().startswith(PNG)
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temp files left
    assert (run_dir / "report.md").stat().st_mode & 0o044  # readable by others, unlike a bare mkstemp file


def test_render_rebuilds_from_report_json(run_dir: Path) -> None:
    (run_dir / "report.md").unlink()
    (run_dir / "validity.png").unlink()
    report = render(run_dir)
    assert (run_dir / "report.md").exists() and (run_dir / "validity.png").exists()
    assert report.metrics["constrained"].schema_valid.k == 4
    assert load_report(run_dir).to_dict() == json.loads((run_dir / "report.json").read_text())


def test_compare_side_by_side(run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    evaluate(FakeModel(), tmp_path / "people", "raw,reask", out_dir=other, progress=False)
    text = compare(run_dir, other, tmp_path / "cmp")
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert set(lines) == {"`raw`", "`repaired`", "`constrained`", "`reask`"}
    assert "| +0 |" in lines["`raw`"]  # same strategy, same answers
    assert (tmp_path / "cmp" / "compare.md").read_text() == text
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(PNG)


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no report\.json"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a formbound report"):
        load_report(tmp_path)


def test_cli_eval_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import formbound.models

    monkeypatch.setattr(formbound.models, "load", lambda name, **_: FakeModel())
    tasks = write_task_set(tmp_path / "people")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "eval",
            "--model",
            "fake",
            "--tasks",
            str(tasks),
            "--strategies",
            "raw,constrained",
            "--out",
            str(out),
            "--limit",
            "3",
            "--seed",
            "1",
            "--max-new-tokens",
            "16",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| `constrained` | 3 |" in result.stdout
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert (meta["items"], meta["seed"], meta["max_new_tokens"], meta["limit"]) == (3, 1, 16, 3)
    assert meta["command"].startswith("formbound ")

    result = runner.invoke(main, ["report", str(out)])
    assert result.exit_code == 0 and "| `raw` | 3 |" in result.stdout
    result = runner.invoke(main, ["report", str(out), "--compare", str(out)])
    assert result.exit_code == 0 and "# Comparison" in result.stdout


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    tasks = write_task_set(tmp_path / "people")
    result = CliRunner().invoke(
        main, ["eval", "--tasks", str(tasks), "--strategies", "raw,promted", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "did you mean 'prompted'" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "no report.json" in result.output

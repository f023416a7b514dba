"""Charts: no pyplot (the user's backend is untouched), every bar labelled, zero bars marked, the legend
below the plot, and reports without matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _measure_fakes import FakeModel, write_task_set
from formbound.measure import charts, evaluate
from formbound.measure.metrics import Rate


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tasks = write_task_set(tmp_path_factory.mktemp("c") / "people")
    rep = evaluate(FakeModel(), tasks, "raw,prompted,constrained")
    rep.metrics["raw"].schema_valid = Rate(0, 4)  # a bar at 0 %
    return rep


def test_every_bar_is_labelled_and_a_zero_bar_is_marked(report: Any) -> None:
    fig = charts.validity_figure([("", report)])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == len(ax.patches)  # one value label per bar
    assert "0%" in labels
    zero_markers = [line for line in ax.lines if line.get_marker() == "^"]
    assert len(zero_markers) == 1 and list(zero_markers[0].get_ydata()) == [0.0]


def test_the_legend_covers_no_bar(report: Any) -> None:
    for fig in (
        charts.validity_figure([("A", report), ("B", report)]),
        charts.latency_figure([("", report)]),
    ):
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        plot = ax.get_window_extent()
        assert legend.y1 <= plot.y0  # entirely below the plotting area


def test_drawing_never_touches_pyplot_or_the_backend(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); sys.path.insert(0, 'tests');"
        "from _measure_fakes import FakeModel, write_task_set;"
        "from formbound.measure import evaluate; from pathlib import Path;"
        f"t = write_task_set(Path({str(tmp_path)!r}) / 'p');"
        f"evaluate(FakeModel(), t, 'raw', out_dir=Path({str(tmp_path)!r}) / 'o');"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend();"
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "validity.png").read_bytes().startswith(b"\x89PNG")


def test_reports_are_written_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert not charts.available()
    tasks = write_task_set(tmp_path / "people")
    out = tmp_path / "out"
    rep = evaluate(FakeModel(), tasks, "raw", out_dir=out)
    assert rep.metrics["raw"].schema_valid.n == 4
    assert sorted(p.name for p in out.iterdir()) == ["generations.jsonl", "report.json", "report.md"]
    assert "without charts" in caplog.text

"""Every benchmark script still starts: ``python bench/X.py --help`` exits 0 with its usage text.

The benchmarks are not run by the suite (they take minutes), so an API change in the package can leave
them broken unnoticed; ``--help`` imports each script's module-level dependencies (``_common``, formbound)
and builds its argument parser without doing any heavy work. A module with no command line at all (no
``argparse``, no ``sys.argv``, no ``__main__`` block, e.g. ``_common.py``) is executed with ``runpy`` under
another ``run_name`` instead, which checks its imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SRC = BENCH.parent / "src"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))

#: Scripts with a command line but no ``--help`` yet: name -> why. xfail(strict), so fixing one fails
#: here until it is taken off the list.
NO_HELP: dict[str, str] = {}
CASES = [
    pytest.param(n, marks=pytest.mark.xfail(reason=NO_HELP[n], strict=True)) if n in NO_HELP else n
    for n in SCRIPTS
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _has_cli(source: str) -> bool:
    return "argparse" in source or "sys.argv" in source or '__name__ == "__main__"' in source


def test_scripts_found() -> None:
    assert "bench_train.py" in SCRIPTS and "_common.py" in SCRIPTS
    assert set(NO_HELP) <= set(SCRIPTS), "NO_HELP names a script that is gone"


def _command(name: str) -> list[str]:
    path = BENCH / name
    if _has_cli(path.read_text(encoding="utf-8")):
        return [sys.executable, str(path), "--help"]
    check = f"import runpy; runpy.run_path({str(path)!r}, run_name='bench_import_check')"
    return [sys.executable, "-c", check]


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[int, str, str]]:
    """(exit code, stdout, stderr) of every script's check, all started at once (they mostly import)."""
    procs = {
        name: subprocess.Popen(
            _command(name), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=BENCH
        )
        for name in SCRIPTS
    }
    out: dict[str, tuple[int, str, str]] = {}
    for name, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += "\n(timed out after 60 s)"
        out[name] = (proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("name", CASES)
def test_script_starts(name: str, runs: dict[str, tuple[int, str, str]]) -> None:
    code, stdout, stderr = runs[name]
    assert code == 0, stderr[-2000:]
    if _command(name)[-1] == "--help":
        assert f"usage: {name}" in stdout, stdout[:500]

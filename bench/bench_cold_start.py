"""Cold start of ``formbound check`` on a 10-byte JSON file, as a ratio to ``import jsonschema``.

Each command runs in a fresh interpreter (a subprocess), the three commands interleaved so that a load
spike hits all of them alike; figures are medians of N runs. Baselines measured in the same run:
  * ``python -c pass`` (the interpreter alone);
  * ``python -c "import jsonschema"`` (the validator formbound builds on).
The ratio check / import-jsonschema is what formbound adds on top of its validator; the absolute
figures depend on the machine and its load (printed).

Rerun: python bench/bench_cold_start.py [N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, table


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="cold start of `formbound check` vs `import jsonschema`")
    parser.add_argument("runs", nargs="?", type=int, default=15, help="runs of each command (default 15)")
    runs = parser.parse_args().runs
    folder = Path(tempfile.mkdtemp())
    (folder / "schema.json").write_text('{"type": "object"}', encoding="utf-8")
    (folder / "value.json").write_text('{"ab": 1}\n', encoding="utf-8")  # 10 bytes
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import jsonschema'": [py, "-c", "import jsonschema"],
        "formbound check (10-byte file)": [
            py, "-c", "from formbound.cli import main; main()",
            "check", "--spec", str(folder / "schema.json"), str(folder / "value.json"),
        ],
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():  # warm the file cache once
        _time(cmd, env)
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(_time(cmd, env))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["python -c 'import jsonschema'"]
    print(machine(["jsonschema", "regex"]))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; {runs} runs each, medians")
    print(table(["command", "median s", "vs import jsonschema"],
                [[name, f"{m:.3f}", f"{m / base:.2f}x"] for name, m in med.items()]))  # fmt: skip
    print(f"\nformbound check / import jsonschema: {med['formbound check (10-byte file)'] / base:.2f}x")
    print("rerun: python bench/bench_cold_start.py", runs)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# A new user's first minutes, on a clean environment: build the wheel, install it (core dependencies
# only, from PyPI; no torch) into a new venv, and from a folder outside the checkout run `formbound list`,
# `formbound check` on a bundled task set's spec and gold answer, and the README's check-and-repair snippet,
# whose output must match the README. Finishes in well under 2 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-python3}
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

# Building needs only setuptools; reuse the caller's when it has one (an isolated build downloads it).
ISOLATION=()
if "$PY" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null; then
  ISOLATION=(--no-build-isolation)
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip wheel -q --no-deps "${ISOLATION[@]}" -w "$WORK/dist" "$ROOT"
echo "wheel built ($(( $(date +%s) - start )) s)"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$WORK"/dist/formbound-*.whl
echo "wheel and core dependencies installed ($(( $(date +%s) - start )) s)"

cd "$WORK"  # nothing of the checkout on the path from here on
export PYTHONPATH=
FB="$WORK/venv/bin/formbound"
VPY="$WORK/venv/bin/python"

"$VPY" - <<'PY'
import formbound, pathlib, sys
where = pathlib.Path(formbound.__file__).resolve()
assert "site-packages" in where.parts, f"formbound imported from {where}, not from the wheel"
for mod in ("torch", "transformers"):
    assert mod not in sys.modules, f"{mod} imported by formbound's core"
PY

"$FB" list | tee "$WORK/list.txt"
for name in contacts events products service_config shop_sql; do
  grep -q "^  $name\$" "$WORK/list.txt" || { echo "bundled task set $name missing from the wheel"; exit 1; }
done

SPEC="$("$VPY" -c 'from formbound.measure.tasks import BUNDLED_DIR; print(BUNDLED_DIR / "contacts" / "spec.json")')"
GOLD="$("$VPY" -c 'import json; from formbound.measure import load_task_set; print(json.dumps(load_task_set("contacts").tasks[0].gold))')"
echo "$GOLD" | "$FB" check --spec "$SPEC"
set +e
echo '{"name": 1}' | "$FB" check --spec "$SPEC" >/dev/null 2>&1; invalid=$?
"$FB" eval --tasks contactz --out "$WORK/x" >/dev/null 2>&1; usage=$?
set -e
[ "$invalid" = 1 ] || { echo "check of an invalid answer exited $invalid, expected 1"; exit 1; }
[ "$usage" = 2 ] || { echo "eval with a misspelt task set exited $usage, expected 2"; exit 1; }

# The README's check-and-repair snippet (the core install's first example; the Quick start needs the model
# and is run by tests/test_generate_real.py) and the output it claims.
"$VPY" - "$ROOT/README.md" <<'PY'
import re, subprocess, sys
readme = open(sys.argv[1], encoding="utf-8").read()
readme = readme[readme.index("## Check and repair") :]
code = re.search(r"```python\n(.*?\n)```\n", readme, re.S).group(1)
claimed = re.search(r"prints \(copied from a run\):\n\n```\n(.*?)```", readme, re.S).group(1)
done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
if done.returncode:
    sys.exit(f"README snippet failed:\n{done.stderr}")
out = done.stdout
if out != claimed:
    sys.exit(f"README snippet printed:\n{out}\nREADME claims:\n{claimed}")
print("README's check-and-repair snippet prints what the README says")
PY
echo "fresh install check passed in $(( $(date +%s) - start )) s"

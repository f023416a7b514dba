#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, unit tests with tiny models, and the few
# real-model tests on the embedded default model (marked real_model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests bench train
ruff format --check src tests bench train
mypy
python -m pytest -q --doctest-modules src/formbound tests "$@"

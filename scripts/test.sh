#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, unit tests with tiny models, and the few
# real-model tests on the embedded default model (marked real_model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# The real-server tests start llama-cpp-python's OpenAI-compatible server on 127.0.0.1; it builds from
# source (several minutes the first time; pip caches the wheel afterwards).
python -m pip install -q 'llama-cpp-python[server]>=0.3'
ruff check src tests bench train
ruff format --check src tests bench train
mypy
python -m pytest -q --doctest-modules src/formbound tests "$@"
# A new user's first minutes: the wheel in a clean venv, core dependencies only (< 2 min).
bash scripts/fresh_install_check.sh

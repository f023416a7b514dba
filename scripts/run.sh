#!/usr/bin/env bash
# Set up, then run the main job: the measure-and-escalate ladder on the embedded default model
# (SmolLM2-135M-Instruct) and the bundled JSON task set contacts (its whole test split, validity
# target 98 %, field-accuracy target 90 %, judged by interval lower bounds and paired tests). Prints
# the decision report, with its tests and p-values;
# everything is written to runs/contacts/ (re-running resumes from what is cached there).
set -euo pipefail
cd "$(dirname "$0")/.."
# llama.cpp measures the cheap rungs several times faster than transformers (--fast-model auto)
FORMBOUND_LLAMACPP=${FORMBOUND_LLAMACPP:-1} bash scripts/setup.sh
. .venv/bin/activate
formbound escalate --model default --tasks contacts --target 0.98 --accuracy-target 0.9 --out runs/contacts "$@"

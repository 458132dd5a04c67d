#!/usr/bin/env bash
# Set everything up on a fresh machine and run the checks: ruff + the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[dev]"
ruff check .
python -m pytest -q "$@"

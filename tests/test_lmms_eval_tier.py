"""judgekit inside lmms-eval 0.7.3's ``llm_judge`` (``API_TYPE=judgekit``), in the lmms tier's own venv:

    .venv-lmms/bin/python -m pytest -q -m lmms tests/test_lmms_eval_tier.py

The task code is lmms-eval's own, unmodified: each test imports the task module from the installed
``lmms_eval`` package (``lmms_eval/tasks/k12/utils.py``: ``k12_process_results``, which calls
``server.evaluate_binary``; ``lmms_eval/tasks/mathvista/mathvista_evals.py``:
``MathVistaEvaluator.get_chat_response``, which calls ``server.evaluate(Request)`` with a per-request
``ServerConfig``). Both modules call ``get_server(API_TYPE)`` when imported. The judge is the local FakeLLMServer.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from loguru import logger

from judgekit.errors import ProviderConnectionError
from judgekit.testing import FakeLLMServer

pytestmark = pytest.mark.lmms

K12 = "lmms_eval.tasks.k12.utils"
MATHVISTA = "lmms_eval.tasks.mathvista.mathvista_evals"
MODEL = "gpt-4o-2024-11-20"

DOCS = [
    {"question": "What is 6 x 7?", "answer": "42"},
    {"question": "Name the largest planet.", "answer": "Jupiter"},
    {"question": "Solve x + 3 = 5.", "answer": "x = 2"},
    {"question": "What is the boiling point of water at sea level in C?", "answer": "100"},
]
PREDICTIONS = ["42", "Saturn", "x = 2", "90 degrees"]
REPLIES = ["1", "0", "[1]", "Answer: 0"]  # well-formed verdicts, each read the same by both providers


@pytest.fixture
def errors_logged() -> Iterator[list[str]]:
    """What lmms-eval's task code logs at ERROR (it logs with loguru as ``eval_logger``)."""
    import lmms_eval.llm_judge.launcher
    import lmms_eval.models  # noqa: F401  (these two reset loguru's handlers when first imported)

    lines: list[str] = []
    handler = logger.add(lambda message: lines.append(message.record["message"]), level="ERROR")
    yield lines
    logger.remove(handler)


def task_module(name: str, api_type: str, url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The task module imported afresh under ``API_TYPE=api_type`` (it calls ``get_server`` at import)."""
    monkeypatch.setenv("API_TYPE", api_type)
    monkeypatch.setenv("JUDGEKIT_API_TYPE", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-lmms-test")
    monkeypatch.setenv("OPENAI_API_URL", url)  # lmms-eval's openai provider takes it as the base URL
    monkeypatch.setenv("MODEL_VERSION", MODEL)
    import judgekit.integrations.lmms_eval  # noqa: F401  (registers API_TYPE=judgekit; one import)

    sys.modules.pop(name, None)
    return importlib.import_module(name)


def k12_scores(module: ModuleType) -> list[int]:
    pairs = zip(DOCS, PREDICTIONS, strict=True)
    return [module.k12_process_results(doc, [pred])["llm_as_judge_eval"] for doc, pred in pairs]


def test_k12_gives_the_same_scores_as_lmms_evals_openai_provider(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmms_eval.models.model_utils.usage_metrics import get_running_totals, reset_usage_metrics

    sent: dict[str, list[dict]] = {}
    scores: dict[str, list[int]] = {}
    usage: dict[str, dict] = {}
    for api_type in ("openai", "judgekit"):
        server.reset()
        server.enqueue(*REPLIES)
        reset_usage_metrics()
        module = task_module(K12, api_type, server.base_url, monkeypatch)
        assert type(module.server).__name__ == ("JudgekitProvider" if api_type == "judgekit" else "OpenAIProvider")
        scores[api_type] = k12_scores(module)
        sent[api_type] = [r.json for r in server.requests]
        usage[api_type] = get_running_totals()
    assert scores["judgekit"] == scores["openai"] == [1, 0, 1, 0]
    assert usage["judgekit"] == usage["openai"] and usage["judgekit"]["n_api_calls"] == 4  # lmms-eval's accounting
    # the same prompts, model and sampling reached the server
    for ours, theirs in zip(sent["judgekit"], sent["openai"], strict=True):
        assert ours["messages"] == theirs["messages"]
        assert (ours["model"], ours["temperature"], ours["max_tokens"]) == (MODEL, 0.0, 1024)
        assert (theirs["model"], theirs["temperature"], theirs["max_tokens"]) == (MODEL, 0.0, 1024)


def test_an_unreadable_verdict_is_a_logged_failure_not_a_hidden_1(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, errors_logged: list[str]
) -> None:
    reply = "The prediction says 10 and the answer is 12."  # no verdict; lmms-eval's parser sees a "1" in it
    doc = {"question": "What is 3 x 4?", "answer": "12"}
    results = {}
    for api_type in ("openai", "judgekit"):
        server.enqueue(reply)
        results[api_type] = task_module(K12, api_type, server.base_url, monkeypatch).k12_process_results(doc, ["10"])
    assert results["openai"] == {"llm_as_judge_eval": 1}  # lmms-eval's own provider: counted correct, silently
    assert results["judgekit"] == {"llm_as_judge_eval": 0}  # the task's value for a failed judgement ...
    assert any("Judge evaluation failed" in line for line in errors_logged)  # ... which the task logs


def test_a_dead_server_is_judgekits_failure_in_the_task_log(
    monkeypatch: pytest.MonkeyPatch, errors_logged: list[str]
) -> None:
    with FakeLLMServer() as dead:
        url = dead.base_url
    module = task_module(MATHVISTA, "judgekit", url, monkeypatch)
    evaluator = module.MathVistaEvaluator()
    # the task's own loop: `patience` calls, each with its per-request ServerConfig(num_retries=patience, retry_delay=0)
    assert evaluator.get_chat_response("Extract the answer: 42", patience=2) == ""
    # one per call of the task's loop, each judgekit's reason: the first call's connection failures, then the
    # endpoint circuit's "cannot reach" once it has given the endpoint up (docs/performance.md, fail fast) ...
    failures = [line for line in errors_logged if f"openai/{MODEL}: " in line]
    assert len(failures) == 2, errors_logged
    assert f"openai/{MODEL}: connection failed" in failures[0]
    assert f"openai/{MODEL}: cannot reach {url}" in failures[1]
    assert all("after 2 attempts" in line for line in failures)  # ... after ServerConfig.num_retries=2 attempts
    with pytest.raises(ProviderConnectionError, match="cannot reach"):  # the circuit is open: at once, not retried
        from lmms_eval.llm_judge import Request, ServerConfig

        config = ServerConfig(model_name=MODEL, num_retries=2, retry_delay=0)
        evaluator.server.evaluate(Request(messages=[{"role": "user", "content": "hi"}], config=config))


def test_lmms_evals_own_command_line_finds_the_provider_without_importing_judgekit(server: FakeLLMServer) -> None:
    """``lmms-eval`` (``python -m lmms_eval``) imports ``lmms_eval.evaluator`` first, which builds the model
    registry and so loads judgekit's ``lmms_eval.models`` entry point; a task imported after it finds
    ``API_TYPE=judgekit``. Nothing here imports judgekit."""
    code = (
        "import lmms_eval.__main__\n"
        f"import {K12} as task\n"
        "print(type(task.server).__name__)\n"
        "print(task.k12_process_results({'question': 'q', 'answer': '4'}, ['4']))\n"
    )
    env = {**os.environ, "API_TYPE": "judgekit", "OPENAI_API_KEY": "sk-x", "OPENAI_API_URL": server.base_url,
           "MODEL_VERSION": MODEL}  # fmt: skip
    env.pop("JUDGEKIT_API_TYPE", None)  # default: openai
    server.enqueue("1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:2] == ["JudgekitProvider", "{'llm_as_judge_eval': 1}"]
    assert server.count("/v1/chat/completions") == 1

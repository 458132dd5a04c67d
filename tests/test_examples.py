"""The examples keep working: migrated lmms-eval task files and the notebook script."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from judgekit.testing import FakeLLMServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def task_env(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-task")
    monkeypatch.setenv("MODEL_VERSION", "gpt-4o-2024-08-06")
    monkeypatch.syspath_prepend(str(EXAMPLES / "lmms_eval"))
    return server


def load(name: str):
    module = importlib.import_module(name)
    module._judge = None  # fresh judge per test (reads this test's environment)
    return module


def test_mmmu_binary(task_env: FakeLLMServer) -> None:
    mmmu = load("mmmu_utils")
    task_env.enqueue("1", "10", "0")
    docs = [{"id": i, "question": "q", "answer": "B"} for i in range(3)]
    rows = [mmmu.mmmu_process_results(d, ["(B)"])["mmmu_judge_acc"] for d in docs]
    assert [r["score"] for r in rows] == [1, None, 0]  # "10" is not a verdict: excluded, not counted as 1
    assert mmmu.mmmu_aggregate_judge_results(rows) == 0.5
    assert task_env.requests[0].json["max_tokens"] == 20


def test_llava_comparative(task_env: FakeLLMServer) -> None:
    llava = load("llava_in_the_wild_utils")
    task_env.enqueue("8 6\nAssistant 1 is better.", "garbage")
    doc = {"question": "What is {shown}?", "gpt_answer": "A cat", "caption": "a cat on a mat", "question_id": 1}
    rows = [llava.llava_process_results(doc, ["A dog"])["gpt_eval_llava_all"] for _ in range(2)]
    assert rows[0]["scores"] == [8.0, 6.0] and rows[1]["scores"] is None
    assert "What is {shown}?" in task_env.requests[0].json["messages"][-1]["content"]
    assert llava.llava_aggregation(rows) == 75.0


def test_k12_correctness(task_env: FakeLLMServer) -> None:
    k12 = load("k12_utils")
    task_env.enqueue("Yes", "No")
    results = [
        k12.k12_process_results({"question": "1/2 + 1/2?", "answer": "1"}, [p])["llm_as_judge_eval"]
        for p in ("\\boxed{1}", "\\boxed{2}")
    ]
    assert results == [1, 0] and k12.k12_aggregate(results) == 0.5
    assert "1/2 + 1/2?" in task_env.requests[0].json["messages"][-1]["content"]


def test_notebook_script_runs() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "notebook.py")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "JudgeResult(kind='binary', success=True, result=1" in out.stdout
    assert "19 of 20 judged" in out.stdout

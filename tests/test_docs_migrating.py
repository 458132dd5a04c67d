"""The snippets of docs/migrating-lmms-eval.md run, in order, against the local server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from judgekit.testing import FakeLLMServer, RecordedRequest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "migrating-lmms-eval.md"
BLOCK_RE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def judge_reply(rec: RecordedRequest) -> str:
    """What a judge would answer to each of the guide's prompts."""
    text = " ".join(
        m["content"] if isinstance(m["content"], str) else " ".join(p.get("text", "") for p in m["content"])
        for m in rec.json["messages"]
    )
    for needle, reply in [
        ("impartial judge", "Assistant B is more specific.\n\nMy final verdict is: [[B>A]]"),
        ("Grade this essay", "Grade: B"),
        ("x = -1 or x = -5 |", "1.0"),
        ("x = 3 |", "0.0"),
        ("| x = -1 |", "0.5 The prediction names only one of the two roots."),  # as MM-Vet's judge writes
        ("Say OK", "OK"),
    ]:
        if needle in text:
            return reply
    return "1"


CHECKS: dict[str, Any] = {
    "evaluate_binary(": lambda ns: ns["verdict"]["result"] == 1,
    "parse=parse_score,\n)": lambda ns: ns["graded"]["result"] == 0.5 and ns["graded"]["error_message"] is None,
    "def parse_grade": lambda ns: ns["graded"]["result"] == "B",
    "images=[image]": lambda ns: ns["graded"]["result"] == "B>A",
    "evaluate_batch(": lambda ns: [r["result"] for r in ns["results"]] == [0.5, 0.0, 1.0],
    "graded_mean": lambda ns: ns["mmvet_aggregate_results"]([{"score": 0.5}, {"score": None}, {"score": 1.0}]) == 75,
    "def strict": lambda ns: (
        (ns["biased"].mean, ns["biased"].failed_share, ns["honest"].mean, ns["honest"].failed) == (1.0, 0.4, 0.8, 0)
    ),
    "temperature=0.5": lambda ns: ns["graded"]["result"] == 0.5,
    "judge.judge.evaluate": lambda ns: ns["response"].success and ns["response"].content == "OK",
}


def test_guide_snippets_run(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-guide")
    monkeypatch.setenv("MODEL_VERSION", "gpt-4o-2024-11-20")
    server.default_reply = judge_reply
    blocks = BLOCK_RE.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 9
    namespace: dict[str, Any] = {}
    checked = set()
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)
        for needle, check in CHECKS.items():
            if needle in block:
                assert check(namespace), (needle, block)
                checked.add(needle)
    assert checked == set(CHECKS)  # every check found its snippet
    namespace["judge"].close()

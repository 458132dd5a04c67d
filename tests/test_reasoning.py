"""Reasoning is separated from the final answer identically on every provider, for every kind and custom.

The same scripted replies go through the openai, azure, vllm and anthropic backends (and streaming) on the
local server: ``JudgeResponse.content`` is the final answer, ``reasoning`` the rest, whatever form the
reasoning took (``<think>``, ``<thinking>``, ``<reasoning>`` blocks, a ``reasoning_content`` field,
Claude's thinking blocks, Qwen3's prompt-opened ``...</think>``).
"""

from __future__ import annotations

from typing import Any

import pytest

from judgekit import JudgeRequest, SimplifiedJudge
from judgekit.task_formats import NumberInRange
from judgekit.testing import FakeLLMServer, Reply

PROVIDERS = ["openai", "azure", "vllm", "anthropic"]

# (reply, final answer, reasoning)
CASES: list[tuple[Any, str, str | None]] = [
    ("<think>The answer 4 is 10? maybe 1</think>\n0", "0", "The answer 4 is 10? maybe 1"),
    ("<thinking>checked: 1</thinking>0", "0", "checked: 1"),
    ("<reasoning>\nfirst 1\n</reasoning>\n\n0", "0", "first 1"),
    ("<THINK>1?</THINK>0", "0", "1?"),
    ("the prediction says 1.</think>0", "0", "the prediction says 1."),  # Qwen3: <think> opened in the prompt
    (Reply("0", reasoning_content="4 == 4, so 1"), "0", "4 == 4, so 1"),  # a reasoning_content field
    (Reply("<think>b</think>0", reasoning_content="a"), "0", "a\nb"),  # both
    ("0", "0", None),
]


def make_judge(provider: str, server: FakeLLMServer, **config: Any) -> SimplifiedJudge:
    settings: dict[str, Any] = {"api_key": "sk-test", "retry_delay": 0.01, "max_retry_delay": 0.02, **config}
    if provider == "azure":
        return SimplifiedJudge(model_name="dep", api_type="azure", azure_endpoint=server.url, api_version="2024-06-01",
                               **settings)  # fmt: skip
    url = server.base_url if provider == "openai" else server.url  # vllm appends /v1; anthropic adds its path
    return SimplifiedJudge(model_name="m", api_type=provider, base_url=url, **settings)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_content_is_the_final_answer_on_every_provider(server: FakeLLMServer, provider: str, stream: bool) -> None:
    judge = make_judge(provider, server, stream=stream)
    request = JudgeRequest(messages=[{"role": "user", "content": "Is 2+2=4? Reply 1 or 0."}])
    for reply, answer, reasoning in CASES:
        server.enqueue(reply)
        response = judge.judge.evaluate(request)
        assert response.success, (provider, reply, response.error_message)
        assert (response.content, response.reasoning) == (answer, reasoning), (provider, reply)
    judge.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_built_in_kinds_and_custom_read_only_the_final_answer(server: FakeLLMServer, provider: str) -> None:
    judge = make_judge(provider, server)
    server.enqueue("<think>It might be 1... no.</think>0")
    binary = judge.evaluate_binary("2+2?", "4", "5")
    assert (binary["result"], binary["raw_response"], binary["reasoning"]) == (0, "0", "It might be 1... no.")

    server.enqueue("<think>Score: 0.1 at first</think>Score: 0.9")
    custom = judge.evaluate_custom("Rate it from 0 to 1.", parse=NumberInRange(0, 1))
    assert (custom["result"], custom["raw_response"], custom["reasoning"]) == (0.9, "Score: 0.9", "Score: 0.1 at first")

    server.enqueue("<think>0.5 would be")  # cut off while thinking
    cut = judge.evaluate_custom("Rate it.", parse=NumberInRange(0, 1))
    assert not cut["success"] and cut["result"] is None
    assert "ended inside its reasoning" in cut["error_message"] and cut["attempts"] == 1
    judge.close()


def test_legacy_helpers_return_the_final_answer(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from judgekit.legacy import get_chat_response, get_eval

    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.enqueue("<think>8 9? no</think>\n7 8\nAssistant 2 is better.", "<think>1?</think>0")
    assert get_eval("content", 64, retry_pause=0)[0] == "7 8\nAssistant 2 is better."
    assert get_chat_response("prompt", 16, retry_pause=0) == "0"

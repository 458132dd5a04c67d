"""judgekit's verl reward functions called as verl calls them, against the local server (no verl needed).

verl itself (its reward loop, Hydra config and advantage step) is exercised by the ``verl`` tier,
tests/test_verl_tier.py.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator

import numpy as np
import pytest
from loguru import logger

from judgekit import ConfigError
from judgekit.reward import verl as verl_reward
from judgekit.reward.verl import acompute_score, compute_score
from judgekit.testing import FakeLLMServer, RecordedRequest


def reference_judge(rec: RecordedRequest) -> str:
    """Says "1" when the solution contains the reference answer; records nothing else."""
    prompt = rec.json["messages"][-1]["content"]
    answer = re.search(r"\[Correct Answer\]\n(.*?)\n\[End", prompt, re.S)
    solution = re.search(r"\[Solution\]\n(.*?)\n\[End", prompt, re.S)
    return "1" if answer and solution and answer.group(1) in solution.group(1) else "0"


@pytest.fixture
def judge(server: FakeLLMServer) -> FakeLLMServer:
    server.default_reply = reference_judge
    return server


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    verl_reward._warned.clear()
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    yield seen
    logger.remove(sink)


def settings(server: FakeLLMServer, **extra: object) -> dict[str, object]:
    return {
        "api_type": "openai",
        "base_url": server.base_url,
        "model_name": "judge",
        "batch_timeout": 0.01,
        "use_cache": False,
        **extra,
    }


def sent_prompts(server: FakeLLMServer) -> list[str]:
    return [r.json["messages"][-1]["content"] for r in server.requests if r.json]


def test_verl_keywords_are_accepted_and_unknown_ones_named_once(judge: FakeLLMServer, warnings: list[str]) -> None:
    kwargs = settings(judge, reward_model_tokenizer=object(), num_examine=3)
    for _ in range(2):
        out = compute_score("gsm8k", "so 42", "42", {"question": "6*7?"}, **kwargs)
        assert out["score"] == 1.0 and out["judge_ok"] and out["judge_failed"] == 0.0
    assert sum("num_examine" in w for w in warnings) == 1
    assert not any("reward_model_tokenizer" in w for w in warnings)


def test_result_keys_are_the_same_for_success_and_failure(judge: FakeLLMServer) -> None:
    ok = compute_score("x", "so 42", "42", {"question": "6*7?"}, **settings(judge))
    judge.default_reply = "no verdict at all"
    failed = compute_score(
        "x", "so 41", "42", {"question": "6*7?"}, **settings(judge, fallback_to_rule=False, max_retries=0)
    )
    assert ok.keys() == failed.keys()  # verl reads the reward_extra_info keys from the first sample
    assert math.isnan(failed["score"]) and failed["judge_failed"] == 1.0 and not failed["judge_ok"]
    chosen = compute_score(
        "x",
        "so 41",
        "42",
        {"question": "6*7?"},
        **settings(judge, fallback_to_rule=False, max_retries=0, failure_reward=-1.0),
    )
    assert chosen["score"] == -1.0 and chosen["judge_failed"] == 1.0


def test_reward_router_address_is_the_judge_unless_one_is_configured(judge: FakeLLMServer) -> None:
    address = judge.url.removeprefix("http://")
    out = compute_score(
        "x",
        "so 42",
        "42",
        {"question": "6*7?"},
        reward_router_address=address,
        reward_model_tokenizer=None,
        batch_timeout=0.01,
    )
    assert out["score"] == 1.0 and out["source"] == "judge"
    assert judge.count("/v1/models") == 1  # the served model's name, asked once
    chat = [r for r in judge.requests if r.path == "/v1/chat/completions"]
    assert len(chat) == 1 and chat[0].json["model"] == judge.model_name

    with FakeLLMServer(default_reply="0") as mine:  # a backend of the user's own wins over verl's
        out = compute_score("x", "so 42", "42", {"question": "6*7?"}, reward_router_address=address, **settings(mine))
        assert out["score"] == 0.0 and mine.count("/v1/chat/completions") == 1
    assert judge.count("/v1/chat/completions") == 1


def test_question_from_extra_info_and_a_warning_once_without(judge: FakeLLMServer, warnings: list[str]) -> None:
    kwargs = settings(judge)
    compute_score("x", "so 42", "42", {"question": "Q1: six times seven?"}, **kwargs)
    compute_score("x", "so 42", "42", {"problem": "Q2: six times seven?"}, **kwargs)
    prompts = sent_prompts(judge)
    assert "Q1: six times seven?" in prompts[0] and "Q2: six times seven?" in prompts[1]
    assert not warnings
    for _ in range(3):
        compute_score("x", "so 42", "42", {"index": 7}, **kwargs)
    assert sum("no question" in w for w in warnings) == 1  # once per run


def test_list_ground_truth_means_any_of_these(judge: FakeLLMServer) -> None:
    kwargs = settings(judge)
    assert compute_score("x", "It is five.", ["5", "five"], {"question": "2+3?"}, **kwargs)["score"] == 1.0
    assert compute_score("x", "It is 5.", np.array(["5", "five"]), {"question": "2+3?"}, **kwargs)["score"] == 1.0
    assert compute_score("x", "It is six.", ["5", "five"], {"question": "2+3?"}, **kwargs)["score"] == 0.0
    assert compute_score("x", "It is 5.", 5, {"question": "2+3?"}, **kwargs)["score"] == 1.0
    sent = sent_prompts(judge)
    assert not any("['5'" in p for p in sent)  # never the Python repr of the list


def test_list_ground_truth_with_a_failed_check_is_not_a_wrong_answer(judge: FakeLLMServer) -> None:
    def judge_five_fails(rec: RecordedRequest) -> str:
        return "no verdict" if "[Correct Answer]\nfive" in rec.json["messages"][-1]["content"] else reference_judge(rec)

    judge.default_reply = judge_five_fails
    kwargs = settings(judge, fallback_to_rule=False, max_retries=0)
    assert math.isnan(compute_score("x", "It is six.", ["5", "five"], {"question": "2+3?"}, **kwargs)["score"])
    assert compute_score("x", "It is 5.", ["5", "five"], {"question": "2+3?"}, **kwargs)["score"] == 1.0


def test_structured_ground_truth_is_a_clear_error(judge: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="ground_truth") as info:
        compute_score("x", "so 42", {"value": 42}, {"question": "6*7?"}, **settings(judge))
    assert info.value.field == "ground_truth"
    with pytest.raises(ConfigError, match="ground_truth"):
        compute_score("x", "so 42", [["42"]], {"question": "6*7?"}, **settings(judge))


def test_rules_judge_without_an_answer_is_a_failed_sample() -> None:
    out = compute_score("x", "so 42", None, {"question": "6*7?"}, api_type="rules")
    assert math.isnan(out["score"]) and not out["judge_ok"] and out["error"]
    assert compute_score("x", "so 42", "42", {"question": "6*7?"}, api_type="rules")["score"] == 1.0


def test_batch_shape(judge: FakeLLMServer) -> None:
    out = compute_score(
        data_sources=["a", "b", "c"],
        solution_strs=["42", "41", "five"],
        ground_truths=["42", "42", ["5", "five"]],
        extra_infos=[{"question": "q"}] * 3,
        **settings(judge),
    )
    assert [o["score"] for o in out] == [1.0, 0.0, 1.0]


async def test_async_twin_shares_one_judge_across_concurrent_calls(judge: FakeLLMServer) -> None:
    judge.latency = 0.2
    judge.hold_until_in_flight(16)  # replies wait for that many in flight, however slowly a busy machine sends
    kwargs = settings(judge, batch_timeout=0.02)
    outs = await asyncio.gather(
        *(acompute_score("x", f"so {i}", str(i), {"question": f"{i}?"}, **kwargs) for i in range(32))
    )
    assert [o["score"] for o in outs] == [1.0] * 32
    assert judge.max_in_flight >= 16  # judged together, not one after another
    assert len(verl_reward._systems) >= 1
    system = verl_reward._system(kwargs)
    assert system.get_metrics()["total_requests"] == 32  # one reward system for all 32 calls

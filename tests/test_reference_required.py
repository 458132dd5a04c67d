"""A judgement that needs a reference answer never runs without one (issue 21, item 5).

A reward reading a dataset column that is not there, or ``evaluate_binary(question, None, prediction)``,
used to judge anyway (pointwise, or against an empty reference) and return plausible numbers.
"""

from __future__ import annotations

import asyncio

import pytest

from judgekit import ConfigError, SimplifiedJudge
from judgekit.reward import JudgeRewardSystem, make_grpo_reward
from judgekit.reward.verl import compute_score
from judgekit.testing import FakeLLMServer

PROMPTS = ["2+2?", "3+3?"]
COMPLETIONS = ["5", "6"]


@pytest.fixture
def judge(server: FakeLLMServer) -> SimplifiedJudge:
    return SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_trl_reward_refuses_a_missing_answer_column(judge: SimplifiedJudge, server, asynchronous: bool) -> None:
    server.default_reply = "<score>8</score>"  # what the pointwise prompt would have got: a reward of ~0.8 for "5"
    reward_fn = make_grpo_reward(judge, kind="correctness", answer_column="answer", asynchronous=asynchronous)
    columns = {"solution": ["4", "6"], "trainer_state": object(), "log_metric": print}

    def call() -> object:
        result = reward_fn(PROMPTS, COMPLETIONS, completion_ids=None, **columns)
        return asyncio.run(result) if asynchronous else result

    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == "answer_column"
    message = str(err.value)
    assert "'answer'" in message and "'solution'" in message  # the column asked for and those there are
    assert "trainer_state" not in message and "log_metric" not in message  # TRL's own keywords are no columns
    assert not server.requests  # nothing was judged


def test_trl_reward_suggests_a_close_column(judge: SimplifiedJudge) -> None:
    reward_fn = make_grpo_reward(judge, kind="auto", answer_column="answers")
    with pytest.raises(ConfigError, match=r"did you mean 'answer'\?"):
        reward_fn(PROMPTS, COMPLETIONS, answer=["4", "6"])
    reward_fn = make_grpo_reward(judge, answer_type_column="kind_of_answer")
    with pytest.raises(ConfigError, match="answer_type_column='kind_of_answer'") as err:
        reward_fn(PROMPTS, COMPLETIONS, answer=["4", "6"], answer_type=["number", "number"])
    assert err.value.field == "answer_type_column"


def test_trl_reward_over_a_configured_system_checks_its_kind(judge: SimplifiedJudge) -> None:
    system = JudgeRewardSystem({}, judge=judge, kind="correctness")
    with pytest.raises(ConfigError, match="answer_column='answer'"):
        make_grpo_reward(system)(PROMPTS, COMPLETIONS, solution=["4", "6"])
    system.close()


def test_trl_reward_reads_the_named_column(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = "Yes"
    reward_fn = make_grpo_reward(judge, kind="correctness", answer_column="solution")
    assert reward_fn(PROMPTS, COMPLETIONS, solution=["4", "6"]) == [1.0, 1.0]
    sent = [r.json["messages"][-1]["content"] for r in server.requests]
    assert any("4" in text and "2+2?" in text for text in sent)


def test_trl_reward_without_answers_under_auto_is_pointwise(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    """The defaults with no answer column at all: ``auto`` judges pointwise, as documented (not an error)."""
    server.default_reply = "<score>10</score>"
    reward_fn = make_grpo_reward(judge)
    assert reward_fn(PROMPTS, COMPLETIONS, difficulty=["easy", "easy"]) == [1.0, 1.0]


def test_a_configured_verdict_kind_refuses_samples_without_answer(judge: SimplifiedJudge, server) -> None:
    system = JudgeRewardSystem({"fallback_to_rule": False}, judge=judge, kind="correctness")
    with pytest.raises(ConfigError, match="needs a reference answer") as err:
        system.reward_batch(PROMPTS, COMPLETIONS, ["4", None])
    assert err.value.field == "answer"
    assert not server.requests
    system.close()


def test_verl_with_a_verdict_kind_refuses_a_missing_ground_truth(server: FakeLLMServer) -> None:
    settings = {"api_type": "openai", "base_url": server.base_url, "api_key": "k", "kind": "correctness"}
    with pytest.raises(ConfigError, match="needs a reference answer"):
        compute_score("gsm8k", "5", None, {"question": "2+2?"}, **settings)
    assert not server.requests


# -- a kind that needs a reference refuses None: sync, async, batch ------------------------------------------


def test_evaluate_binary_refuses_a_none_reference(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="reference answer for 'answer'") as err:
        judge.evaluate_binary("2+2?", None, "5")
    assert err.value.field == "answer"
    with pytest.raises(ConfigError) as err:
        asyncio.run(judge.aevaluate_correctness("2+2?", None, "5"))
    assert err.value.field == "answer"
    assert not server.requests


def test_batch_item_without_reference_fails_alone(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = "1"
    items = [
        {"question": "2+2?", "answer": "4", "prediction": "4"},
        {"question": "3+3?", "answer": None, "prediction": "5"},
        {"question": "1+1?", "answer": "2", "prediction": "2"},
    ]
    with pytest.raises(ConfigError, match=r"items\[1\]: .*reference answer"):  # the Python batch: before sending
        judge.evaluate_batch("binary", items)
    assert not server.requests
    results = judge.evaluate_batch("binary", items, on_invalid="fail")  # the CLI's / Ray's per-item policy
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["error_type"] == "ConfigError" and "reference answer" in results[1]["error_message"]
    assert [r["result"] for r in results] == [1, None, 1]

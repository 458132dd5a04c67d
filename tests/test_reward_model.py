"""api_type="reward_model" against the local test server's reward-model endpoints (judgekit.testing.rewards):
every kind through /classify, /pooling and an OpenRLHF server, each input form, batching, failures and the
scalar mapping (judgekit.scalars) it shares with the torch reward head. The real vLLM tier is
tests/test_vllm_reward_model.py."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from judgekit import JudgeConfig, JudgeFactory, SimplifiedJudge
from judgekit.calibration import Calibrator
from judgekit.errors import ConfigError
from judgekit.reward import JudgeRewardSystem
from judgekit.testing import FakeLLMServer, Fault
from judgekit.testing.rewards import Rewards, render, reward_of

Q = "What is the capital of France?"
GOOD, BAD = "Paris, a good answer.", "Lyon, a bad bad answer."


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def reward(question: str, response: str) -> float:
    return reward_of(render([{"role": "user", "content": question}, {"role": "assistant", "content": response}]))


def judge(server: FakeLLMServer, **config: object) -> SimplifiedJudge:
    return SimplifiedJudge(
        api_type="reward_model", base_url=server.url, retry_delay=0.01, max_retry_delay=0.02, timeout=5, **config
    )


@pytest.fixture(params=[(e, f) for e in ("classify", "pooling") for f in ("messages", "tokens")])
def wire(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture
def scorer(server: FakeLLMServer, wire: tuple[str, str]) -> Iterator[SimplifiedJudge]:
    endpoint, form = wire
    with judge(server, reward_model_endpoint=endpoint, reward_model_input=form) as j:
        yield j


# ------------------------------------------------------------------------------------------- every kind


def test_every_kind(server: FakeLLMServer, scorer: SimplifiedJudge, wire: tuple[str, str]) -> None:
    r_good, r_bad = reward(Q, GOOD), reward(Q, BAD)
    assert r_good > 0 > r_bad

    pointwise = scorer.evaluate_pointwise(Q, GOOD)
    assert pointwise.success, pointwise.error_message
    assert pointwise.scores == pytest.approx(r_good) and pointwise.score == pytest.approx(r_good)
    assert pointwise.raw_response == f"<score>{r_good:.6g}</score>"

    pairwise = scorer.evaluate_pairwise(Q, BAD, GOOD)
    assert pairwise.success and pairwise.result == "B"
    assert pairwise.p_a == pytest.approx(sigmoid(r_bad - r_good)) and pairwise.raw_response == "<better>B</better>"
    swapped = scorer.evaluate_pairwise(Q, BAD, GOOD, swap=True)
    assert swapped.result == "B" and swapped.swap_agreed and swapped.p_a == pytest.approx(sigmoid(r_bad - r_good))

    for kind in ("binary", "correctness"):
        yes = scorer.evaluate_batch(kind, [{"question": Q, "answer": "Paris", "prediction": GOOD}])[0]
        no = scorer.evaluate_batch(kind, [{"question": Q, "answer": "Paris", "prediction": BAD}])[0]
        assert yes.success and no.success, (yes.error_message, no.error_message)
        assert (yes.result, no.result) == (1, 0)
        assert yes.p_yes == pytest.approx(sigmoid(r_good)) and no.p_yes == pytest.approx(sigmoid(r_bad))
    verdict = scorer.evaluate_binary(Q, "Paris", GOOD, output_format="yes/no")
    assert verdict.result == "yes"

    # the wire: what each form sent, and the raw logit asked for (use_activation false)
    paths = [r.path for r in server.requests]
    endpoint, form = wire
    assert f"/{endpoint}" in paths and ("/tokenize" in paths) == (form == "tokens")
    sent = next(r.json for r in server.requests if r.path == f"/{endpoint}")
    assert sent["use_activation"] is False
    assert ("messages" in sent) == (form == "messages") and ("input" in sent) == (form == "tokens")


def test_score_range_and_activation(server: FakeLLMServer) -> None:
    r_good = reward(Q, GOOD)
    with judge(server, reward_model_scale="score_range", score_range=(1, 10)) as j:
        assert j.evaluate_pointwise(Q, GOOD).scores == pytest.approx(1 + 9 * sigmoid(r_good))
        assert j.evaluate_pointwise(Q, GOOD, score_range=(0, 4)).scores == pytest.approx(4 * sigmoid(r_good))
    # the server's probability instead of the logit: the same answers
    with judge(server, reward_model_activation=True, reward_model_scale="score_range") as j:
        assert j.evaluate_pointwise(Q, GOOD).scores == pytest.approx(1 + 9 * sigmoid(r_good))
        assert j.evaluate_pairwise(Q, BAD, GOOD).p_a == pytest.approx(sigmoid(reward(Q, BAD) - r_good))
    assert server.requests[-1].json["use_activation"] is True


def test_a_calibrator_moves_the_threshold_and_the_scale(server: FakeLLMServer, tmp_path) -> None:
    r_good = reward(Q, GOOD)
    # sigmoid(a * logit(p) + b) with a=1, b=-3: the good answer's P(yes) falls below 0.5
    path = Calibrator("platt", {"a": 1.0, "b": -3.0}).save(tmp_path / "cal.json")
    with judge(server, reward_model_calibrator=str(path), reward_model_scale="score_range") as j:
        result = j.evaluate_binary(Q, "Paris", GOOD)
        assert result.p_yes == pytest.approx(sigmoid(r_good - 3)) and result.result == 0
        assert j.evaluate_pointwise(Q, GOOD).scores == pytest.approx(1 + 9 * sigmoid(r_good - 3))
        assert j.evaluate_pairwise(Q, BAD, GOOD).p_a == pytest.approx(sigmoid(reward(Q, BAD) - r_good))  # unchanged
    with judge(server, decision_threshold=0.2) as j:  # the threshold is decision_threshold
        assert j.evaluate_binary(Q, "Paris", "meh").result == int(sigmoid(reward(Q, "meh")) >= 0.2)


def test_text_input_renders_with_a_local_chat_template(server: FakeLLMServer, tmp_path) -> None:
    from judgekit.testing.tiny_models import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(tmp_path / "tok")
    chat = [{"role": "user", "content": Q}, {"role": "assistant", "content": GOOD}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
    with judge(server, reward_model_input="text", reward_model_tokenizer=str(tmp_path / "tok")) as j:
        result = j.evaluate_pointwise(Q, GOOD)
    assert result.success and result.scores == pytest.approx(reward_of(text))
    sent = server.requests[-1].json
    assert sent["input"] == [text] and sent["add_special_tokens"] is False


def test_openrlhf_and_sglang(server: FakeLLMServer, tmp_path) -> None:
    from judgekit.testing.tiny_models import build_tiny_tokenizer

    build_tiny_tokenizer(tmp_path / "tok")
    config = {"reward_model_input": "text", "reward_model_tokenizer": str(tmp_path / "tok")}
    with judge(server, reward_model_endpoint="openrlhf", **config) as j:
        result = j.evaluate_pairwise(Q, BAD, GOOD)
    assert result.success and result.result == "B"
    assert server.requests[-1].path == "/get_reward" and len(server.requests[-1].json["query"]) == 2
    with judge(server, reward_model_path="/v1/classify", **config) as j:  # SGLang's path, texts as input
        assert j.evaluate_pointwise(Q, GOOD).success
    assert server.requests[-1].path == "/v1/classify"
    with judge(server, reward_model_endpoint="openrlhf") as j, pytest.raises(ConfigError, match="takes text"):
        j.evaluate_pointwise(Q, GOOD)


# ------------------------------------------------------------------------------------------- batching


@pytest.mark.parametrize("form", ["tokens", "messages"])
def test_a_batch_shares_requests(server: FakeLLMServer, form: str) -> None:
    items = [{"question": f"{Q} {i}", "response": GOOD if i % 2 else BAD} for i in range(200)]
    config = {"max_concurrent": 256, "reward_model_batch_size": 64, "reward_model_batch_wait_s": 0.2}
    with judge(server, reward_model_input=form, **config) as j:
        results = j.evaluate_batch("pointwise", items)
    assert [r.success for r in results] == [True] * 200
    assert [r.scores for r in results] == pytest.approx([reward(i["question"], i["response"]) for i in items])
    sizes = [len(r.json["input"]) if "input" in r.json else 1 for r in server.requests if r.path == "/classify"]
    assert sum(sizes) == 200
    if form == "tokens":  # 200 conversations in shared requests of at most 64
        assert max(sizes) <= 64 and len(sizes) <= 20, sizes
    else:  # vLLM takes one conversation per messages request
        assert len(sizes) == 200


def test_pairs_stay_together_and_a_failed_request_fails_its_members(server: FakeLLMServer) -> None:
    server.enqueue(Fault.status_code(400, "bad input"))
    items = [{"question": Q, "response1": BAD, "response2": f"{GOOD} {i}"} for i in range(6)]
    with judge(server, reward_model_input="tokens", max_concurrent=64, reward_model_batch_wait_s=0.2) as j:
        results = j.evaluate_batch("pairwise", items)
    assert all(not r.success for r in results)  # one shared request, one 400: not retried
    assert all("400" in r.error_message and "bad input" in r.error_message for r in results)
    assert server.count("/classify") == 1


# ------------------------------------------------------------------------------------------- failures


def test_failures_say_why(server: FakeLLMServer) -> None:
    with judge(server, num_retries=2) as j:
        server.enqueue(Fault.status_code(503), Fault.status_code(500))
        assert j.evaluate_pointwise(Q, GOOD).success  # 5xx retried
        cases = [
            (Fault.status_code(422, "Input too long"), "422"),
            (Rewards([math.nan]), "non-finite"),
            (Rewards([1.0, 2.0]), "2 scores for 1 inputs"),
            (Rewards(["high"]), "not a number"),
            (Rewards([[0.1, 0.2]]), "one list of numbers"),
        ]
        for fault, reason in cases:
            server.enqueue(fault)
            result = j.evaluate_pointwise(Q, GOOD)
            assert not result.success and result.scores is None, fault
            assert reason in result.error_message, (reason, result.error_message)
        server.enqueue(Rewards([math.inf]))
        assert "non-finite" in j.evaluate_binary(Q, "Paris", GOOD).error_message
    with judge(server, reward_model_label=1) as j:
        assert "label=1" in j.evaluate_pointwise(Q, GOOD).error_message


def test_config_errors_name_the_field(server: FakeLLMServer) -> None:
    with judge(server) as j:
        with pytest.raises(ConfigError) as info:
            j.evaluate_with_rubric(Q, GOOD, {"accuracy": "right"})
        assert info.value.field == "kind"
    with judge(server, reward_model_input="text") as j, pytest.raises(ConfigError) as info:
        j.evaluate_pointwise(Q, GOOD)
    assert info.value.field == "reward_model.tokenizer"
    with pytest.raises(ConfigError, match=r"reward_model\.endpoint"):
        JudgeConfig(reward_model_endpoint="clasify")
    with pytest.raises(ConfigError) as info:
        SimplifiedJudge(api_type="reward_model").evaluate_pointwise(Q, GOOD)
    assert info.value.field == "base_url"


def test_environment_and_key(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.api_key = "sk-reward-secret"
    monkeypatch.setenv("REWARD_MODEL_URL", server.url)
    monkeypatch.setenv("REWARD_MODEL_API_KEY", "sk-reward-secret")
    provider = JudgeFactory.create_judge("reward_model")
    assert provider.is_available() and "sk-reward" not in repr(provider)
    with SimplifiedJudge(judge=provider) as j:
        assert j.evaluate_pointwise(Q, GOOD).success
    assert server.requests[-1].headers["authorization"] == "Bearer sk-reward-secret"
    with judge(server, api_key="sk-wrong", num_retries=0) as j:
        result = j.evaluate_pointwise(Q, GOOD)
    assert not result.success and result.error_type == "AuthenticationError" and "sk-wrong" not in result.error_message


def test_as_a_grpo_reward(server: FakeLLMServer) -> None:
    """The reward adapter: a pointwise reward sigmoid(r) without a reference answer, P(yes) with one."""
    config = {"api_type": "reward_model", "base_url": server.url, "judge": {"reward_model_input": "tokens"}}
    system = JudgeRewardSystem(config)
    try:
        graded = system.reward(Q, GOOD)
        assert graded["source"] == "judge" and graded["reward"] == pytest.approx(sigmoid(reward(Q, GOOD)))
        checked = system.reward(Q, BAD, answer="Paris")
        assert checked["source"] == "judge" and checked["reward"] == pytest.approx(sigmoid(reward(Q, BAD)))
    finally:
        system.close()
    with judge(server, reward_model_scale="score_range", score_range=(0, 4)) as j:
        assert j.judge.native_score_type() is None  # a mapped score is read like any judge's

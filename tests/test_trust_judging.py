"""Trust features inside the judge: self-consistency (``n_samples``), calibrated P(yes) (``calibrator``), and
the reward adapter's multi-judge reward voting like a jury. Against the local server."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from judgekit import ConfigError, JudgeConfig, SimplifiedJudge
from judgekit.testing import FakeLLMServer, Fault, Reply
from judgekit.validation import calibration


def verdict(token: str, yes: float) -> Reply:
    """A "1"/"0" reply with logprobs giving P("1") = ``yes``."""
    alternatives = {"1": yes, "0": 1 - yes}
    entry = {
        "token": token,
        "logprob": math.log(alternatives[token]),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()],
    }
    return Reply(token, logprobs=[entry])


def judge_for(server: FakeLLMServer, **config: Any) -> SimplifiedJudge:
    return SimplifiedJudge(
        api_type="openai",
        base_url=server.base_url,
        api_key="sk-test",
        model_name="m",
        num_retries=0,
        retry_delay=0.01,
        timeout=5,
        **config,
    )


# -------------------------------------------------------------------------------------- self-consistency


def test_n_samples_asks_k_times_and_votes(server: FakeLLMServer):
    replies = itertools.cycle(["1", "0", "1"])
    server.default_reply = lambda rec: next(replies)
    judge = judge_for(server, n_samples=3)
    r = judge.evaluate_binary("2+2?", "4", "4")
    assert r.success and r.result == 1 and len(r.votes) == 3 and r.n_votes == 3
    assert r.agreement == pytest.approx(2 / 3)
    assert server.count("/v1/chat") == 3
    # temperature 0 in the config: the samples are drawn at the self-consistency temperature
    assert [req.json["temperature"] for req in server.requests] == [0.7] * 3


def test_n_samples_per_call_and_explicit_temperature(server: FakeLLMServer):
    judge = judge_for(server, temperature=0.3)
    assert "votes" not in judge.evaluate_binary("q", "a", "p")  # one sample: a plain result
    before = server.count()
    r = judge.evaluate_binary("q", "a", "p", n_samples=5)
    assert len(r.votes) == 5 and server.count() - before == 5
    assert {req.json["temperature"] for req in server.requests[before:]} == {0.3}
    items = [{"question": "q", "answer": "a", "prediction": "p", "n_samples": 2}] * 2
    assert [len(x.votes) for x in judge.evaluate_batch("binary", items)] == [2, 2]
    with pytest.raises(ConfigError) as info:
        judge.evaluate_binary("q", "a", "p", n_samples=0)
    assert info.value.field == "n_samples"


def test_samples_are_not_collapsed_by_the_cache(server: FakeLLMServer):
    replies = itertools.cycle(["1", "0"])
    server.default_reply = lambda rec: next(replies)
    judge = judge_for(server, n_samples=4, cache="memory")
    r = judge.evaluate_binary("q", "a", "p")
    assert server.count("/v1/chat") == 4 and r.tie and r.result == "tie"  # 2 yes, 2 no: a tie, reported
    judge.evaluate_binary("q", "a", "p")
    assert server.count("/v1/chat") == 8  # samples skip the reply cache: k cached copies would be one vote


def test_n_samples_with_logprobs_gives_the_mean_p_yes(server: FakeLLMServer):
    server.enqueue(verdict("1", 0.9), verdict("0", 0.4), verdict("1", 0.8))
    r = judge_for(server, logprob_score=True).evaluate_binary("q", "a", "p", n_samples=3)
    assert r.p_yes == pytest.approx((0.9 + 0.4 + 0.8) / 3) and r.result == 1


def test_too_many_failed_samples_is_a_failure(server: FakeLLMServer):
    server.enqueue(Fault.status_code(500), Fault.status_code(500), "1")
    r = judge_for(server).evaluate_binary("q", "a", "p", n_samples=3)
    assert not r.success and r.result is None and r.error_type == "QuorumNotMet"
    assert "only 1 of 3" in r.error_message


def test_pointwise_samples_average(server: FakeLLMServer):
    server.enqueue("<score>6</score>", "<score>8</score>", "<score>7</score>")
    r = judge_for(server).evaluate_pointwise("q", "resp", n_samples=3)
    assert r.scores == pytest.approx(7.0) and len(r.votes) == 3


# ------------------------------------------------------------------------------------------- calibrator


@pytest.fixture
def calibrator_file(tmp_path):
    # raw P(yes) 0.9 is right only half the time, 0.2 never: a calibrator maps 0.9 -> 0.5, 0.2 -> 0.0
    cal = calibration.fit([0.9, 0.9, 0.2, 0.2], [1, 0, 0, 0], method="isotonic")
    return cal.save(tmp_path / "cal.json")


def test_calibrator_applies_to_p_yes(server: FakeLLMServer, calibrator_file):
    server.enqueue(verdict("1", 0.9))
    judge = judge_for(server, logprob_score=True, calibrator=str(calibrator_file))
    r = judge.evaluate_binary("q", "a", "p")
    assert r.p_yes_raw == pytest.approx(0.9) and r.p_yes == pytest.approx(0.5)
    assert JudgeConfig(calibrator=str(calibrator_file)).calibrator == str(calibrator_file)


def test_calibrator_applies_to_a_logprob_judge_score(tmp_path, calibrator_file):
    from judgekit.testing.tiny_models import build_tiny_qwen2

    pytest.importorskip("torch")
    path = build_tiny_qwen2(tmp_path / "judge", reply="1")
    judge = SimplifiedJudge(
        api_type="torch", model_name=str(path), torch_mode="logprob", calibrator=str(calibrator_file)
    )
    r = judge.evaluate_binary("q", "a", "p")
    assert r.success and r.p_yes_raw == pytest.approx(r.score)
    assert r.p_yes == pytest.approx(calibration.load(calibrator_file)(r.score))
    judge.close()


def test_bad_calibrator_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        SimplifiedJudge(api_type="rules", calibrator=str(tmp_path / "missing.json"))
    assert info.value.field == "calibrator"


# ------------------------------------------------------------------------------------- multi-judge reward


def test_multi_judge_reward_votes_like_a_jury():
    from judgekit.reward import JudgeRewardSystem, MultiJudgeReward

    servers = [FakeLLMServer(default_reply=reply).start() for reply in ("Yes", "No", "Yes")]
    try:
        systems = [
            JudgeRewardSystem(
                {"batch_timeout": 0.01, "fallback_to_rule": False, "use_cache": False}, judge=judge_for(s)
            )
            for s in servers
        ]
        vote = MultiJudgeReward(systems, mode="vote", names=["a", "b", "c"]).reward("2+2?", "4", "4")
        assert vote["reward"] == 1.0 and vote["agreement"] == pytest.approx(2 / 3) and not vote["tie"]
        weighted = MultiJudgeReward(systems, mode="weighted", weights=[1, 3, 0]).reward("2+2?", "4", "4")
        assert weighted["reward"] == pytest.approx(0.25)
        servers[2].stop()  # one judge down: the other two tie, reported as a tie
        tied = MultiJudgeReward(systems, mode="vote", names=["a", "b", "c"]).reward("2+2?", "4", "4")
        assert tied["tie"] and tied["reward"] == 0.5 and "c" in tied["judges_failed"]
        short = MultiJudgeReward(systems, mode="vote", quorum=3).reward("2+2?", "4", "4")
        assert short["reward"] is None and short["source"] == "failed" and "quorum 3" in short["error"]
        with pytest.raises(ConfigError, match="weights"):
            MultiJudgeReward(systems, mode="weighted")
    finally:
        for s in servers:
            if s.running:
                s.stop()


def test_samples_keep_the_judges_model_name(server: FakeLLMServer):
    r = judge_for(server).evaluate_binary("q", "a", "p", n_samples=2)
    assert r.model == "m" and r.provider == "openai"

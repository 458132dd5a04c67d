"""The RL reward adapter: batching, cache, circuit breaker, fallbacks, TRL and verl shapes, rubrics, multi-judge."""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time

import pytest

from judgekit import ConfigError, JudgeConfig, SimplifiedJudge
from judgekit.reward import (
    JudgeOutcome,
    JudgeRewardSystem,
    MultiJudgeReward,
    QueueFullError,
    RewardConfig,
    RubricReward,
    compute_score,
    create_judge_reward,
    make_grpo_reward,
)
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest


def correctness_judge(rec: RecordedRequest) -> str:
    """A fake judge that says Yes when the solution contains the correct answer."""
    prompt = rec.json["messages"][-1]["content"]
    answer = re.search(r"\[Correct Answer\]\n(.*?)\n\[End", prompt, re.S).group(1)
    solution = re.search(r"\[Solution\]\n(.*?)\n\[End", prompt, re.S).group(1)
    return "Yes" if answer in solution else "No"


@pytest.fixture
def judge_server(server: FakeLLMServer) -> FakeLLMServer:
    server.default_reply = correctness_judge
    return server


def make_system(server: FakeLLMServer, **overrides) -> JudgeRewardSystem:
    judge = SimplifiedJudge(base_url=server.base_url, model_name="judge", retry_delay=0.01, num_retries=1)
    return JudgeRewardSystem({"batch_timeout": 0.01, **overrides}, judge=judge)


def test_rewards_from_the_judge_with_cache(judge_server: FakeLLMServer) -> None:
    with make_system(judge_server) as system:
        first = system.reward("What is 6*7?", "It is 42.", "42")
        assert first["reward"] == 1.0 and first["source"] == "judge" and not first["cached"]
        assert system.reward("What is 6*7?", "It is 41.", "42")["reward"] == 0.0
        again = system.reward("What is 6*7?", "It is 42.", "42")
        assert again["reward"] == 1.0 and again["source"] == "cache" and again["cached"]
        assert judge_server.count("/v1/chat/completions") == 2
        metrics = system.get_metrics()
        assert metrics["cache_hit_rate"] == pytest.approx(1 / 3) and metrics["error_rate"] == 0.0
        assert metrics["circuit_breaker"]["state"] == "closed" and metrics["current_queue_size"] == 0
        assert system.compute_reward("What is 6*7?", "42", "42").score == 1.0


def test_batch_is_ordered_and_batched(judge_server: FakeLLMServer) -> None:
    judge_server.latency = 0.02
    with make_system(judge_server, max_batch_size=8, batch_timeout=0.05) as system:
        prompts = [f"q{i}" for i in range(40)]
        completions = [f"answer {i if i % 3 else -1}" for i in range(40)]
        answers = [f"answer {i}" for i in range(40)]
        results = system.reward_batch(prompts, completions, answers)
        assert [r["reward"] for r in results] == [0.0 if i % 3 == 0 else 1.0 for i in range(40)]
        metrics = system.get_metrics()
        assert metrics["batched_fraction"] > 0.5 and metrics["batches"] < 40
        assert metrics["latency"]["p50"] > 0


def test_judge_down_falls_back_to_rules_tagged(judge_server: FakeLLMServer) -> None:
    judge_server.default_reply = Fault.status_code(500)
    with make_system(judge_server, circuit_breaker_threshold=100) as system:
        results = system.reward_batch(
            ["2+2?", "pick", "half"], ["4", "The answer is (C)", "\\boxed{0.5}"], ["4", "B", "1/2"]
        )
    assert [r["source"] for r in results] == ["rule_fallback"] * 3
    assert [r["reward"] for r in results] == [1.0, 0.0, 1.0]
    assert all("HTTP 500" in r["error"] for r in results)


def test_without_fallback_a_failure_is_none_or_the_named_value(judge_server: FakeLLMServer) -> None:
    judge_server.default_reply = Fault.status_code(500)
    with make_system(judge_server, fallback_to_rule=False) as system:
        result = system.reward("q", "4", "4")
    assert result["reward"] is None and result["source"] == "failed" and "HTTP 500" in result["error"]
    with make_system(judge_server, fallback_to_rule=False, failure_reward=-1.0) as system:
        assert system.reward("q", "4", "4")["reward"] == -1.0


def test_unreadable_verdict_is_a_failure_not_zero(judge_server: FakeLLMServer) -> None:
    judge_server.default_reply = "Hmm, hard to say."
    with make_system(judge_server, fallback_to_rule=False) as system:
        result = system.reward("q", "4", "4")
    assert result["reward"] is None and result["source"] == "failed" and "unreadable" in result["error"]


def test_circuit_opens_and_recovers(judge_server: FakeLLMServer) -> None:
    judge_server.default_reply = Fault.status_code(503)
    with make_system(
        judge_server, circuit_breaker_threshold=2, circuit_breaker_timeout=0.3, max_batch_size=1, batch_timeout=0.0
    ) as system:
        for _ in range(2):
            assert system.reward("q", "4", "4")["source"] == "rule_fallback"
        assert system.get_metrics()["circuit_breaker"]["state"] == "open"
        sent = judge_server.count()
        blocked = system.reward("q2", "5", "4")
        assert blocked["source"] == "rule_fallback" and "circuit breaker open" in blocked["error"]
        assert judge_server.count() == sent  # no request while open
        judge_server.default_reply = correctness_judge
        time.sleep(0.35)
        assert system.get_metrics()["circuit_breaker"]["state"] == "half_open"
        recovered = system.reward("q3", "4", "4")
        assert recovered["source"] == "judge" and recovered["reward"] == 1.0
        assert system.get_metrics()["circuit_breaker"]["state"] == "closed"


def test_full_queue_is_a_clear_error(judge_server: FakeLLMServer) -> None:
    judge_server.latency = 0.5
    with (
        make_system(
            judge_server, max_queue_size=2, max_concurrent_requests=1, max_batch_size=1, batch_timeout=0.0
        ) as system,
        pytest.raises(QueueFullError, match="queue full"),
    ):
        system.reward_batch([f"q{i}" for i in range(10)], ["a"] * 10, ["a"] * 10)


def test_config_keys_env_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_MAX_BATCH_SIZE", "32")
    monkeypatch.setenv("JUDGE_MAX_CONCURRENT", "7")
    monkeypatch.setenv("JUDGE_MODEL_URL", "http://127.0.0.1:9")
    config = RewardConfig.build({"max_concurrent_requests": 9})
    assert (config.max_batch_size, config.max_concurrent_requests, config.judge_url) == (32, 9, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="batch_size"):
        RewardConfig.build({"batch_size": 3})
    with pytest.raises(ConfigError, match="max_batch_size"):
        create_judge_reward({"max_batch_size": 0})


def test_request_judge_override_sync_and_async() -> None:
    class Sync(JudgeRewardSystem):
        def _request_judge(self, requests):  # the guide's synchronous style
            return [JudgeOutcome(float(len(r.completion) % 2), "parity") for r in requests]

    class Async(JudgeRewardSystem):
        async def _request_judge(self, requests):
            await asyncio.sleep(0)
            return [JudgeOutcome(None, error="nope") if r.completion == "x" else JudgeOutcome(0.25) for r in requests]

    with Sync({"use_cache": False}) as system:
        assert [r["reward"] for r in system.reward_batch(["p"] * 2, ["ab", "abc"])] == [0.0, 1.0]
    with Async({"fallback_to_rule": False}) as system:
        results = system.reward_batch(["p"] * 2, ["x", "y"], [None, None])
        assert [r["reward"] for r in results] == [None, 0.25] and results[0]["error"] == "nope"


def test_grpo_reward_sync_and_async_trl_convention(judge_server: FakeLLMServer) -> None:
    system = make_system(judge_server)
    metrics: dict[str, float] = {}
    extras: dict[str, list] = {}
    kwargs = {
        "answer": ["4", "9"],
        "trainer_state": object(),
        "log_metric": metrics.__setitem__,
        "log_extra": extras.__setitem__,
    }
    fn = make_grpo_reward(system, name="math_judge")
    assert fn.__name__ == "math_judge"
    rewards = fn(prompts=["2+2?", "3*3?"], completions=["4", "8"], completion_ids=[[1], [2]], **kwargs)
    assert rewards == [1.0, 0.0]
    assert set(metrics) == {"judgekit/latency_s", "judgekit/failure_rate", "judgekit/cache_hit_rate"}
    assert extras["judge_source"] == ["judge", "judge"]

    afn = make_grpo_reward(system, asynchronous=True)
    assert asyncio.iscoroutinefunction(afn)
    conversational = [[{"role": "assistant", "content": "It is 4"}], [{"role": "assistant", "content": "nine"}]]
    prompts = [[{"role": "user", "content": "2+2?"}], [{"role": "user", "content": "3*3?"}]]
    assert asyncio.run(afn(prompts=prompts, completions=conversational, **kwargs)) == [1.0, 0.0]
    system.close()


def test_grpo_reward_failed_samples_are_none(judge_server: FakeLLMServer) -> None:
    judge_server.default_reply = lambda rec: Fault.status_code(500) if "boom" in str(rec.json) else "Yes"
    fn = make_grpo_reward(make_system(judge_server, fallback_to_rule=False))
    assert fn(prompts=["a", "b"], completions=["fine", "boom"], answer=["fine", "x"]) == [1.0, None]


def test_verl_compute_score_single_and_batch(judge_server: FakeLLMServer) -> None:
    kwargs = {"api_type": "openai", "base_url": judge_server.base_url, "model_name": "judge", "batch_timeout": 0.01}
    single = compute_score("gsm8k", "so 42", "42", {"question": "6*7?"}, **kwargs)
    assert single["score"] == 1.0 and single["judge_ok"] and single["source"] == "judge"
    batch = compute_score(
        data_sources=["gsm8k"] * 2,
        solution_strs=["42", "41"],
        ground_truths=["42", "42"],
        extra_infos=[{"question": "6*7?"}, {"question": "6*7?"}],
        **kwargs,
    )
    assert [b["score"] for b in batch] == [1.0, 0.0]
    judge_server.default_reply = Fault.status_code(400)
    failed = compute_score("x", "zzz", None, {"question": "open"}, **kwargs)
    assert math.isnan(failed["score"]) and failed["judge_ok"] is False


def rubric_judge(rec: RecordedRequest) -> str:
    prompt = rec.json["messages"][-1]["content"]
    criterion = re.search(r"\[Rubric Item\]\n(.*?)\n\[End", prompt, re.S).group(1)
    response = re.search(r"\[Response\]\n(.*?)\n\[End", prompt, re.S).group(1)
    if criterion == "flaky":
        return "I cannot decide"
    return "Yes" if criterion.split()[-1] in response else "No"


def test_rubric_rewards(server: FakeLLMServer) -> None:
    server.default_reply = rubric_judge
    rubric = RubricReward(SimplifiedJudge(base_url=server.base_url, model_name="g", retry_delay=0.01))
    items = [
        {"criterion": "mentions fever", "points": 5},
        {"criterion": "mentions rest", "points": 3},
        {"criterion": "recommends antibiotics", "points": -4},
    ]
    good = rubric.score("flu?", "fever and rest", items)
    assert good.reward == 1.0 and good.earned == 8 and good.possible == 8
    partial = rubric.score("flu?", "fever, antibiotics", items)
    assert partial.reward == pytest.approx((5 - 4) / 8)
    assert rubric.score("flu?", "antibiotics", items).reward == 0.0  # clipped
    assert [r["met"] for r in partial.items] == [True, False, True]


def test_rubric_grading_failure_is_never_not_present(server: FakeLLMServer) -> None:
    server.default_reply = rubric_judge
    rubric = RubricReward(SimplifiedJudge(base_url=server.base_url, model_name="g"), max_retries=2)
    before = server.count()
    result = rubric.score(
        "q", "fever", [{"criterion": "mentions fever", "points": 5}, {"criterion": "flaky", "points": 5}]
    )
    assert result.reward is None and result.earned is None
    assert "could not be graded" in result.error and "flaky" in result.error
    assert server.count() - before == 1 + 3  # the flaky item was tried 1 + max_retries times
    fn = rubric.as_grpo_reward()
    assert fn(prompts=["q"], completions=["fever"], rubric=[[{"criterion": "flaky", "points": 1}]]) == [None]


def test_multi_judge_excludes_and_reports_failures(judge_server: FakeLLMServer) -> None:
    good = make_system(judge_server)
    with FakeLLMServer(default_reply=Fault.status_code(500)) as broken:
        bad_judge = SimplifiedJudge(base_url=broken.base_url, model_name="b", num_retries=0)
        bad = JudgeRewardSystem({"fallback_to_rule": False}, judge=bad_judge)
        multi = MultiJudgeReward([good, bad, make_system(judge_server, use_cache=False)], names=["a", "b", "c"])
        result = multi.reward("2+2?", "4", "4")
        assert result["reward"] == 1.0 and result["scores"] == {"a": 1.0, "c": 1.0}
        assert "b" in result["judges_failed"]
        vote = MultiJudgeReward([good, bad], mode="vote").reward("2+2?", "5", "4")
        assert vote["reward"] == 0.0
        none_ok = MultiJudgeReward([bad]).reward("q", "a", "b")
        assert none_ok["reward"] is None and none_ok["source"] == "failed"


def test_reward_config_accepts_judgekit_backend(judge_server: FakeLLMServer) -> None:
    system = create_judge_reward(
        {"api_type": "openai", "base_url": judge_server.base_url, "model_name": "m", "judge": {"max_tokens": 7}}
    )
    assert system.reward("q", "x", "x")["reward"] == 1.0
    assert judge_server.requests[-1].json["max_tokens"] == 7
    assert isinstance(system.judge.config, JudgeConfig)
    system.close()


def test_judge_url_mode_uses_the_judge_server_batch_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgekit.server import ServerThread, create_app

    app = create_app(SimplifiedJudge(api_type="rules"), max_wait_s=0.01)
    with ServerThread(app) as srv:
        monkeypatch.setenv("JUDGE_MODEL_URL", srv.url)
        with create_judge_reward({"batch_timeout": 0.02}) as system:  # judge_url from JUDGE_MODEL_URL
            results = system.reward_batch(["2+2?", "pick one", "half"], ["4", "(C)", "\\boxed{0.5}"], ["4", "B", "1/2"])
            assert [r["reward"] for r in results] == [1.0, 0.0, 1.0]
            assert [r["source"] for r in results] == ["judge"] * 3
            assert system.get_metrics()["batches"] == 1  # one /batch_judge call for the three samples
        served = app.state.judge_service.metrics.requests
        assert served[("/batch_judge", 200)] == 1 and served[("/judge", 200)] == 0  # one round trip, no singles
    with create_judge_reward({"judge_url": srv.url, "max_retries": 0, "circuit_breaker_threshold": 1}) as down:
        result = down.reward("2+2?", "4", "4")  # the server is gone: the rules decide, tagged
        assert result["source"] == "rule_fallback" and result["reward"] == 1.0
        assert down.get_metrics()["circuit_breaker"]["state"] == "open"


def test_metrics_tell_the_queue_from_what_is_in_flight(judge_server: FakeLLMServer) -> None:
    """Defect 5: ``current_queue_size`` is the samples waiting for a batch, ``in_flight`` all unanswered ones."""
    judge_server.latency = 0.5
    with make_system(judge_server, max_batch_size=1, max_concurrent_requests=1, batch_timeout=0.0) as system:
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (system.reward_batch([f"q{i}" for i in range(5)], ["1"] * 5, ["1"] * 5), done.set())
        )
        worker.start()
        deadline = time.monotonic() + 5
        metrics = system.get_metrics()
        while time.monotonic() < deadline and not (metrics["in_flight"] == 5 and metrics["current_queue_size"] == 3):
            time.sleep(0.01)
            metrics = system.get_metrics()
        assert metrics["in_flight"] == 5  # every sample is waiting for its reward
        assert metrics["current_queue_size"] == 3  # one is being judged, one waits for a slot, three are queued
        worker.join(10)
        assert done.is_set() and system.get_metrics()["current_queue_size"] == 0

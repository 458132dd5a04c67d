"""A real TRL GRPOTrainer runs two steps on CPU with judgekit rewards (sync and async) from a local judge."""

from __future__ import annotations

import math

import pytest
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from judgekit import SimplifiedJudge
from judgekit.reward import JudgeRewardSystem, make_group_reward, make_grpo_reward
from judgekit.reward.monitor import ShadowMonitor
from judgekit.testing import FakeLLMServer, Fault
from judgekit.testing.groups import rule_judge
from judgekit.testing.tiny_models import build_tiny_qwen2


def test_grpo_trainer_two_steps_with_judge_rewards(tmp_path, server: FakeLLMServer) -> None:
    # The judge fails (HTTP 500) for every sample of the "please fail" prompt and says Yes otherwise.
    server.default_reply = lambda rec: Fault.status_code(500) if "please fail" in str(rec.json) else "Yes"
    judge = SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0)
    system = JudgeRewardSystem({"fallback_to_rule": False, "batch_timeout": 0.01}, judge=judge)
    returned: list[list[float | None]] = []
    sync_fn = make_grpo_reward(system, name="judge_sync")

    def recording_fn(prompts, completions, **kwargs):
        rewards = sync_fn(prompts, completions, **kwargs)
        returned.append(rewards)
        return rewards

    recording_fn.__name__ = "judge_sync"
    async_fn = make_grpo_reward(system, asynchronous=True, name="judge_async")
    dataset = Dataset.from_dict(
        {"prompt": ["what is 2+2?", "please fail", "name a color", "what is 3+3?"], "answer": ["4", "x", "red", "6"]}
    )
    config = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        report_to="none",
        learning_rate=1e-5,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=str(build_tiny_qwen2(None)), reward_funcs=[recording_fn, async_fn], args=config, train_dataset=dataset
    )
    trainer.train()

    assert trainer.state.global_step == 2
    logged = trainer.state.log_history[0]
    assert {"judgekit/latency_s", "judgekit/failure_rate", "judgekit/cache_hit_rate"} <= set(logged)
    assert "rewards/judge_async/mean" in logged and not math.isnan(logged["rewards/judge_async/mean"])
    flat = [r for batch in returned for r in batch]
    assert len(flat) == 16 and flat.count(None) == 4  # the failing prompt: 2 samples x 2 steps, None not 0.0
    assert 0.0 not in flat
    metrics = system.get_metrics()
    assert metrics["failed"] >= 2 and metrics["cache_hits"] > 0  # both reward funcs share one cache
    system.close()


def test_grpo_trainer_two_steps_with_a_listwise_group_reward(tmp_path, server: FakeLLMServer) -> None:
    """Each step's 2 prompts x 4 completions: one listwise request per prompt, rewards by the judge's rule."""
    server.default_reply = rule_judge(lambda text: min(10, 1 + len(text) % 10))
    judge = SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0)
    calls: list[tuple[list[str], list[float | None]]] = []
    group_fn = make_group_reward(judge, num_generations=4, name="judge_group")

    def recording_fn(prompts, completions, **kwargs):
        rewards = group_fn(prompts, completions, **kwargs)
        calls.append((list(completions), rewards))
        return rewards

    recording_fn.__name__ = "judge_group"
    monitor = ShadowMonitor(SimplifiedJudge(base_url=server.base_url, model_name="shadow"), share=0.25)
    watched_fn = monitor.wrap(recording_fn)
    dataset = Dataset.from_dict({"prompt": ["what is 2+2?", "name a color", "what is 3+3?", "say hi"]})
    config = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        report_to="none",
        learning_rate=1e-5,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=str(build_tiny_qwen2(None)), reward_funcs=[watched_fn], args=config, train_dataset=dataset
    )
    trainer.train()

    assert trainer.state.global_step == 2
    judged = [r for r in server.requests if r.json["model"] == "judge"]
    assert len(calls) == 2 and len(judged) == 4  # 2 steps x 2 groups, not 16
    for completions, rewards in calls:
        assert rewards == [pytest.approx((min(10, 1 + len(c) % 10) - 1) / 9) for c in completions]
    assert "rewards/judge_group/mean" in trainer.state.log_history[0]
    # the shadow monitor: 2 of each step's 8 completions re-scored, its metrics in TRL's logs
    assert sum(r.json["model"] == "shadow" for r in server.requests) == 4 and len(monitor.history) == 2
    assert {"monitor/agreement", "monitor/reward_length_corr", "monitor/unscorable_share"} <= set(
        trainer.state.log_history[0]
    )

"""The shadow-judge monitor against the local server: agreement, the reward's length correlation, unscorable
share, and verl rollout dumps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.errors import ConfigError
from judgekit.reward.monitor import ShadowMonitor
from judgekit.testing import FakeLLMServer
from judgekit.testing.groups import prompt_of


def shadow_for(server: FakeLLMServer) -> SimplifiedJudge:
    return SimplifiedJudge(base_url=server.base_url, model_name="shadow", num_retries=0)


def test_monitor_step_metrics(server: FakeLLMServer) -> None:
    # the shadow says "correct" only for completions that say "right"; the trained reward pays for length
    server.default_reply = lambda rec: "Yes" if "right" in prompt_of(rec).split("[Solution]")[-1] else "No"
    completions = [("right " if i % 2 else "wrong ") + "x" * i for i in range(20)]
    rewards: list[float | None] = [min(1.0, i / 10) for i in range(20)]
    rewards[3] = None
    rewards[4] = math.nan
    monitor = ShadowMonitor(shadow_for(server), share=0.5, seed=1)
    metrics = monitor.observe(["q"] * 20, completions, rewards, ["right"] * 20)
    assert server.count("/v1/chat/completions") == 10 and metrics["monitor/sampled"] == 10
    assert metrics["monitor/unscorable_share"] == pytest.approx(0.1)
    assert metrics["monitor/reward_length_corr"] > 0.9  # the reward climbs with length
    assert 0.0 < metrics["monitor/agreement"] < 1.0
    assert metrics["monitor/shadow_unscorable_share"] == 0.0
    assert monitor.history == [metrics]


def test_monitor_reads_a_verl_rollout_dump(server: FakeLLMServer, tmp_path: Path) -> None:
    server.default_reply = "<score>10</score>"
    dump = tmp_path / "7.jsonl"
    rows = [{"input": f"q{i}", "output": "a" * (i + 1), "gts": None, "score": 1.0, "step": 7} for i in range(8)]
    dump.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    metrics = ShadowMonitor(shadow_for(server), share=0.25).observe_dump(dump)
    assert metrics["monitor/sampled"] == 2 and metrics["monitor/agreement"] == 1.0
    assert math.isnan(metrics["monitor/reward_length_corr"])  # a constant reward has no correlation


def test_monitor_settings(server: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="share"):
        ShadowMonitor(shadow_for(server), share=0)


def test_trl_callback_puts_the_mean_since_the_last_log_into_the_logs(server: FakeLLMServer, tmp_path: Path) -> None:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    server.default_reply = "<score>10</score>"
    monitor = ShadowMonitor(shadow_for(server), share=1.0)
    monitor.observe(["q"] * 4, ["a", "bb", "ccc", "dddd"], [1.0, 1.0, 0.0, None])  # agreement 2/3
    monitor.observe(["q"] * 2, ["a", "bb"], [1.0, 1.0])  # agreement 1
    callback = monitor.trl_callback()
    state, logs = TrainerState(), {"loss": 0.5}
    state.log_history.append({**logs, "step": 2})  # as Trainer.log does before on_log
    callback.on_log(TrainingArguments(output_dir=str(tmp_path), report_to="none"), state, TrainerControl(), logs)
    assert logs["monitor/agreement"] == pytest.approx((2 / 3 + 1) / 2)
    assert state.log_history[-1]["monitor/unscorable_share"] == pytest.approx(0.125)
    assert monitor.take_unlogged() == {}  # logged once

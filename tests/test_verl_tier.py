"""judgekit inside verl 0.9.1 itself: its reward loop on a local Ray, its Hydra config, its advantage step.

A slower tier, marked ``verl`` and left out of the default run; it runs in its own venv (verl pins its own
stack): ``.venv-verl/bin/python -m pytest -q -m verl`` (scripts/test.sh creates the venv once and runs it).
Everything is real: verl's ``RewardLoopManager`` with ``RewardLoopWorker`` actors on ``ray.init(num_cpus=2)``,
a ``DataProto`` tokenized by a tiny tokenizer built here, the config composed by Hydra from verl's own
``ppo_trainer.yaml`` with the overrides documented in docs/reward.md, and the judge a local
`FakeLLMServer` on 127.0.0.1.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judgekit.testing import FakeLLMServer, RecordedRequest
from judgekit.testing.verl import compose_ppo_config, documented_overrides, make_batch, run_reward_loop

pytestmark = pytest.mark.verl

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reward.md"
LATENCY = 0.2
UNJUDGEABLE = "UNJUDGEABLE"


def compose(*changes: str, judge_url: str, tokenizer_dir: Path, without: tuple[str, ...] = ()) -> Any:
    """verl's ``ppo_trainer`` config with the overrides documented in docs/reward.md (less the reward_kwargs
    named in ``without``), then ``changes``: the documented judge address becomes the local server's, the
    model path the tiny tokenizer's, and one reward worker instead of eight (two CPU cores)."""
    overrides = []
    for item in documented_overrides(DOC):
        key = item.split("=", 1)[0]
        if key.rsplit(".", 1)[-1] in without:
            continue
        overrides.append(f"{key}={judge_url}" if key.endswith("reward_kwargs.base_url") else item)
    return compose_ppo_config(
        [*overrides, f"actor_rollout_ref.model.path={tokenizer_dir}", "reward.num_workers=1", *changes]
    )


def verdict(rec: RecordedRequest) -> str:
    """The judge: "1" when the completion says "right", "0" otherwise, and no verdict for UNJUDGEABLE."""
    text = " ".join(str(m.get("content")) for m in rec.json.get("messages", []))
    if UNJUDGEABLE in text:
        return "I would rather not say."
    return "1" if "right" in text else "0"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judgekit.testing.tiny_models import build_tiny_tokenizer

    path = tmp_path_factory.mktemp("verl") / "tiny-tokenizer"
    build_tiny_tokenizer(path)
    return path


@pytest.fixture(scope="module")
def judge() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(default_reply=verdict, latency=LATENCY) as srv:
        yield srv


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024**2,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
    )
    yield
    ray.shutdown()


def samples(n: int, tag: str = "") -> list[dict[str, Any]]:
    """``n`` samples; the even ones say "right" (the judge's "1"), the odd ones do not."""
    return [
        {
            "question": f"{tag}What is {i} plus one?",
            "answer": str(i + 1),
            "response": f"{tag}The answer is {i + 1}, right." if i % 2 == 0 else f"{tag}It is {i + 7}.",
        }
        for i in range(n)
    ]


# ------------------------------------------------------------------------------------------------ tests


def test_documented_config_is_what_verl_reads(judge: FakeLLMServer, tokenizer_dir: Path) -> None:
    config = compose(judge_url=judge.base_url, tokenizer_dir=tokenizer_dir)
    from verl.trainer.ppo.reward import get_custom_reward_fn

    crf = config.reward.custom_reward_function
    assert crf.path == "pkg://judgekit.reward.verl"
    assert crf.reward_kwargs.base_url == judge.base_url
    assert config.custom_reward_function.path is None  # the legacy top-level block main_ppo ignores
    assert config.algorithm.adv_estimator == "judgekit_grpo"
    fn = get_custom_reward_fn(config)  # verl's own loader, as its reward workers call it
    assert fn is not None


def test_reward_loop_scores_on_the_last_token(judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None) -> None:
    import torch

    config = compose(judge_url=judge.base_url, tokenizer_dir=tokenizer_dir)
    items = samples(6, tag="placement ")
    batch = make_batch(tokenizer_dir, items)
    judge.reset()
    out = run_reward_loop(config, batch)

    scores = out.batch["rm_scores"]
    assert scores.shape == batch.batch["responses"].shape
    p_len = batch.batch["prompts"].shape[1]
    last = batch.batch["attention_mask"][:, p_len:].sum(dim=1) - 1
    rows = torch.arange(len(items))
    expected = torch.tensor([1.0 if i % 2 == 0 else 0.0 for i in range(len(items))])
    assert torch.equal(scores[rows, last], expected)
    assert scores.sum().item() == expected.sum().item()  # nothing anywhere else
    assert judge.count("/v1/chat/completions") == len(items)
    assert list(out.non_tensor_batch["judge_ok"]) == [True] * len(items)
    assert set(out.meta_info["reward_extra_keys"]) >= {"score", "judge_ok", "source", "latency_s"}
    sent = " ".join(str(m["content"]) for r in judge.requests if r.json for m in r.json["messages"])
    assert "placement What is 0 plus one?" in sent  # the question reached the judge


def test_judgekit_reward_manager_gives_the_judge_the_question(
    judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None
) -> None:
    """A dataset whose extra_info has no question (verl's stock preprocessors): the documented
    ``reward.reward_manager.name=judgekit`` takes it from the prompt."""
    config = compose(judge_url=judge.base_url, tokenizer_dir=tokenizer_dir)
    assert config.reward.reward_manager.name == "judgekit"
    items = [{**s, "extra_info": {"index": i}} for i, s in enumerate(samples(2, tag="no-question "))]
    judge.reset()
    out = run_reward_loop(config, make_batch(tokenizer_dir, items))
    assert out.batch["rm_scores"].sum(dim=-1).tolist() == [1.0, 0.0]
    sent = " ".join(str(m["content"]) for r in judge.requests if r.json for m in r.json["messages"])
    assert "no-question What is 0 plus one?" in sent and "no-question What is 1 plus one?" in sent


def test_async_path_overlaps_judgements_the_sync_path_cannot(
    judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None
) -> None:
    """64 samples at 200 ms: the async twin puts them all in flight at once; the sync function is limited
    by verl's thread pool. The judge holds the async twin's replies until 32 are in flight, so a busy machine
    that sends slowly still shows its overlap. (The times are printed by benchmarks/verl_reward_loop.py.)"""
    n = 64
    in_flight = {}
    for name in ("acompute_score", "compute_score"):
        config = compose(
            f"reward.custom_reward_function.name={name}",
            "+reward.custom_reward_function.reward_kwargs.use_cache=false",
            judge_url=judge.base_url,
            tokenizer_dir=tokenizer_dir,
        )
        judge.reset()
        if name == "acompute_score":
            judge.hold_until_in_flight(32)
        out = run_reward_loop(config, make_batch(tokenizer_dir, samples(n, tag=name)))
        assert out.batch["rm_scores"].sum().item() == n // 2
        in_flight[name] = judge.max_in_flight
    assert in_flight["acompute_score"] >= 32, in_flight
    assert in_flight["compute_score"] <= 8, in_flight  # verl's run_in_executor pool: min(32, cpus + 4)


def test_plugin_registers_the_estimator_on_import_verl() -> None:
    code = (
        "import sys, verl\n"
        "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY\n"
        "print('judgekit_grpo' in ADV_ESTIMATOR_REGISTRY)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_failed_judgement_trains_through_verls_advantage_step(
    judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None
) -> None:
    import torch
    from verl.trainer.ppo.metric_utils import compute_data_metrics
    from verl.trainer.ppo.ray_trainer import compute_advantage

    # two GRPO groups of four; the judge gives no verdict for one sample of group "a"
    items = []
    for uid in ("a", "b"):
        for k in range(4):
            right = k % 2 == 0
            text = f"Group {uid}: the answer is {k}" + (", right." if right else ".")
            if uid == "a" and k == 1:
                text = f"Group a: {UNJUDGEABLE} answer {k}."
            items.append(
                {"question": f"Group {uid}: what is one plus {k}?", "answer": str(k + 1), "response": text, "uid": uid}
            )
    config = compose(
        "reward.custom_reward_function.reward_kwargs.fallback_to_rule=false",
        "+reward.custom_reward_function.reward_kwargs.max_retries=0",
        judge_url=judge.base_url,
        tokenizer_dir=tokenizer_dir,
    )
    batch = make_batch(tokenizer_dir, items)
    out = run_reward_loop(config, batch)
    rewards = out.batch["rm_scores"]
    sums = rewards.sum(dim=-1)
    assert math.isnan(sums[1].item()), sums  # the honest per-sample answer
    assert not out.non_tensor_batch["judge_ok"][1]
    assert all(math.isfinite(s) for i, s in enumerate(sums.tolist()) if i != 1)

    p_len = batch.batch["prompts"].shape[1]
    batch.batch["response_mask"] = batch.batch["attention_mask"][:, p_len:]

    def advantage_step(data: Any, estimator: str) -> Any:
        data.batch["token_level_scores"] = data.batch["token_level_rewards"] = data.batch["rm_scores"]
        return compute_advantage(
            data,
            adv_estimator=estimator,
            gamma=config.algorithm.gamma,
            lam=config.algorithm.lam,
            num_repeat=4,
            norm_adv_by_std_in_grpo=config.algorithm.norm_adv_by_std_in_grpo,
            config=config.algorithm,
        )

    plain = batch.select_idxs(list(range(8)))
    plain.batch["rm_scores"] = rewards.clone()
    plain = advantage_step(plain, "grpo")  # verl's own GRPO: the whole group goes NaN
    assert torch.isnan(plain.batch["advantages"][:4]).any()

    batch.batch["rm_scores"] = rewards.clone()
    data = advantage_step(batch, config.algorithm.adv_estimator)  # judgekit_grpo, from the config
    adv = data.batch["advantages"]
    assert torch.isfinite(adv).all()
    assert torch.count_nonzero(adv[1]) == 0

    others = [0, 2, 3, 4, 5, 6, 7]
    without = batch.select_idxs(others)
    without.batch["rm_scores"] = rewards[others].clone()
    reference = advantage_step(without, "grpo")  # GRPO as if the failed sample had never been there
    assert torch.allclose(adv[others], reference.batch["advantages"])

    metrics = compute_data_metrics(data, use_critic=False)
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)), metrics
    assert metrics["critic/score/mean"] == pytest.approx(sums[others].mean().item())


def test_legacy_batch_reward_manager_gets_the_batch_shape(judge: FakeLLMServer, tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.batch import BatchRewardManager

    config = compose(
        "reward.custom_reward_function.name=compute_score", judge_url=judge.base_url, tokenizer_dir=tokenizer_dir
    )
    manager = BatchRewardManager(
        AutoTokenizer.from_pretrained(tokenizer_dir), num_examine=0, compute_score=get_custom_reward_fn(config)
    )
    batch = make_batch(tokenizer_dir, samples(4, tag="legacy "))
    out = manager(batch, return_dict=True)
    assert out["reward_tensor"].sum(dim=-1).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out["reward_extra_info"]["judge_ok"] == [True] * 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_reward_router_address_is_the_judge(judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None) -> None:
    """verl serves the judge model itself and passes its router's address: with no backend configured,
    judgekit judges through it. verl's own router runs on 127.0.0.1 in front of the local server, and a
    verl reward worker built with that address (reward model enabled) scores a batch."""
    import ray
    from verl.experimental.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.router.naive_router import run_router

    port = _free_port()
    router = multiprocessing.get_context("spawn").Process(
        target=run_router, args=("127.0.0.1", port, [judge.url]), daemon=True
    )
    router.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline and router.is_alive(), "verl's router did not start"
                time.sleep(0.5)
        config = compose(
            "reward.reward_model.enable=true",
            f"reward.reward_model.model_path={tokenizer_dir}",
            judge_url=judge.base_url,
            tokenizer_dir=tokenizer_dir,
            without=("api_type", "base_url"),
        )
        assert "base_url" not in config.reward.custom_reward_function.reward_kwargs
        worker = ray.remote(RewardLoopWorker).remote(config, f"127.0.0.1:{port}")
        judge.reset()
        try:
            outputs = ray.get(worker.compute_score_batch.remote(make_batch(tokenizer_dir, samples(4, "router "))))
        finally:
            ray.kill(worker)
    finally:
        router.terminate()
        router.join(timeout=10)
    assert [o["reward_score"] for o in outputs] == [1.0, 0.0, 1.0, 0.0]
    assert judge.count("/v1/chat/completions") == 4  # through the router
    assert all(o["reward_extra_info"]["judge_ok"] for o in outputs)


def _group_samples(groups: dict[str, int], tag: str) -> list[dict[str, Any]]:
    """``{uid: members}``: member k of group g says "quality q" with q = (3k + g) % 10 + 1."""
    items = []
    for g, (uid, size) in enumerate(groups.items()):
        for k in range(size):
            q = (3 * k + g) % 10 + 1
            items.append(
                {"question": f"{tag} group {uid}: what is {g} plus one?", "answer": str(g + 1),
                 "response": f"{tag} member {k}, quality {q}", "uid": f"{tag}-{uid}", "quality": q}
            )  # fmt: skip
    return items


def test_group_reward_through_verls_reward_loop(judge: FakeLLMServer, tokenizer_dir: Path, ray_cluster: None) -> None:
    """4 groups of 8 through verl's reward loop with the cohort barrier: 4 judge requests, rewards by the judge's
    order; then a group missing one member times out and is judged with the 7 that arrived."""
    import re

    from judgekit.testing.groups import rule_judge

    config = compose(
        "reward.custom_reward_function.name=acompute_group_score",
        "+reward.custom_reward_function.reward_kwargs.group_size=8",
        "+reward.custom_reward_function.reward_kwargs.group_timeout=3",
        judge_url=judge.base_url,
        tokenizer_dir=tokenizer_dir,
    )
    assert config.reward.reward_manager.name == "judgekit"  # it passes verl's uid to the reward function
    saved = judge.default_reply
    judge.default_reply = rule_judge(lambda text: float(re.search(r"quality (\d+)", text)[1]))
    try:
        items = _group_samples({"a": 8, "b": 8, "c": 8, "d": 8}, "full")
        judge.reset()
        out = run_reward_loop(config, make_batch(tokenizer_dir, items))
        assert judge.count("/v1/chat/completions") == 4
        rewards = out.batch["rm_scores"].sum(dim=-1).tolist()
        assert rewards == [pytest.approx((s["quality"] - 1) / 9) for s in items]
        assert list(out.non_tensor_batch["group_fallback"]) == [0.0] * 32

        items = _group_samples({"a": 8, "b": 7, "c": 8, "d": 8}, "short")
        judge.reset()
        started = time.monotonic()
        out = run_reward_loop(config, make_batch(tokenizer_dir, items))
        assert time.monotonic() - started >= 3  # the short group waited for its timeout
        assert judge.count("/v1/chat/completions") == 4
        sizes = list(out.non_tensor_batch["group_size"])
        assert sizes == [8.0] * 8 + [7.0] * 7 + [8.0] * 16
        assert list(out.non_tensor_batch["group_fallback"]) == [0.0] * 8 + [1.0] * 7 + [0.0] * 16
        rewards = out.batch["rm_scores"].sum(dim=-1).tolist()
        assert rewards == [pytest.approx((s["quality"] - 1) / 9) for s in items]
    finally:
        judge.default_reply = saved

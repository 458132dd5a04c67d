"""judgekit's verl reward functions in verl 0.9's own reward loop: async twin against the sync function.

N samples go through verl's ``RewardLoopManager.compute_rm_score`` (one reward worker on a local Ray) with
the config documented in docs/reward.md, the judge being judgekit's local test server with fixed latency.
Prints each path's wall time (workers warmed up first, cache off) against one judge round-trip, and the
ratio of the two. Runs in the verl venv:

    .venv-verl/bin/python benchmarks/verl_reward_loop.py --n 64 --latency 0.2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray

from judgekit.testing.process import spawn_fake_server
from judgekit.testing.tiny_models import build_tiny_tokenizer
from judgekit.testing.verl import compose_ppo_config, documented_overrides, make_batch

ROOT = Path(__file__).resolve().parent.parent


def timed_run(name: str, base_url: str, tokenizer_dir: Path, n: int) -> float:
    from verl.experimental.reward_loop import RewardLoopManager

    overrides = [
        f"{item.split('=', 1)[0]}={base_url}" if "reward_kwargs.base_url=" in item else item
        for item in documented_overrides(ROOT / "docs" / "reward.md")
    ]
    config = compose_ppo_config(
        [
            *overrides,
            f"actor_rollout_ref.model.path={tokenizer_dir}",
            "reward.num_workers=1",
            f"reward.custom_reward_function.name={name}",
            "+reward.custom_reward_function.reward_kwargs.use_cache=false",
        ]
    )
    manager = RewardLoopManager(config)
    try:

        def batch(tag: str) -> object:
            return make_batch(
                tokenizer_dir,
                [
                    {
                        "question": f"{tag} {i}: what is {i} + 1?",
                        "answer": str(i + 1),
                        "response": f"The answer is {i + 1}.",
                    }
                    for i in range(n)
                ],
            )

        manager.compute_rm_score(batch("warm-up"))  # starts the worker and its judge
        started = time.perf_counter()
        out = manager.compute_rm_score(batch("timed"))
        wall = time.perf_counter() - started
        assert out.batch["rm_scores"].sum().item() == n, "every sample must be judged right"
        return wall
    finally:
        for worker in manager.reward_loop_workers:
            ray.kill(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, spawn_fake_server(args.latency, "1") as (_, base_url):
        tokenizer_dir = Path(tmp) / "tokenizer"
        build_tiny_tokenizer(tokenizer_dir)
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}},
        )
        try:
            walls = {
                name: timed_run(name, base_url, tokenizer_dir, args.n) for name in ("acompute_score", "compute_score")
            }
        finally:
            ray.shutdown()

    trip = args.latency
    print(f"verl reward loop: {args.n} samples, judge latency {trip * 1000:.0f} ms, 1 reward worker")
    print(
        f"  async acompute_score  {walls['acompute_score']:.3f} s   {walls['acompute_score'] / trip:.2f} round-trips"
        "  (target <= 3)"
    )
    print(f"  sync compute_score    {walls['compute_score']:.3f} s   {walls['compute_score'] / trip:.2f} round-trips")
    print(f"  sync / async          {walls['compute_score'] / walls['acompute_score']:.1f}x")


if __name__ == "__main__":
    main()

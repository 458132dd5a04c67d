"""Reward adapter throughput: N completions through JudgeRewardSystem against a judge with fixed latency.

Prints the wall time against the ideal (N / in_flight x latency), the cost of a cache hit, and the share
of items that were batched. The judge is judgekit's local OpenAI-compatible test server in a subprocess.

    python benchmarks/reward.py --n 1024 --latency 0.2 --in-flight 64
"""

from __future__ import annotations

import argparse
import time

from judgekit import SimplifiedJudge
from judgekit.reward import JudgeRewardSystem
from judgekit.testing.process import spawn_fake_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    with spawn_fake_server(args.latency, "Yes") as (_, base_url):
        judge = SimplifiedJudge(base_url=base_url, model_name="judge", max_concurrent=args.in_flight)
        system = JudgeRewardSystem(
            {
                "max_batch_size": args.batch_size,
                "batch_timeout": 0.05,
                "max_concurrent_requests": args.in_flight,
                "cache_size": 2 * args.n,
            },
            judge=judge,
        )
        system.reward("warm-up", "x", "x")
        prompts = [f"Problem {i}: what is {i} + {i}?" for i in range(args.n)]
        completions = [f"The answer is {2 * i}." for i in range(args.n)]
        answers = [str(2 * i) for i in range(args.n)]

        started = time.perf_counter()
        results = system.reward_batch(prompts, completions, answers)
        wall = time.perf_counter() - started
        assert all(r["source"] == "judge" and r["reward"] == 1.0 for r in results), "every item must be judged"
        metrics = system.get_metrics()

        started = time.perf_counter()
        cached = system.reward_batch(prompts, completions, answers)
        cached_wall = time.perf_counter() - started
        assert all(r["source"] == "cache" for r in cached)
        system.close()

    ideal = args.n / args.in_flight * args.latency
    print(
        f"reward adapter: {args.n} completions, judge latency {args.latency * 1000:.0f} ms, "
        f"{args.in_flight} in flight, batches of {args.batch_size}"
    )
    print(f"  wall time          {wall:.3f} s   ideal {ideal:.3f} s   ratio {wall / ideal:.3f}x  (target <= 1.15x)")
    print(f"  throughput         {args.n / wall:.0f} rewards/s")
    print(f"  cache hit          {cached_wall / args.n * 1e6:.1f} us per reward ({args.n} hits in {cached_wall:.3f} s)")
    print(f"  batched fraction   {metrics['batched_fraction']:.1%}  mean batch size {metrics['mean_batch_size']:.1f}")
    print(f"  latency p50/p99    {metrics['latency']['p50']:.3f} / {metrics['latency']['p99']:.3f} s")


if __name__ == "__main__":
    main()

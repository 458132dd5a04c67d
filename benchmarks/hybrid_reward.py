"""Checker throughput: N samples x 4 checker sources scored by RubricReward in the sandboxed, reused worker pool,
against the same checks run in-process (each source exec'd and called in this process, as a reward function
without a sandbox does), in one run.

Every sample has its own four sources (VerIF data carries code per sample), so each check compiles its source
once in both modes. The rubrics are code-only, so no judge request is made.

    python benchmarks/hybrid_reward.py --n 1000 --workers 4
"""

from __future__ import annotations

import argparse
import time

from judgekit import SimplifiedJudge
from judgekit.reward import RubricReward
from judgekit.reward.sandbox import CheckerPool

TEMPLATES = (
    "def check(response):\n    return len(response.split()) >= {n}\n",
    "import re\ndef check(response):\n    return len(re.findall(r'[.!?]', response)) < {n}\n",
    "def check_following(instruction, response):\n    return response.lower().count('the') >= {n} % 3\n",
    "import json\ndef check(response):\n    try:\n        json.loads(response)\n    except ValueError:\n"
    "        return {n} % 2 == 0\n    return True\n",
)


def in_process(prompt: str, response: str, source: str) -> bool:
    namespace: dict = {}
    exec(compile(source, "<checker>", "exec"), namespace)
    fn = namespace.get("check") or namespace["check_following"]
    return fn(prompt, response) if fn.__code__.co_argcount == 2 else fn(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None, help="pool size (default: min(4, CPUs))")
    args = parser.parse_args()

    prompts = [f"Write about topic {i}." for i in range(args.n)]
    responses = [f"The answer to number {i} is here. The end{'!' * (i % 3)}" for i in range(args.n)]
    rubrics = [[{"check": t.format(n=i % 7 + 1), "points": 1} for t in TEMPLATES] for i in range(args.n)]
    checks = args.n * len(TEMPLATES)

    started = time.perf_counter()
    expected = [
        sum(in_process(p, r, item["check"]) for item in rubric) / len(rubric)
        for p, r, rubric in zip(prompts, responses, rubrics, strict=True)
    ]
    in_process_s = time.perf_counter() - started

    unused_judge = SimplifiedJudge(base_url="http://127.0.0.1:9/v1", model_name="never-called")
    with CheckerPool(args.workers) as pool:
        reward = RubricReward(unused_judge, checker_pool=pool)
        started = time.perf_counter()
        reward.score("warm-up", "x", [{"check": TEMPLATES[0].format(n=1), "points": 1}] * pool.size)
        warm_s = time.perf_counter() - started
        started = time.perf_counter()
        scores = reward.score_batch(prompts, responses, rubrics)
        pool_s = time.perf_counter() - started
        isolated = pool.network_isolated

    assert [s.reward for s in scores] == expected, "the pool and in-process checks disagree"
    print(f"{args.n} samples x {len(TEMPLATES)} checker sources = {checks} checks, {pool.size} workers")
    print(f"network namespace: {isolated}; pool start ({pool.size} workers): {warm_s:.2f} s")
    print(f"in-process callables : {checks / in_process_s:10.0f} checks/s  ({in_process_s:.3f} s)")
    print(f"sandboxed pool       : {checks / pool_s:10.0f} checks/s  ({pool_s:.3f} s)")
    print(f"pool / in-process    : {in_process_s / pool_s:.3f}x the throughput")


if __name__ == "__main__":
    main()

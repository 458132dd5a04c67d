"""Endpoint pool balancing: least-outstanding-requests vs round-robin over a fast and a slow replica.

    python benchmarks/pool.py --n 1000 --concurrency 64 --latency 0.02 0.1

Two FakeLLMServers run in their own processes with different per-request latency (a lightly and a heavily
loaded replica of the same model). One judgekit judge with ``base_url=[fast, slow]`` sends the same batch of
binary judgements under each policy; every reply is checked. Printed: throughput, the share of requests per
replica, and the throughput ratio of least-outstanding to round-robin measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from judgekit import JudgeConfig, SimplifiedJudge
from judgekit.providers.vllm import VLLMJudge
from judgekit.testing.process import spawn_fake_server


async def run(policy: str, urls: list[str], n: int, concurrency: int) -> tuple[float, list[int]]:
    config = JudgeConfig(api_type="vllm", base_url=urls, model_name="m", max_concurrent=concurrency, timeout=30)
    provider = VLLMJudge(config)
    provider.pool_policy = policy  # type: ignore[assignment]
    items = [{"question": f"What is {i} + {i}?", "answer": str(2 * i), "prediction": str(2 * i)} for i in range(n)]
    async with SimplifiedJudge(judge=provider) as judge:
        await judge.aevaluate_batch("binary", items[: min(64, n)], max_concurrency=concurrency)  # warm-up
        before = [row["served"] for row in provider.pool_status()]
        started = time.perf_counter()
        results = await judge.aevaluate_batch("binary", items, max_concurrency=concurrency)
        elapsed = time.perf_counter() - started
    bad = [r for r in results if not (r["success"] and r["result"] == 1)]
    if bad:
        raise SystemExit(f"{policy}: {len(bad)} bad results, e.g. {bad[0]['error_message']}")
    served = [row["served"] - b for row, b in zip(provider.pool_status(), before, strict=True)]
    return n / elapsed, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="requests per policy")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.02, 0.1), help="fast and slow latency (s)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(spawn_fake_server(latency))[1] for latency in args.latency]
        print(f"{args.n} requests, {args.concurrency} in flight; replicas: "
              + ", ".join(f"{u} ({lat * 1000:.0f} ms)" for u, lat in zip(urls, args.latency, strict=True)))  # fmt: skip
        rates: dict[str, float] = {}
        for policy in ("round_robin", "least_outstanding"):
            rate, served = asyncio.run(run(policy, urls, args.n, args.concurrency))
            rates[policy] = rate
            shares = ", ".join(f"{s / sum(served):.0%} ({s})" for s in served)
            print(f"{policy:>18}: {rate:7.0f} req/s   share fast/slow: {shares}")
        print(f"least_outstanding / round_robin throughput: {rates['least_outstanding'] / rates['round_robin']:.2f}x")


if __name__ == "__main__":
    main()

"""Client cost of judging through a provider batch API vs live calls, on the same local server.

    python benchmarks/batch_api.py --n 10000 --provider openai

A FakeLLMServer runs in its own process (its batches end as soon as they are polled), so the numbers are
judgekit's own work: building the prompts and request lines, uploading, polling, downloading, matching by
``custom_id``, parsing, saving the state and raw results. The same binary items are judged live (64 in
flight) and through the batch API; every verdict is checked. Printed: wall time and client CPU per item for
each mode and their ratio, measured in the same run. (A real provider takes minutes to hours to end a
batch: the wall time of batch mode here is only the client's and the local server's share.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from judgekit import BatchAPIOptions, SimplifiedJudge
from judgekit.testing.process import spawn_fake_server


def _judge(provider: str, base_url: str) -> SimplifiedJudge:
    root = base_url.removesuffix("/v1")
    if provider == "anthropic":
        return SimplifiedJudge(model_name="claude-3-5-haiku", api_type="anthropic", base_url=root, api_key="k")
    if provider == "azure":
        return SimplifiedJudge(model_name="gpt-4o-mini", api_type="azure", base_url=root, api_key="k")
    return SimplifiedJudge(model_name="gpt-4o-mini", api_type="openai", base_url=base_url, api_key="k")


async def run(provider: str, base_url: str, n: int, batch: bool) -> tuple[float, float]:
    items = [{"question": f"What is {i} + {i}?", "answer": str(2 * i), "prediction": str(2 * i)} for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        options = BatchAPIOptions(state_path=os.path.join(tmp, "state.json"), poll_interval=0.05) if batch else None
        async with _judge(provider, base_url) as judge:
            wall, cpu = time.perf_counter(), time.process_time()
            results = await judge.aevaluate_batch("binary", items, max_concurrency=64, batch_api=options)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    bad = [r for r in results if not (r["success"] and r["result"] == 1)]
    if bad:
        raise SystemExit(f"{'batch' if batch else 'live'}: {len(bad)} bad results, e.g. {bad[0]['error_message']}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="items per mode")
    parser.add_argument("--provider", choices=("openai", "azure", "anthropic"), default="openai")
    args = parser.parse_args()
    with spawn_fake_server(0.0, "1") as (_, base_url):
        asyncio.run(run(args.provider, base_url, min(200, args.n), batch=False))  # warm-up
        live = asyncio.run(run(args.provider, base_url, args.n, batch=False))
        batch = asyncio.run(run(args.provider, base_url, args.n, batch=True))
    print(f"{args.n} binary items, {args.provider}")
    for name, (wall, cpu) in (("live", live), ("batch API", batch)):
        print(f"{name:>10}: wall {wall:6.2f}s   client CPU {cpu / args.n * 1e3:6.3f} ms/item")
    print(f"batch API / live client CPU per item: {batch[1] / live[1]:.2f}x")


if __name__ == "__main__":
    main()

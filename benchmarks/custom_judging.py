"""Client cost of judging in a task's own format: evaluate_custom + a task parser vs the built-in binary kind.

    python benchmarks/custom_judging.py --n 2000 --concurrency 128

Three local test servers run in their own processes (so only the client's CPU is measured): one answers
``1``, one ``0.5``, one ``<think>...</think>0.5`` (a reasoning reply, split off on the client). The same
judge sends N items through ``evaluate_batch("binary")`` (the baseline, measured in the same run), through
``evaluate_batch("custom", parse=NumberInRange(0, 1))`` and through the reasoning server; every result is
checked. Printed: wall time, client CPU per call, and the ratio of each to the baseline's CPU per call.
It also times the parsers alone against the original MM-Vet reading (``float(reply.split(" ")[0])``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import timeit

from judgekit import SimplifiedJudge
from judgekit.task_formats import BracketedVerdict, NumberInRange, PredScoreDict
from judgekit.testing.process import spawn_fake_server

THINK = "<think>The prediction names one of the two roots, so half.</think>0.5"


async def run(base_url: str, kind: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """(wall seconds, client CPU seconds, results as expected) for N items of ``kind``."""
    parse = NumberInRange(0, 1)
    if kind == "binary":
        items = [{"question": f"What is {i}+{i}?", "answer": str(2 * i), "prediction": str(2 * i)} for i in range(n)]
        expected, options = 1, {}
    else:
        items = [{"prompt": f"... | -1 <AND> -5 | x = -{i} |"} for i in range(n)]
        expected, options = 0.5, {"parse": parse}
    async with SimplifiedJudge(base_url=base_url, api_key="sk-bench", model_name="m", max_concurrent=concurrency) as j:
        await j.aevaluate_batch(kind, items[:64], max_concurrency=concurrency, **options)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        results = await j.aevaluate_batch(kind, items, max_concurrency=concurrency, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, sum(1 for r in results if r["success"] and r["result"] == expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args()

    with (
        spawn_fake_server(0.0, "1") as (_, verdict_url),
        spawn_fake_server(0.0, "0.5") as (_, score_url),
        spawn_fake_server(0.0, THINK) as (_, think_url),
    ):
        rows = [
            ("binary kind (baseline)", *asyncio.run(run(verdict_url, "binary", args.n, args.concurrency))),
            ("custom + NumberInRange", *asyncio.run(run(score_url, "custom", args.n, args.concurrency))),
            ("custom, <think> reply", *asyncio.run(run(think_url, "custom", args.n, args.concurrency))),
        ]
    base_cpu = rows[0][2] / args.n
    print(f"{args.n} calls each, concurrency {args.concurrency}")
    for name, wall, cpu, ok in rows:
        per_call = cpu / args.n
        print(f"  {name:24s} wall {wall:6.2f}s  client CPU {1e3 * per_call:6.3f} ms/call  "
              f"x{per_call / base_cpu:4.2f} of baseline  ({ok}/{args.n} as expected)")  # fmt: skip

    reps = 20000
    original = timeit.timeit(lambda: float(["0.5", "because"][0]), number=reps) / reps
    print(f"parsers alone ({reps} replies each; the original MM-Vet float(split) reading: {1e6 * original:.2f} us):")
    for name, parse, reply in [
        ("NumberInRange", NumberInRange(0, 1), "0.5\nExplanation: only x = -1 is given."),
        ("BracketedVerdict", BracketedVerdict(), "Assistant B is better. My final verdict is: [[B>A]]"),
        ("PredScoreDict", PredScoreDict(), "{'pred': 'yes', 'score': 4}"),
    ]:
        cost = timeit.timeit(lambda parse=parse, reply=reply: parse(reply), number=reps) / reps
        print(f"  {name:16s} {1e6 * cost:6.2f} us/reply  x{cost / original:5.1f} of the original reading, "
              f"x{cost / base_cpu:.4f} of a call's client CPU")  # fmt: skip


if __name__ == "__main__":
    main()

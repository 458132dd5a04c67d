"""Client throughput against a local OpenAI-compatible server: judgekit vs a bare aiohttp loop vs the openai SDK.

    python benchmarks/throughput.py --n 2000 --concurrency 128 --latency 0.05

The fake server (`python -m judgekit.testing`) runs in its own process, so its CPU does not count against
the client; client CPU is ``time.process_time()`` of this process (all its threads). Every client sends
the same binary-judgement prompts and every reply is checked; ratios are against the bare aiohttp loop
measured in the same run. Each client gets a short warm-up (connections opened, imports done) first.
The bare loop runs twice per round (``aiohttp-again``): its ratio to itself shows how far a ratio strays by
noise alone on this machine in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from judgekit.testing.process import spawn_fake_server

MODEL = "gpt-4o-2024-08-06"


def items(n: int) -> list[dict[str, str]]:
    """Binary judgements whose reference and prediction agree (the server answers "1")."""
    return [
        {"question": f"What is {i} + {i}?", "answer": str(2 * i), "prediction": f"The answer is {2 * i}."}
        for i in range(n)
    ]


def prompts(batch: list[dict[str, str]]) -> list[str]:
    from judgekit.prompts import build_prompt

    return [build_prompt("binary", {**it, "positive": "1", "negative": "0"}) for it in batch]


# ------------------------------------------------------------------------------------------------ clients


async def run_judgekit(base_url: str, batch: list[dict[str, str]], concurrency: int) -> int:
    from judgekit import SimplifiedJudge

    async with SimplifiedJudge(
        model_name=MODEL, api_type="openai", base_url=base_url, api_key="sk-bench", max_concurrent=concurrency
    ) as judge:
        results = await judge.aevaluate_batch("binary", batch, max_concurrency=concurrency)
    return sum(1 for r in results if r["success"] and r["result"] == 1)


async def run_aiohttp(base_url: str, batch: list[dict[str, str]], concurrency: int) -> int:
    import aiohttp

    texts = prompts(batch)
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    ok = 0
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(text: str) -> None:
            nonlocal ok
            payload = {
                "model": MODEL,
                "messages": [{"role": "user", "content": text}],
                "max_tokens": 1024,
                "temperature": 0.0,
            }
            async with sem, session.post(url, data=json.dumps(payload), headers=headers) as resp:
                data = json.loads(await resp.read())
            ok += data["choices"][0]["message"]["content"].strip() == "1"

        await asyncio.gather(*(one(t) for t in texts))
    return ok


async def run_openai_async(base_url: str, batch: list[dict[str, str]], concurrency: int) -> int:
    import openai

    texts = prompts(batch)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(text: str) -> None:
        nonlocal ok
        async with sem:
            reply = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}], max_tokens=1024, temperature=0.0
            )
        ok += (reply.choices[0].message.content or "").strip() == "1"

    try:
        await asyncio.gather(*(one(t) for t in texts))
    finally:
        await client.close()
    return ok


def run_lmms_habit(base_url: str, batch: list[dict[str, str]], concurrency: int) -> int:
    """lmms-eval's habit: a sync client called from ``ThreadPoolExecutor(5)``."""
    import openai

    texts = prompts(batch)
    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    def one(text: str) -> bool:
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}], max_tokens=1024, temperature=0.0
        )
        return (reply.choices[0].message.content or "").strip() == "1"

    try:
        with ThreadPoolExecutor(5) as pool:
            return sum(pool.map(one, texts))
    finally:
        client.close()


CLIENTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "judgekit": ("judgekit SimplifiedJudge.aevaluate_batch", run_judgekit),
    "aiohttp": ("bare aiohttp loop", run_aiohttp),
    "aiohttp-again": ("bare aiohttp loop again (A/A: the noise)", run_aiohttp),
    "openai": ("openai SDK AsyncOpenAI (default httpx)", run_openai_async),
    "lmms": ("lmms-eval habit: 5 threads + sync OpenAI", run_lmms_habit),
}


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server process (Linux; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def measure(key: str, base_url: str, n: int, concurrency: int, pid: int) -> tuple[float, float, float]:
    """(requests/s, client CPU ms per call, server CPU ms per call) of one client over ``n`` fresh items."""
    fn = CLIENTS[key][1]
    batch = items(n)
    started, cpu, srv = time.perf_counter(), time.process_time(), server_cpu(pid)
    ok = (
        asyncio.run(fn(base_url, batch, concurrency))
        if asyncio.iscoroutinefunction(fn)
        else fn(base_url, batch, concurrency)
    )
    wall, cpu, srv = time.perf_counter() - started, time.process_time() - cpu, server_cpu(pid) - srv
    if ok != n:
        raise SystemExit(f"{key}: only {ok}/{n} replies were judged correct")
    return n / wall, 1000 * cpu / n, 1000 * srv / n


def cache_hit_us(base_url: str, cache: str, n: int = 20_000) -> float:
    """Client CPU (microseconds) of one `JudgeInterface.aevaluate` answered from the cache."""
    from judgekit import JudgeConfig, JudgeFactory, JudgeRequest

    config = JudgeConfig(api_type="openai", base_url=base_url, api_key="sk-bench", model_name=MODEL, cache=cache)
    judge = JudgeFactory.create_judge(config=config)
    request = JudgeRequest(messages=[{"role": "user", "content": prompts(items(1))[0]}])

    async def run() -> float:
        assert not (await judge.aevaluate(request)).cached
        cpu = time.process_time()
        for _ in range(n):
            response = await judge.aevaluate(request)
        assert response.cached
        await judge.aclose()
        return (time.process_time() - cpu) / n * 1e6

    return asyncio.run(run())


# ------------------------------------------------------------------------------------------------ server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per client (default 2000)")
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight (default 128)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency in seconds (default 0.05)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=11,
        help="rounds per async client (the openai SDK: at most 3); the median is shown (default 11; read the "
        "ratios against the A/A row, which strays a few percent from 1.00x by noise alone)",
    )
    parser.add_argument("--only", default=",".join(CLIENTS), help=f"comma-separated subset of {','.join(CLIENTS)}")
    args = parser.parse_args(argv)
    chosen = [c for c in CLIENTS if c in args.only.split(",")]
    for always in ("aiohttp-again", "aiohttp"):  # the baseline, and the baseline against itself: the noise floor
        if always not in chosen:
            chosen.insert(0, always)

    rows: dict[str, list[tuple[float, float, float]]] = {c: [] for c in chosen}
    with spawn_fake_server(args.latency) as (proc, base_url):
        for key in chosen:  # warm-up: imports, first connections
            measure(key, base_url, min(args.n, 200 if key != "lmms" else 20), args.concurrency, proc.pid)
        for _ in range(args.rounds):  # interleaved, so a noisy neighbour hurts every client alike
            for key in chosen:
                if (key == "lmms" and rows[key]) or (key == "openai" and len(rows[key]) >= 3):
                    continue  # slow and far behind: a round or three tell the ratio
                rows[key].append(measure(key, base_url, args.n, args.concurrency, proc.pid))
        with tempfile.TemporaryDirectory() as tmp:
            hits = {"memory": cache_hit_us(base_url, "memory"), "sqlite": cache_hit_us(base_url, f"{tmp}/c.sqlite")}

    def med(key: str, i: int) -> float:
        return statistics.median(r[i] for r in rows[key])

    def paired(key: str) -> list[float]:
        """The client's rate over bare aiohttp's in each round (they run back to back, so a noisy moment
        hurts both sides of a pair alike)."""
        return sorted(r[0] / b[0] for r, b in zip(rows[key], rows["aiohttp"], strict=False))

    base_cpu = med("aiohttp", 1)
    print(
        f"n={args.n} concurrency={args.concurrency} latency={args.latency * 1000:g} ms "
        f"rounds={args.rounds} (median) python={sys.version.split()[0]} cpus={os.cpu_count()}"
    )
    print(
        f"{'client':<44} {'req/s':>7} {'client CPU ms/call':>19} {'rate vs aiohttp':>16} "
        f"{'(rounds: min-max)':>18} {'CPU vs aiohttp':>15} {'server CPU ms/call':>19}"
    )
    for key in chosen:
        rate, cpu, srv = med(key, 0), med(key, 1), med(key, 2)
        ratios = paired(key)
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        print(
            f"{CLIENTS[key][0]:<44} {rate:7.0f} {cpu:19.3f} {statistics.median(ratios):15.2f}x {spread:>18} "
            f"{cpu / base_cpu:14.2f}x {srv:19.3f}"
        )
    print(
        f"cache hit (JudgeInterface.aevaluate, client CPU): memory {hits['memory']:.1f} us, "
        f"sqlite {hits['sqlite']:.1f} us"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Group judging cost per GRPO step: pointwise vs listwise vs tournament at G = 4, 8, 16.

One step is ``--prompts`` prompts x G completions. Pointwise judges each completion alone (one request
each), listwise each group in one request, tournament every pair of a group in both orders. The judge is
judgekit's local test server with a fixed latency per request and per prompt token (prefill), replying by
a rule, so all three are judged by the same server. Prints requests, prompt tokens (whitespace words, as
the server counts them) and wall time per step, and each against pointwise at the same G.

    python benchmarks/group_reward.py --prompts 8 --latency 0.05 --per-token 0.0001
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time

from judgekit import SimplifiedJudge
from judgekit.testing import FakeLLMServer
from judgekit.testing.groups import prompt_of, rule_judge

WORDS = ("the", "answer", "follows", "from", "the", "definition", "so", "we", "add", "two", "numbers",
         "and", "check", "the", "result", "again")  # fmt: skip


def quality(text: str) -> float:
    return float(re.search(r"quality (\d+)", text)[1])


def step(prompts: int, g: int, words: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """``prompts`` groups: a question and ``g`` completions of about ``words`` words."""
    return [
        (
            f"Problem {p}: a word problem about adding two numbers, stated in about twenty words of text here.",
            [f"quality {rng.randint(1, 10)} " + " ".join(rng.choices(WORDS, k=words)) for _ in range(g)],
        )
        for p in range(prompts)
    ]


async def judge_step(judge: SimplifiedJudge, kind: str, groups: list[tuple[str, list[str]]]) -> None:
    if kind == "pointwise":
        items = [{"question": q, "response": r} for q, rs in groups for r in rs]
        results = await judge.aevaluate_batch("pointwise", items)
    else:
        per_group = await asyncio.gather(*(judge.aevaluate_group(q, rs, kind=kind) for q, rs in groups))
        results = [r for group in per_group for r in group]
    failed = sum(not r["success"] for r in results)
    if failed:
        raise RuntimeError(f"{kind}: {failed} failed judgements")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (default 8)")
    parser.add_argument("--sizes", default="4,8,16", help="group sizes G (default 4,8,16)")
    parser.add_argument("--words", type=int, default=80, help="words per completion (default 80)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request (default 0.05)")
    parser.add_argument("--per-token", type=float, default=0.0001, help="seconds per prompt token (default 1e-4)")
    parser.add_argument("--in-flight", type=int, default=64, help="requests in flight (default 64)")
    args = parser.parse_args()

    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(0)
    server = FakeLLMServer(latency=args.latency, latency_per_token=args.per_token, default_reply=rule_judge(quality))
    with server:
        judge = SimplifiedJudge(base_url=server.base_url, model_name="judge", max_concurrent=args.in_flight)
        await judge.aevaluate_pointwise("warm-up", "quality 1 x")
        await judge.aevaluate_group("warm-up", ["quality 1 x", "quality 2 y"], kind="tournament")  # imports choix
        print(f"{args.prompts} prompts per step; {args.latency * 1000:g} ms per request + "
              f"{args.per_token * 1e6:g} us per prompt token; {args.in_flight} requests in flight")  # fmt: skip
        print(f"{'G':>3} {'kind':<11} {'requests':>8} {'prompt tok':>10} {'wall s':>7} "
              f"{'req x':>7} {'tok x':>7} {'wall x':>7}")  # fmt: skip
        for g in (int(x) for x in args.sizes.split(",")):
            groups = step(args.prompts, g, args.words, rng)
            base: tuple[int, int, float] | None = None
            for kind in ("pointwise", "listwise", "tournament"):
                server.reset()
                started = time.perf_counter()
                await judge_step(judge, kind, groups)
                wall = time.perf_counter() - started
                requests = server.count("/v1/chat/completions")
                tokens = sum(len(prompt_of(r).split()) for r in server.requests)
                base = base or (requests, tokens, wall)
                print(f"{g:>3} {kind:<11} {requests:>8} {tokens:>10} {wall:>7.2f} "
                      f"{requests / base[0]:>7.2f} {tokens / base[1]:>7.2f} {wall / base[2]:>7.2f}")  # fmt: skip
        await judge.aclose()


if __name__ == "__main__":
    main()

"""Decision backend against chat completions, on the same CPU vLLM and the same items.

    python benchmarks/decisions.py                      # starts a vLLM (.venv-vllm) serving a tiny Qwen3
    python benchmarks/decisions.py --url http://127.0.0.1:8000 --n 200 --rubric-items 40

One vLLM server (``--logprobs-mode raw_logprobs``, so ``/v1/systemone`` is on) answers both paths:

- binary, decisions: ``SimplifiedJudge(api_type="systemone")``: P(yes) read from one forward pass per item;
- binary, chat: ``SimplifiedJudge(api_type="vllm", logprob_score=True)``: the verdict generated as text and parsed,
  P(yes) from its token logprobs; once free (``max_tokens=8``, what a prompt-only judge gets from this model) and
  once constrained to "1"/"0" by vLLM's structured outputs (the fair baseline: it always parses);
- a 5-criterion rubric: one ``/v1/systemone`` request (five score questions) against five chat requests (one
  criterion each, the reply constrained to ``{"criterion": N}``).

Each path runs once to warm up, then ``--rounds`` times interleaved with the others; the median wall time counts.
Reported per path: requests/s, judgements/s, parse failures, other failures, prompt and completion tokens per
judgement, and the ratios against the chat baseline measured in the same run. The model (hidden 128, 2 layers)
is trained for a few seconds to answer "yes" to anything, so the numbers measure the serving path, not judging
quality; with a real judge model the forward pass weighs more and the generated tokens of the chat path cost more.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgekit import SimplifiedJudge

ROOT = Path(__file__).resolve().parent.parent
CHOICE = {"structured_outputs": {"choice": ["1", "0"]}}
CRITERIA = {"accuracy": "is it right", "clarity": "is it clear", "depth": "", "brevity": "", "tone": ""}


def binary_items(n: int) -> list[dict[str, str]]:
    return [
        {
            "question": f"What is {i} + {i}?",
            "answer": str(2 * i),
            "prediction": f"The answer is {2 * i + (i % 3 == 0)}.",
        }
        for i in range(n)
    ]


def rubric_items(n: int) -> list[dict[str, Any]]:
    return [{"question": f"Explain item {i}.", "prediction": f"Item {i} maps names to addresses."} for i in range(n)]


def row(label: str, wall: float, requests: int, judgements: int, results: list[Any]) -> dict[str, Any]:
    return {
        "path": label,
        "wall_s": wall,
        "requests_per_s": requests / wall,
        "judgements_per_s": judgements / wall,
        "parse_failures": sum(r.get("error_type") == "ParseError" for r in results),
        "other_failures": sum(not r["success"] and r.get("error_type") != "ParseError" for r in results),
        "prompt_tokens": sum(r["usage"]["prompt_tokens"] for r in results) / judgements,
        "completion_tokens": sum(r["usage"]["completion_tokens"] for r in results) / judgements,
    }


def chat_judge(url: str, **config: Any) -> SimplifiedJudge:
    return SimplifiedJudge(api_type="vllm", base_url=url, timeout=300, retry_delay=0.2, **config)


def paths(url: str, n: int, n_rubric: int, concurrency: int) -> dict[str, Callable[[], tuple[int, int, list[Any]]]]:
    """Each path: a call that judges its items and returns (requests sent, judgements made, results)."""
    binary = binary_items(n)
    decisions = SimplifiedJudge(api_type="systemone", base_url=url, timeout=300, retry_delay=0.2)
    free = chat_judge(url, logprob_score=True, max_tokens=8)
    constrained = chat_judge(url, logprob_score=True, max_tokens=8, extra_body=CHOICE)
    items = rubric_items(n_rubric)
    per_criterion = {name: [{**item, "rubric": {name: text}} for item in items] for name, text in CRITERIA.items()}
    graders = {
        name: chat_judge(
            url, max_tokens=16, extra_body={"structured_outputs": {"regex": f'\\{{"{name}": ([1-9]|10)\\}}'}}
        )
        for name in CRITERIA
    }

    def batch(judge: SimplifiedJudge, kind: str, todo: list[dict[str, Any]]) -> list[Any]:
        return judge.evaluate_batch(kind, todo, max_concurrency=concurrency)

    def chat_rubric() -> tuple[int, int, list[Any]]:
        results = [r for name, judge in graders.items() for r in batch(judge, "rubric", per_criterion[name])]
        return len(results), len(results), results

    return {
        "binary  chat, free text": lambda: (n, n, batch(free, "binary", binary)),
        "binary  chat, constrained (baseline)": lambda: (n, n, batch(constrained, "binary", binary)),
        "binary  decisions /v1/systemone": lambda: (n, n, batch(decisions, "binary", binary)),
        "rubric5 chat, 5 requests (baseline)": chat_rubric,
        "rubric5 decisions, 1 request": lambda: (
            n_rubric,
            n_rubric * len(CRITERIA),
            batch(decisions, "rubric", [{**i, "rubric": CRITERIA} for i in items]),
        ),
    }


def benchmark(url: str, n: int, n_rubric: int, concurrency: int, rounds: int) -> list[dict[str, Any]]:
    """Every path ``rounds`` times, interleaved (round 1 of each, then round 2, ...); the median wall time counts."""
    todo = paths(url, n, n_rubric, concurrency)
    for call in todo.values():  # warm up: connections, model discovery, compiled grammars
        call()
    walls: dict[str, list[float]] = {label: [] for label in todo}
    last: dict[str, tuple[int, int, list[Any]]] = {}
    for _ in range(rounds):
        for label, call in todo.items():
            started = time.perf_counter()
            last[label] = call()
            walls[label].append(time.perf_counter() - started)
    return [row(label, statistics.median(walls[label]), *last[label]) for label in todo]


def report(rows: list[dict[str, Any]]) -> None:
    print(f"{'path':38} {'req/s':>8} {'judg/s':>8} {'parse_fail':>10} {'failed':>6} {'in_tok/j':>9} {'out_tok/j':>9}")
    for r in rows:
        print(
            f"{r['path']:38} {r['requests_per_s']:8.1f} {r['judgements_per_s']:8.1f} {r['parse_failures']:10d} "
            f"{r['other_failures']:6d} {r['prompt_tokens']:9.1f} {r['completion_tokens']:9.2f}"
        )
    by = {r["path"]: r for r in rows}
    for kind, baseline in (
        ("binary", "binary  chat, constrained (baseline)"),
        ("rubric5", "rubric5 chat, 5 requests (baseline)"),
    ):
        base = by[baseline]
        for r in rows:
            if r["path"].startswith(kind) and r is not base:
                speed = r["judgements_per_s"] / base["judgements_per_s"]
                tokens = r["completion_tokens"] / max(base["completion_tokens"], 1e-9)
                print(f"ratio {r['path']:38} vs baseline: judgements/s x{speed:.2f}, output tokens x{tokens:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running vLLM (root URL) started with --logprobs-mode raw_logprobs")
    parser.add_argument("--n", type=int, default=200, help="binary items (default 200)")
    parser.add_argument("--rubric-items", type=int, default=40, help="items judged on the 5-criterion rubric")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per path, interleaved; the median counts")
    args = parser.parse_args()
    if args.url:
        report(benchmark(args.url, args.n, args.rubric_items, args.concurrency, args.rounds))
        return
    from judgekit.testing.tiny_models import build_tiny_qwen3
    from judgekit.testing.vllm import serve_vllm

    with tempfile.TemporaryDirectory() as work:
        model = build_tiny_qwen3(Path(work) / "tiny-qwen3", reply="yes")
        started = time.perf_counter()
        with serve_vllm(
            model, python=ROOT / ".venv-vllm" / "bin" / "python", log_path=Path(work) / "vllm.log",
            args=["--logprobs-mode", "raw_logprobs"],
        ) as url:  # fmt: skip
            print(f"# vLLM (tiny Qwen3, CPU) ready in {time.perf_counter() - started:.0f}s at {url}")
            report(benchmark(url, args.n, args.rubric_items, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()

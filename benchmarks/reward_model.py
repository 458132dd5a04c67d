"""A reward model (``api_type="reward_model"``) against a generative judge, on CPU vLLM and the same items.

    python benchmarks/reward_model.py                  # starts the servers from .venv-vllm, one after the other
    python benchmarks/reward_model.py --n 400 --concurrency 64
    python benchmarks/reward_model.py --rm-url http://127.0.0.1:8000 --rm-model /path/to/reward-model

A pooling runner cannot generate, so two vLLM servers of the same tiny size (Qwen2, hidden 64, 2 layers) serve
the two sides, one after the other on the same machine: a ``Qwen2ForSequenceClassification`` (one label) with
``--runner pooling --convert classify``, and a ``Qwen2ForCausalLM`` with random weights whose pointwise reply is
constrained to ``<score>N</score>`` by vLLM's structured outputs (so it always parses; the baseline).

Pointwise judgements of the same N items through each path:

- ``/classify`` with ``messages``: the server applies the chat template, one conversation per request;
- ``/classify`` with ``tokens``: each conversation rendered by the server's ``/tokenize``, then up to
  ``--batch-size`` token lists per ``/classify`` request;
- ``/classify`` with ``text``: rendered here with the model's chat template, up to ``--batch-size`` per request;
- ``/pooling`` with ``tokens``;
- the generative judge's chat completions (baseline).

Each path runs once to warm up, then ``--rounds`` times interleaved; the median wall time counts. Reported:
judgements/s, HTTP requests per judgement (scoring and rendering requests counted separately), failures, the
largest difference of a path's scores from the ``messages`` path's (they must agree), and ratios against the
baseline and against ``messages`` measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from judgekit import SimplifiedJudge

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
SCORE = {"structured_outputs": {"regex": "<score>([1-9]|10)</score>"}}


def items(n: int) -> list[dict[str, str]]:
    return [{"question": f"What is {i} + {i}?", "response": f"The answer is {2 * i + (i % 3 == 0)}."} for i in range(n)]


def counted(judge: SimplifiedJudge) -> Counter[str]:
    """Count the HTTP requests the judge's provider sends, by path."""
    transport, calls = judge.judge._transport, Counter()  # type: ignore[attr-defined]
    send = transport.request_json

    async def request_json(method: str, url: str, **kwargs: Any) -> Any:
        calls[url.rsplit("/", 1)[-1]] += 1
        return await send(method, url, **kwargs)

    transport.request_json = request_json
    return calls


def run(paths: dict[str, tuple[SimplifiedJudge, Counter[str]]], todo: list[dict[str, str]], concurrency: int,
        rounds: int) -> list[dict[str, Any]]:  # fmt: skip
    walls: dict[str, list[float]] = {label: [] for label in paths}
    last: dict[str, list[Any]] = {}
    for judge, _ in paths.values():  # warm up: connections, the served-model lookup, compiled grammars
        judge.evaluate_batch("pointwise", todo[:8], max_concurrency=concurrency)
    for calls in (c for _, c in paths.values()):
        calls.clear()
    for _ in range(rounds):
        for label, (judge, _) in paths.items():
            started = time.perf_counter()
            last[label] = judge.evaluate_batch("pointwise", todo, max_concurrency=concurrency)
            walls[label].append(time.perf_counter() - started)
    rows = []
    for label, (_, calls) in paths.items():
        wall, results = statistics.median(walls[label]), last[label]
        scoring = sum(v for k, v in calls.items() if k != "tokenize") / rounds
        rows.append({
            "path": label, "wall_s": wall, "judgements_per_s": len(todo) / wall,
            "judgements_per_request": len(todo) / scoring if scoring else float("nan"),
            "tokenize_per_judgement": calls["tokenize"] / rounds / len(todo),
            "failed": sum(not r.success for r in results), "scores": [r.scores for r in results],
            "first_error": next((r.error_message for r in results if not r.success), None),
        })  # fmt: skip
    return rows


def reward_paths(url: str, model: Path, batch_size: int, concurrency: int) -> dict[str, Any]:
    def judge(endpoint: str, form: str) -> tuple[SimplifiedJudge, Counter[str]]:
        j = SimplifiedJudge(
            api_type="reward_model", base_url=url, model_name="rm", timeout=300, max_concurrent=concurrency,
            reward_model_endpoint=endpoint, reward_model_input=form, reward_model_tokenizer=str(model),
            reward_model_batch_size=batch_size,
        )  # fmt: skip
        return j, counted(j)

    return {
        "reward_model /classify messages": judge("classify", "messages"),
        "reward_model /classify tokens": judge("classify", "tokens"),
        "reward_model /classify text": judge("classify", "text"),
        "reward_model /pooling tokens": judge("pooling", "tokens"),
    }


def report(rows: list[dict[str, Any]]) -> None:
    by = {r["path"]: r for r in rows}
    reference = by["reward_model /classify messages"]["scores"]
    print(f"{'path':42} {'judg/s':>8} {'judg/req':>9} {'tokenize/j':>10} {'failed':>6} {'max |diff|':>10}")
    for r in rows:
        diff = "-"
        if r["path"].startswith("reward_model"):
            diff = f"{max(abs(a - b) for a, b in zip(r['scores'], reference, strict=True)):.1e}"
        print(f"{r['path']:42} {r['judgements_per_s']:8.1f} {r['judgements_per_request']:9.1f} "
              f"{r['tokenize_per_judgement']:10.2f} {r['failed']:6d} {diff:>10}")  # fmt: skip
        if r["first_error"]:
            print(f"  first failure: {r['first_error'][:300]}")
    base = by.get("generative vllm chat <score>N</score> (baseline)")
    messages = by["reward_model /classify messages"]
    for r in rows:
        if r["path"].startswith("reward_model"):
            speed = r["judgements_per_s"] / messages["judgements_per_s"]
            line = f"ratio {r['path']:42} judgements/s x{speed:.2f} vs messages"
            if base is not None:
                line += f", x{r['judgements_per_s'] / base['judgements_per_s']:.2f} vs the generative baseline"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="pointwise items (default 200)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64, help="conversations per request (tokens, text)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rm-url", help="a running pooling vLLM serving the reward model as 'rm' (root URL)")
    parser.add_argument("--rm-model", help="the reward model's directory (its tokenizer renders input='text')")
    args = parser.parse_args()
    from judgekit.testing.tiny_models import build_tiny_qwen2, build_tiny_reward_model
    from judgekit.testing.vllm import serve_vllm

    todo = items(args.n)
    with tempfile.TemporaryDirectory() as work:
        if args.rm_url:
            rows = run(reward_paths(args.rm_url, Path(args.rm_model), args.batch_size, args.concurrency), todo,
                       args.concurrency, args.rounds)  # fmt: skip
        else:
            reward_model = build_tiny_reward_model(Path(work) / "rm", prefer="banana")
            started = time.perf_counter()
            pooling = ["--runner", "pooling", "--convert", "classify"]
            with serve_vllm(reward_model, python=VLLM_PYTHON, log_path=Path(work) / "rm.log", served_name="rm",
                            args=pooling, startup_timeout=900) as url:  # fmt: skip
                print(f"# vLLM pooling (tiny Qwen2 reward model, CPU) ready in {time.perf_counter() - started:.0f}s")
                rows = run(reward_paths(url, reward_model, args.batch_size, args.concurrency), todo,
                           args.concurrency, args.rounds)  # fmt: skip
        generator = build_tiny_qwen2(Path(work) / "gen", steps=0)
        started = time.perf_counter()
        with serve_vllm(generator, python=VLLM_PYTHON, log_path=Path(work) / "gen.log", startup_timeout=900) as url:
            print(f"# vLLM generate (tiny Qwen2, same size, CPU) ready in {time.perf_counter() - started:.0f}s")
            chat = SimplifiedJudge(api_type="vllm", base_url=url, timeout=300, max_tokens=16, extra_body=SCORE,
                                   max_concurrent=args.concurrency)  # fmt: skip
            rows += run({"generative vllm chat <score>N</score> (baseline)": (chat, counted(chat))}, todo,
                        args.concurrency, args.rounds)  # fmt: skip
    report(rows)


if __name__ == "__main__":
    main()

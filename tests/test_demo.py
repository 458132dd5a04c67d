"""`judgekit demo`, the README's main job: rules judge on the labelled sample, then the in-process model path."""

from __future__ import annotations

import subprocess
import sys

from judgekit.demo import load_sample
from judgekit.testing.tiny_models import build_tiny_qwen2


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "judgekit.cli", "demo", *args], capture_output=True, text=True, timeout=300
    )


def test_sample_is_labelled() -> None:
    sample = load_sample()
    assert len(sample) >= 20 and {row["label"] for row in sample} == {0, 1}
    assert all({"id", "question", "answer", "prediction", "label"} <= set(row) for row in sample)


def test_demo_rules_part() -> None:
    out = run_demo("--no-model")
    assert out.returncode == 0, out.stderr
    assert "rules judge" in out.stdout and "agreement with labels: 24/25 = 96%" in out.stdout
    assert "failed to judge: 0" in out.stdout


def test_demo_in_process_model_path(tmp_path) -> None:
    model = build_tiny_qwen2(tmp_path / "tiny")
    out = run_demo("--model", str(model), "-n", "6")
    assert out.returncode == 0, out.stderr
    assert "DEMO MODEL" in out.stdout and "ranking quality of p(yes)" in out.stdout
    assert out.stdout.count("p(yes)=") == 6

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
    for flag in ("--no-model", "--section=rules"):
        out = run_demo(flag)
        assert out.returncode == 0, out.stderr
        assert "rules judge" in out.stdout and "agreement with labels: 24/25 = 96%" in out.stdout
        assert "failed to judge: 0" in out.stdout and "model judge" not in out.stdout


def test_demo_model_section_marks_open_ended_items(tmp_path) -> None:
    """The model section (scripts/demo.sh runs it after the rules section) on a tiny local model: every item
    judged with its p(yes), the rules judge's verdict beside it, the open-ended items marked and counted."""
    model = build_tiny_qwen2(tmp_path / "tiny")
    out = run_demo("--section", "model", "--model", str(model))
    assert out.returncode == 0, out.stderr
    assert "rules judge (deterministic" not in out.stdout and "in-process model judge" in out.stdout
    assert out.stdout.count("p(yes)=") == 25 and "ranking quality of p(yes)" in out.stdout
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  ") and "label=" in line}
    assert [name for name, line in lines.items() if line.endswith("open-ended")] == [f"text-{i}" for i in range(1, 6)]
    assert "rules=0" in lines["text-5"] and "rules=1" in lines["num-1"]
    assert "on the 5 open-ended items (the rules judge only compares words): model " in out.stdout
    assert "rules 4/5" in out.stdout and "agreement with the rules judge: " in out.stdout

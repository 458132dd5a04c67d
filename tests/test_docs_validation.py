"""docs/validation.md: every Python snippet runs (the jury and self-consistency ones against local servers), and
the numbers the page states are the ones the code gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from judgekit.testing import FakeLLMServer

DOC = Path(__file__).resolve().parent.parent / "docs" / "validation.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    servers = [FakeLLMServer(default_reply="1").start() for _ in range(3)]
    try:
        namespace: dict = {}
        blocks = snippets()
        assert len(blocks) >= 6
        for block in blocks:
            for i, server in enumerate(servers, start=1):
                block = block.replace(f"http://gpu{i}:8000/v1", server.base_url)
            exec(compile(block, str(DOC), "exec"), namespace)  # the documentation's own code
        jury_result = namespace["jury"].evaluate_binary("What is 2+2?", "4", "The answer is 4.")
        assert (jury_result.result, jury_result.agreement, jury_result.n_votes) == (1, 1.0, 3)
        sampled = namespace["r"]  # the self-consistency result, the last `r` of the page
        assert len(sampled.votes) == 5 and sampled.result == 1
        assert [req.json["temperature"] for req in servers[0].requests].count(0.7) == 5  # sampled at 0.7
    finally:
        for server in servers:
            server.stop()
    report = namespace["report"]
    assert report.metrics["accuracy"].value == pytest.approx(0.912, abs=5e-4)
    assert (tmp_path / "report.html").exists() and (tmp_path / "calibrator.json").exists()
    estimate = namespace["ppi_mean"](
        namespace["judged_unlabelled"], namespace["judged_labelled"], namespace["human_labels"]
    )
    classical = namespace["classical_mean"](namespace["human_labels"])
    assert estimate.ci_high - estimate.ci_low < classical.ci_high - classical.ci_low


def test_stated_rules_numbers_match(tmp_path):
    from judgekit import SimplifiedJudge
    from judgekit.validation import load_sample, validate

    rows = load_sample("binary", part="closed")
    report = validate(SimplifiedJudge(api_type="rules"), "binary", rows, [r["label"] for r in rows], n_resamples=200)
    text = DOC.read_text()
    assert f"agrees on {100 * report.metrics['accuracy'].value:.1f}%" in text
    assert f"kappa {report.metrics['cohen_kappa'].value:.3f}" in text
    assert f"TPR {report.metrics['tpr'].value:.3f}" in text

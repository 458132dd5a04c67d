"""Bias probes against the local server: a judge with a known length bias is caught at its known share, an
unbiased one shows no flips; the ``judgekit probe`` command writes the same report."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.bias import PROBE_KEYS, REPORT_KEYS, probe
from judgekit.errors import ConfigError
from judgekit.testing import FakeLLMServer, RecordedRequest
from judgekit.testing.groups import prompt_of

pytest.importorskip("statsmodels")

SHARE = 0.3
N = 200
_PAIR = re.compile(r"\[Response ([AB])\]\n(.*?)\n\[End of Response \1\]", re.S)


def items() -> list[dict[str, str]]:
    """Response 1 is right and a little longer; response 2 is wrong."""
    return [
        {"question": f"Item {i}: what is {i} + 1?", "response1": f"The answer is {i + 1}, exactly.",
         "response2": f"It is {i + 3}."}
        for i in range(N)
    ]  # fmt: skip


def biased(rec: RecordedRequest) -> str:
    """Prefers the correct response, except in a fixed ~30% of items (by item number), where it prefers the
    longer one; scores pointwise by correctness alone."""
    prompt = prompt_of(rec)
    number = int(re.search(r"Item (\d+)", prompt)[1])
    pair = dict((m[1], m[2]) for m in _PAIR.finditer(prompt))
    if random.Random(number).random() < SHARE:
        return f"<better>{'A' if len(pair['A']) >= len(pair['B']) else 'B'}</better>"
    return f"<better>{'A' if f'{number + 1},' in pair['A'] else 'B'}</better>"


def unbiased(rec: RecordedRequest) -> str:
    prompt = prompt_of(rec)
    number = int(re.search(r"Item (\d+)", prompt)[1])
    pair = dict((m[1], m[2]) for m in _PAIR.finditer(prompt))
    return f"<better>{'A' if f'{number + 1},' in pair['A'] else 'B'}</better>"


def judge_for(server: FakeLLMServer) -> SimplifiedJudge:
    return SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0, max_concurrent=64)


def test_known_length_bias_is_reported_within_its_interval(server: FakeLLMServer) -> None:
    server.default_reply = biased
    report = probe(judge_for(server), "pairwise", items(), probes=["padding", "swap", "expert_prefix"])
    assert tuple(report) == REPORT_KEYS and report["items"] == N
    assert server.count("/v1/chat/completions") == 4 * N  # originals + 3 probes, one batch
    truth = sum(random.Random(i).random() < SHARE for i in range(N)) / N
    padding = report["probes"]["padding"]
    assert tuple(padding) == PROBE_KEYS
    assert padding["ci95"][0] <= SHARE <= padding["ci95"][1]
    assert padding["flip_rate"] == pytest.approx(truth)  # padded B is longer: every biased item flips to B
    assert padding["direction"] == "toward" and padding["away"] == 0
    swap = report["probes"]["swap"]  # biased items prefer the longer response wherever it is: no position bias
    assert swap["flips"] == 0 and swap["direction"] == "none"
    assert report["probes"]["expert_prefix"]["flips"] == 0  # the judge ignores authority; B stays the shorter


def test_unbiased_judge_shows_no_flips(server: FakeLLMServer) -> None:
    server.default_reply = unbiased
    report = probe(judge_for(server), "pairwise", items()[:60])
    assert set(report["probes"]) == {"swap", "padding", "expert_prefix", "confident_claim", "markdown"}
    for name, row in report["probes"].items():
        assert row["flips"] == 0 and row["flip_rate"] == 0.0 and row["direction"] == "none", name
        assert row["ci95"][0] == 0.0 and row["ci95"][1] < 0.1


def test_pointwise_probe_mean_shift_and_failures(server: FakeLLMServer) -> None:
    server.default_reply = lambda rec: "???" if "Item 3" in prompt_of(rec) else (
        "<score>9</score>" if "certain" in prompt_of(rec) else "<score>5</score>")  # fmt: skip
    rows = [{"question": f"Item {i}?", "response": f"answer {i}."} for i in range(10)]
    report = probe(judge_for(server), "pointwise", rows, probes=["confident_claim", "markdown"])
    claim = report["probes"]["confident_claim"]
    assert claim["judged"] == 9 and claim["failed"] == 1 and claim["flips"] == 9
    assert claim["mean_shift"] == pytest.approx(4.0) and claim["direction"] == "toward"
    assert report["probes"]["markdown"]["flips"] == 0


def test_probe_errors(server: FakeLLMServer) -> None:
    judge = judge_for(server)
    with pytest.raises(ConfigError, match="did you mean 'padding'"):
        probe(judge, "pairwise", items()[:2], probes=["paddding"])
    with pytest.raises(ConfigError, match="swap probe"):
        probe(judge, "pointwise", [{"question": "q", "response": "r"}], probes=["swap"])
    with pytest.raises(ConfigError, match="items\\[0\\]"):
        probe(judge, "pairwise", [{"question": "q", "response1": "a"}])
    assert server.count() == 0


def test_probe_command_writes_the_report(server: FakeLLMServer, tmp_path: Path) -> None:
    server.default_reply = biased
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in items()[:40]))
    out = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "judgekit.cli",
        "probe",
        str(data),
        "--kind",
        "pairwise",
        "--probes",
        "padding,swap",
        "-o",
        str(out),
        "--api-type",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        "judge",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["probes"]) == {"padding", "swap"} and report["items"] == 40
    assert "padding" in done.stdout and "flip" in done.stdout


def test_bias_section_in_the_validation_report(server: FakeLLMServer, tmp_path: Path) -> None:
    from judgekit.validation.report import ValidationReport

    server.default_reply = biased
    report = ValidationReport(kind="pairwise", n=0, n_failed=0, metrics={})
    report.bias = probe(judge_for(server), "pairwise", items()[:40], probes=["padding"])
    page = report.save_html(tmp_path / "report.html").read_text()
    assert '<section id="bias">' in page and "<td>padding</td>" in page and "toward" in page
    assert json.loads(report.to_json())["bias"]["probes"]["padding"]["judged"] == 40


def test_swap_probe_reports_position_bias(server: FakeLLMServer) -> None:
    server.default_reply = "<better>A</better>"  # always the first position
    row = probe(judge_for(server), "pairwise", items()[:20], probes=["swap"])["probes"]["swap"]
    assert (row["flips"], row["toward"], row["away"], row["direction"]) == (20, 20, 0, "first")

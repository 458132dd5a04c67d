"""Whole journeys, in the order a user follows the docs, with no API key, against local servers: the commands are
read from the docs and run as written (``judgekit ...`` in a subprocess, the environment pointing the OpenAI
backend at a `FakeLLMServer`).

1. docs/cli.md, docs/validation.md, docs/reward.md: judge one item -> batch a labelled file -> validate the batch
   output -> fit a calibrator -> judge with it -> reward with it.
2. docs/scale-out.md: the same labelled file judged on a local Ray (``judgekit batch --ray``), then validated.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judgekit.testing import FakeLLMServer, RecordedRequest, Reply
from judgekit.validation import load_sample

DOCS = Path(__file__).resolve().parent.parent / "docs"


def doc_commands(page: str, starts: str) -> list[str]:
    """The ``judgekit ...`` lines of a page's bash blocks that start with ``starts`` (comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (DOCS / page).read_text(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    found = [line for line in lines if line.startswith(starts)]
    assert found, f"{page} has no command starting with {starts!r}"
    return found


def fake_judge(rec: RecordedRequest) -> Reply:
    """A judge with log-probabilities: "Yes" when the prediction contains the reference answer, with an
    over-confident P(yes) (a calibrator has something to fix)."""
    text = rec.json["messages"][-1]["content"]
    answer = re.search(r"\[Reference Answer\]\n(.*?)\n\[End", text, re.S)
    prediction = re.search(r"\[Model Prediction\]\n(.*?)\n\[End", text, re.S)
    right = bool(answer and prediction and answer.group(1).strip().lower() in prediction.group(1).lower())
    p = 0.97 if right else 0.2
    word = "Yes" if right else "No"
    top = [{"token": "Yes", "logprob": math.log(p)}, {"token": "No", "logprob": math.log(1 - p)}]
    return Reply(word, logprobs=[{"token": word, "logprob": math.log(p if right else 1 - p), "top_logprobs": top}])


@pytest.fixture
def judge_env(server: FakeLLMServer) -> Iterator[dict[str, str]]:
    server.default_reply = fake_judge
    yield {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local-fake"}


def judgekit(command: str, cwd: Path, env: dict[str, str], expect: int = 0, timeout: float = 300) -> str:
    """Run a documented ``judgekit ...`` command line; returns stdout."""
    argv = shlex.split(command)
    assert argv[0] == "judgekit"
    done = subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *argv[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == expect, f"{command}\n{done.stderr[-3000:]}"
    return done.stdout


def labelled_file(path: Path, n: int = 60) -> list[dict[str, Any]]:
    rows = load_sample("binary")[:n]  # id, kind, question, answer, prediction, label: a labelled file as shipped
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def test_judge_batch_validate_calibrate_judge_reward(tmp_path: Path, judge_env: dict[str, str]) -> None:
    # docs/cli.md: one item
    single = doc_commands("cli.md", "judgekit judge --api-type rules -q")[0]
    assert judgekit(single, tmp_path, judge_env).strip() == "1"
    out = judgekit('judgekit judge -q "2+2?" -a 4 -p "The answer is 4" --model gpt-4o-mini', tmp_path, judge_env)
    assert out.strip() == "1"

    # docs/validation.md: batch the labelled file once, then validate the batch output
    rows = labelled_file(tmp_path / "labelled.jsonl")
    batch = doc_commands("validation.md", "judgekit batch labelled.jsonl")[0]
    judgekit(batch + " --logprob-score --output-format yes/no --no-progress", tmp_path, judge_env)
    judged = [json.loads(line) for line in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert len(judged) == len(rows) and all(r["success"] and r["p_yes"] is not None for r in judged)
    assert [r["label"] for r in sorted(judged, key=lambda r: r["index"])] == [row["label"] for row in rows]
    validate = doc_commands("validation.md", "judgekit validate labelled.jsonl --judged judged.jsonl")[0]
    table = judgekit(validate, tmp_path, judge_env)
    assert re.search(r"accuracy\s+0\.\d+", table) and "ECE" in table

    # docs/validation.md, 2. Calibrate: fit on the judged file (P(yes) from logprobs), held-out ECE before/after
    report = json.loads(judgekit(validate + " --fit-calibrator cal.json --json --resamples 50", tmp_path, judge_env))
    calibration = report["calibration"]
    assert calibration["ece_after"] < calibration["ece_before"] and (tmp_path / "cal.json").exists()

    # judge with it: p_yes is calibrated, p_yes_raw is the judge's own
    calibrated = json.loads(
        judgekit('judgekit judge -q "2+2?" -a 4 -p "4" --model gpt-4o-mini --logprob-score --output-format yes/no '
                 "--set calibrator=cal.json --json", tmp_path, judge_env)
    )  # fmt: skip
    assert calibrated["p_yes_raw"] == pytest.approx(0.97) and calibrated["p_yes"] < calibrated["p_yes_raw"]

    # docs/reward.md: the same judge and calibrator as a reward
    from judgekit.reward import JudgeRewardSystem as RewardSystem

    config = {"reward": {"config": {
        "api_type": "openai", "base_url": judge_env["OPENAI_BASE_URL"], "api_key": "sk-local-fake",
        "model_name": "gpt-4o-mini", "kind": "binary",
        "judge": {"calibrator": str(tmp_path / "cal.json"), "output_format": "yes/no"},
    }}}  # fmt: skip
    reward_system = RewardSystem(config.get("reward", {}).get("config", {}))
    try:
        right = reward_system.reward("What is 2+2?", "The answer is 4", "4")
        wrong = reward_system.reward("What is 2+2?", "The answer is 5", "4")
        batch_rewards = reward_system.reward_batch(["2+2?", "3+3?"], ["4", "7"], ["4", "6"])
    finally:
        reward_system.close()
    assert right["source"] == wrong["source"] == "judge" and right["error"] is None
    assert right["reward"] > wrong["reward"]
    assert [r["reward"] for r in batch_rewards] == [right["reward"], wrong["reward"]]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray for the module (as tests/test_ray_cli.py): the command joins it with ``--address``."""
    ray = pytest.importorskip("ray", reason='needs the ray extra: pip install "judgekit[ray]"')
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init sets its own and ray.shutdown leaves it
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)


@pytest.mark.ray
def test_scale_out_batch_on_ray_then_validate(tmp_path: Path, judge_env: dict[str, str], ray_address: str) -> None:
    rows = labelled_file(tmp_path / "labelled.jsonl", n=24)
    command = doc_commands("scale-out.md", "judgekit batch items.jsonl")[0]
    command = command.replace("items.jsonl", "labelled.jsonl").replace("--actors 4", "--actors 2")
    judgekit(f"{command} --address {ray_address} --no-progress", tmp_path, judge_env)
    judged = [json.loads(line) for line in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert len(judged) == len(rows) and all(r["success"] for r in judged)
    assert {r["id"]: r["label"] for r in judged} == {row["id"]: row["label"] for row in rows}
    report = json.loads(judgekit("judgekit validate labelled.jsonl --judged judged.jsonl --json", tmp_path, judge_env))
    assert report["n"]["value"] == 24 and report["n_failed"]["value"] == 0

"""judgekit as an Inspect scorer: a real ``inspect_ai.eval`` with Inspect's ``mockllm`` model, judged by
judgekit against the local server; and ``inspect score --scorer judgekit/judgekit_scorer``, which finds the
scorer through judgekit's ``inspect_ai`` entry point. In the lmms tier's venv (inspect-ai 0.3.285):

    .venv-lmms/bin/python -m pytest -q -m lmms tests/test_inspect_tier.py
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from judgekit import JudgeConfig, SimplifiedJudge, __version__
from judgekit.integrations import template_hash
from judgekit.prompts import load_template
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply

pytestmark = pytest.mark.lmms

QUESTIONS = {"What is 2 + 2?": "4", "What is the capital of France?": "Paris", "What is 3 x 3?": "9"}


def judge_replies(rec: RecordedRequest) -> Any:
    """The judge: right about the first question, wrong answer on the second, broken on the third."""
    prompt = str(rec.json["messages"])
    if "2 + 2" in prompt:
        return Reply("<think>the completion says 4</think>1", usage={"prompt_tokens": 50, "completion_tokens": 9})
    if "capital of France" in prompt:
        return "0"
    return Fault.status_code(500)


COMPLETION = "The answer is in the question."


def run_eval(scorer: Any, log_dir: Path) -> Any:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.solver import generate

    output = ModelOutput.from_content("mockllm/model", COMPLETION)
    output.usage = ModelUsage(input_tokens=10, output_tokens=6, total_tokens=16)  # else mockllm counts with tiktoken
    model = get_model("mockllm/model", custom_outputs=[output] * len(QUESTIONS))
    task = Task(dataset=[Sample(input=q, target=a) for q, a in QUESTIONS.items()], solver=generate(), scorer=scorer)
    (log,) = eval(task, model=model, log_dir=str(log_dir), display="none")
    assert log.status == "success", log.error
    return log


def scores_by_question(log: Any, name: str = "judgekit_scorer") -> dict[str, Any]:
    return {sample.input: sample.scores[name] for sample in log.samples}


def test_eval_with_a_judgekit_scorer(server: FakeLLMServer, fast_config: JudgeConfig, tmp_path: Path) -> None:
    from judgekit.integrations.inspect import judgekit_scorer

    server.default_reply = judge_replies
    judge = SimplifiedJudge(config=fast_config.merged(num_retries=0, price_per_million=(1.0, 2.0)))
    log = run_eval(judgekit_scorer(kind="binary", judge=judge), tmp_path)

    scores = scores_by_question(log)
    right, wrong, failed = (scores[q] for q in QUESTIONS)
    assert (right.value, wrong.value) == ("C", "I")
    assert right.explanation == "the completion says 4"
    assert right.answer == COMPLETION
    assert right.metadata["judgekit"] == {
        "version": __version__,
        "backend": "openai",
        "model": "gpt-4o",
        "kind": "binary",
        "prompt_template_hash": template_hash(load_template("binary")),
    }
    assert right.metadata["cost_usd"] == pytest.approx((50 * 1.0 + 9 * 2.0) / 1e6)
    assert right.metadata["usage"]["prompt_tokens"] == 50

    # the judge failed: unscored (NaN, left out of the metrics) with the reason, not INCORRECT
    assert math.isnan(failed.value) and failed.reason == "grader_failed"
    assert "HTTP 500" in failed.explanation and failed.metadata["error_type"] == "ProviderError"
    (result,) = log.results.scores
    assert result.metrics["mean"].value == pytest.approx(0.5)  # (1 + 0) / 2: the failure is not a 0
    # what the judge was asked: the sample's question, its target and the model's completion
    prompts = [str(r.json["messages"]) for r in server.requests]
    assert any("What is 2 + 2?" in p and COMPLETION in p for p in prompts)


def test_pointwise_scores_are_numbers(server: FakeLLMServer, fast_config: JudgeConfig, tmp_path: Path) -> None:
    from judgekit.integrations.inspect import judgekit_scorer

    server.default_reply = "<score>7</score>"
    log = run_eval(judgekit_scorer(kind="pointwise", judge=SimplifiedJudge(config=fast_config)), tmp_path)
    assert {s.value for s in scores_by_question(log).values()} == {7.0}
    assert log.results.scores[0].metrics["mean"].value == pytest.approx(7.0)


def test_a_kind_without_one_score_per_sample_is_refused() -> None:
    from judgekit.errors import ConfigError
    from judgekit.integrations.inspect import judgekit_scorer

    with pytest.raises(ConfigError, match="not 'pairwise'"):
        judgekit_scorer(kind="pairwise", judge=SimplifiedJudge(api_type="rules"))
    with pytest.raises(ConfigError, match="did you mean 'binary'"):
        judgekit_scorer(kind="binray", judge=SimplifiedJudge(api_type="rules"))


def test_inspect_score_finds_the_scorer_by_its_registry_name(server: FakeLLMServer, tmp_path: Path) -> None:
    """``inspect score LOG --scorer judgekit/judgekit_scorer -S ...``: Inspect's own command line loads judgekit's
    ``inspect_ai`` entry point; nothing imports judgekit beforehand."""
    from inspect_ai.log import read_eval_log
    from inspect_ai.scorer import match

    log = run_eval(match(), tmp_path)  # a log to rescore
    server.default_reply = judge_replies
    inspect = Path(sys.executable).parent / "inspect"
    args = [str(inspect), "score", log.location, "--scorer", "judgekit/judgekit_scorer", "-S", "kind=binary",
            "-S", "api_type=openai", "-S", f"base_url={server.base_url}", "-S", "model_name=gpt-4o",
            "-S", "num_retries=0", "--overwrite", "--action", "overwrite"]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-inspect"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    scores = scores_by_question(read_eval_log(log.location))
    right, wrong, failed = (scores[q] for q in QUESTIONS)
    assert (right.value, wrong.value) == ("C", "I") and math.isnan(failed.value)
    assert server.count("/v1/chat/completions") == 3

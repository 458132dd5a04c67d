"""The four migrated lmms-eval judge tasks against the local server: well-formed, messy and failed replies.

Each test scripts the judge's replies, runs the migrated ``process_results`` and aggregation from
``examples/lmms_eval/``, and compares with the original task's reading of the same replies
(`lmms_eval_originals`) where the original reads them right; where it does not, the test pins what the
original did (a silent 0, a tie, a random score) next to the explicit failure that replaces it.
"""

from __future__ import annotations

import importlib
import math
import random
from pathlib import Path
from typing import Any

import pytest
from lmms_eval_originals import (
    MIX_EVALS_FAILED_REPLY,
    EndlessReask,
    activitynetqa_original_parse,
    mix_evals_original_score,
    mmvet_original,
    wild_vision_original,
)
from PIL import Image

from judgekit.testing import FakeLLMServer, Fault

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "lmms_eval"


@pytest.fixture
def task_env(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-task")
    monkeypatch.setenv("MODEL_VERSION", "gpt-4o-2024-11-20")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return server


def load(name: str) -> Any:
    module = importlib.import_module(name)
    module._judge = None  # a fresh judge per test, reading this test's environment
    return module


def texts(replies: list[Any]) -> list[str]:
    return [r for r in replies if isinstance(r, str)]


# -- MM-Vet: a bare 0.0-1.0 score --------------------------------------------------------------------

MMVET_REPLIES: list[Any] = [
    "0.5",  # well-formed
    "1.0 (both roots)",
    "0.5\nExplanation: only x = -1 is given.",  # messy but readable
    "Score: 0.8",
    "<think>Is it 0.1? Score: 0.1</think>1.0",  # reasoning model
    "I'm sorry, but I can't help with that.",  # failed: a refusal
    "1.5",  # out of range
    "",  # an empty reply
    Fault.status_code(400),  # a failed request
]


def test_mmvet(task_env: FakeLLMServer, log_lines: list[str]) -> None:
    mmvet = load("mmvet_utils")
    task_env.enqueue(*MMVET_REPLIES)
    doc = {"question_id": "v1", "question": "What is x in the equation?", "answer": "-1<AND>-5",
           "capability": "math,ocr"}  # fmt: skip
    rows = [mmvet.mmvet_process_results(doc, ["x = -1"])["gpt_eval_score"] for _ in MMVET_REPLIES]

    assert [r["score"] for r in rows] == [0.5, 1.0, 0.5, 0.8, 1.0, None, None, None, None]
    for row in rows[5:]:
        assert row["error"], row  # each failure says why
    assert "no score" in rows[5]["error"] and "out of range" in rows[6]["error"]

    sent = task_env.requests[0].json
    assert sent["messages"] == [
        {"role": "user", "content": f"{mmvet.MM_VET_PROMPT}\nWhat is x in the equation? | -1 <AND> -5 | x = -1 |"}
    ]
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 128
    assert mmvet.MM_VET_PROMPT.startswith("Compare the ground truth and prediction from AI models")

    # The original, on the same replies: right on the first two, a silent 0.0 or an endless re-ask otherwise.
    assert [mmvet_original(lambda t, r=r: r)[0] for r in ["0.5", "1.0 (both roots)"]] == [0.5, 1.0]
    for reply in ["0.5\nExplanation: only x = -1 is given.", "Score: 0.8", "<think>Is it 0.1? Score: 0.1</think>1.0",
                  "I'm sorry, but I can't help with that.", ""]:  # fmt: skip
        assert mmvet_original(lambda t, r=reply: r)[0] == 0.0
    with pytest.raises(EndlessReask):
        mmvet_original(lambda t: "1.5")

    log_lines.clear()
    assert mmvet.mmvet_aggregate_results(rows) == pytest.approx(100 * (0.5 + 1.0 + 0.5 + 0.8 + 1.0) / 5)
    assert log_lines == [
        "mmvet: 4 of 9 items left out (44.4%, failed or not graded); mean 0.76; more than 5% failed, so the mean "
        "may be biased: read the failures"
    ]
    caps = mmvet.mmvet_capability_scores(rows)
    assert caps["math"].graded == 5 and caps["math"].failed == 4 and caps["rec"].total == 0


def test_mmvet_nothing_graded_is_nan_with_a_count(task_env: FakeLLMServer, log_lines: list[str]) -> None:
    mmvet = load("mmvet_utils")
    task_env.enqueue("I cannot grade this.", "", "Correctness: unclear")
    doc = {"question_id": "v1", "question": "q", "answer": "a", "capability": "rec"}
    rows = [mmvet.mmvet_process_results(doc, ["p"])["gpt_eval_score"] for _ in range(3)]
    log_lines.clear()
    assert math.isnan(mmvet.mmvet_aggregate_results(rows))  # the original: 0.0
    assert log_lines == ["mmvet: 3 of 3 items left out (100.0%, failed or not graded); mean is NaN: nothing was graded"]


# -- ActivityNet-QA: {'pred': 'yes', 'score': 4} --------------------------------------------------------

ANQA_REPLIES: list[Any] = [
    "{'pred': 'yes', 'score': 4}",
    '{"pred": "no", "score": 1}',
    "Sure! Here it is: {'pred': 'yes', 'score': 5}",  # messy but readable
    "{'pred': 'yes', 'score': 4.8}",  # the prompt's own example: the original truncates to 4
    "{'pred': 'not sure', 'score': 2}",  # the original reads "no"
    "I cannot evaluate this video.",  # the original returns None and process_results crashes
    Fault.status_code(400),
]


def test_activitynetqa(task_env: FakeLLMServer) -> None:
    anqa = load("activitynetqa_utils")
    task_env.enqueue(*ANQA_REPLIES)
    doc = {"video_name": "v_1", "question": "what is the man doing", "answer": "dancing", "question_id": "q1",
           "type": 1}  # fmt: skip
    rows = [anqa.activitynetqa_process_results(doc, ["dancing {happily}"])["gpt_eval_score"] for _ in ANQA_REPLIES]

    got = [(r["Correctness"], r["score"]) for r in rows]
    assert got == [("yes", 4), ("no", 1), ("yes", 5), ("yes", 4.8), (None, None), (None, None), (None, None)]
    assert bool(rows[1]["Correctness"]) is False  # a Verdict: its truth value is the verdict
    assert all(r["error"] for r in rows[4:])

    # Where the original is right, both read the same.
    for row, reply in zip(rows[:3], ANQA_REPLIES[:3], strict=True):
        assert activitynetqa_original_parse(reply) == [row["Correctness"], row["score"]]
    assert activitynetqa_original_parse(ANQA_REPLIES[3]) == ["yes", 4]  # truncated
    assert activitynetqa_original_parse(ANQA_REPLIES[4]) == ["no", 2]  # "not sure" read as "no"
    assert activitynetqa_original_parse(ANQA_REPLIES[5]) is None  # -> scores[0] raises in process_results

    sent = task_env.requests[0].json
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][0]["content"] == anqa.SYSTEM_PROMPT
    assert "Predicted Answer: dancing {happily}\n\n" in sent["messages"][1]["content"]
    assert sent["messages"][1]["content"].endswith("{'pred': 'yes', 'score': 4.8}.")
    assert sent["temperature"] == 0 and sent["max_tokens"] == 64

    assert anqa.activitynetqa_aggregate_score(rows) == pytest.approx((4 + 1 + 5 + 4.8) / 4)
    assert anqa.activitynetqa_aggregate_accuracy(rows) == 75.0


# -- WildVision-Bench: [[A>>B]] verdicts, with the image ------------------------------------------------

WV_REPLIES: list[Any] = [
    "My own answer: a red square.\n\nAssistant B is slightly better.\n\nMy final verdict is: [[B>A]]",
    "[[A>>B]]",
    "Assistant A is better: [[A>B]].\n\nMy final verdict is [[A>B]].",  # repeated, the same
    "At first [[A>B]]; on reflection B is clearly better: [[B>>A]]",  # conflicting
    "Both answers are fine.",  # no verdict
    "",  # empty
]


def test_wild_vision(task_env: FakeLLMServer) -> None:
    wv = load("wild_vision_utils")
    task_env.enqueue(*WV_REPLIES)
    doc = {"instruction": "What is in the image?", wv.BASELINE_MODEL_NAME: "A red square.",
           "image": Image.new("RGB", (32, 32), "red")}  # fmt: skip
    out = [wv.wild_vision_process_results(doc, ["A square, red."]) for _ in WV_REPLIES]
    raw = [o["raw_scores"]["final_score"] for o in out]
    assert raw == [1, -2, -1, None, None, None]
    assert [o["judgements"]["judgement"] for o in out[:3]] == ["Better", "Worse++", "Worse"]
    assert "conflicting verdicts" in out[3]["judgements"]["error"]

    for o, reply in zip(out[:3], WV_REPLIES[:3], strict=True):  # the original agrees where it is right
        assert wild_vision_original(reply) == (o["raw_scores"]["final_score"], o["win_rates"]["winner"],
                                                o["judgements"]["judgement"])  # fmt: skip
    assert wild_vision_original(WV_REPLIES[3]) == (-1, "model_a", "Worse")  # conflict read as A>B
    assert wild_vision_original(WV_REPLIES[4]) == (0, "tie", "Unclear")  # a silent tie
    assert wild_vision_original(WV_REPLIES[5]) == (0, "tie", "Unclear")

    sent = task_env.requests[0].json
    assert sent["messages"][0] == {"role": "system", "content": wv.SYSTEM_PROMPT}
    parts = sent["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and parts[0]["text"].startswith("<|User Prompt|>\nWhat is in the image?")
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 1024

    rows = [o["raw_scores"] for o in out]
    assert wv.wild_vision_aggregation_raw_scores(rows) == pytest.approx((1 - 2 - 1) / 3)
    battles = [o["win_rates"] for o in out]
    assert wv.wild_vision_aggregation_win_rates(battles) == pytest.approx(100 / 3)
    judgements = [o["judgements"] for o in out]
    assert wv.wild_vision_judgement_share(judgements, "Worse++") == pytest.approx(100 / 3)
    assert wv.wild_vision_judgement_share(judgements, "Tie") == 0.0


# -- MixEval image2text: reasoning, then [[0.5]] ---------------------------------------------------------

MIX_REPLIES: list[Any] = [
    "The model's answer matches the golden answer. The Correctness Score: [[1.0]]",
    "It captures 'troublesome' but omits 'valley'. The Correctness Score: [[0.6]]",
    "<think>[[0.0]]?</think>Right. The Correctness Score: [[1.0]]",
    "The answer is partly right, see [1].",  # single brackets: the original reads 1.0
    "First [[0.5]], then on reflection [[1.0]]",  # the original takes the first
    "The answer is wrong.",  # no score: the original draws a random one
    Fault.status_code(400),  # the original returns "[[0.0]]"
]


def test_mix_evals(task_env: FakeLLMServer) -> None:
    mix = load("mix_evals_utils")
    task_env.enqueue(*MIX_REPLIES)
    doc = {"query": "what road is to the right?", "reference_answer": ["troublesome valley rd", "valley road"],
           "id": 7}  # fmt: skip
    rows = [mix.mix_evals_image2text_process_results_freeform(doc, ["troublesome road"])["gpt_eval"]
            for _ in MIX_REPLIES]  # fmt: skip
    assert [r["score"] for r in rows] == [1.0, 0.6, 1.0, None, None, None, None]
    assert all(r["error"] for r in rows[3:])

    for row, reply in zip(rows[:2], MIX_REPLIES[:2], strict=True):
        assert mix_evals_original_score(reply) == row["score"]
    assert mix_evals_original_score(MIX_REPLIES[3]) == 1.0  # a citation read as a score
    assert mix_evals_original_score(MIX_REPLIES[4]) == 0.5
    assert mix_evals_original_score(MIX_REPLIES[5], random.Random(0)) == 0.8  # random
    assert mix_evals_original_score(MIX_EVALS_FAILED_REPLY) == 0.0

    sent = task_env.requests[0].json
    assert sent["messages"][0] == {"role": "system", "content": "In this task, I want you to act as a judge."}
    user = sent["messages"][1]["content"]
    assert 'Golden Answer(s): ["troublesome valley rd", "valley road"]\nModel\'s Answer: troublesome road\n' in user
    assert sent["max_tokens"] == 999

    assert mix.mix_evals_image2text_gpt_eval(rows) == pytest.approx((1.0 + 0.6 + 1.0) / 3)

"""MM-Vet's ``utils.py`` migrated to judgekit: the judge answers a bare correctness score in [0, 1].

Follows ``lmms_eval/tasks/mmvet/utils.py`` (lmms-eval 75571cf). The prompt is the task's own, sent as it
was (one user message, temperature 0, 128 tokens); what changed is reading the reply and aggregating.

Before: the reply was read as ``float(content.split(" ")[0])``. ``"0.5\nExplanation..."``, ``"Score: 0.8"``
and refusals raised ValueError, were re-asked at rising temperature and ended as a score of **0.0**; an
empty reply or a failed request was **0.0** at once; a score out of range (``"1.5"``) was re-asked forever.
The mean over all items counted those zeros.

After: `NumberInRange` reads ``0.5``, ``0.5\nExplanation...`` and ``Score: 0.8`` and turns anything else
into an explicit failure (``score`` None, the reason in ``error``); the aggregate is the mean of the graded
items (NaN when none were). To re-ask on an unreadable reply as the original did, call ``evaluate_custom``
again with ``temperature=0.5`` when ``error_type == "ParseError"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judgekit import GradedMean, SimplifiedJudge, graded_mean
from judgekit.task_formats import NumberInRange

MM_VET_PROMPT = (Path(__file__).parent / "prompts" / "mmvet.txt").read_text(encoding="utf-8")  # verbatim

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")
parse_score = NumberInRange(0.0, 1.0)

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    """One judge per process, configured from the environment (API_TYPE, OPENAI_API_KEY, MODEL_VERSION)."""
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(temperature=0.0, max_tokens=128)
    return _judge


def mmvet_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    pred = results[0]
    answer = doc["answer"].replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    prompt = f"{MM_VET_PROMPT}\n{doc['question']} | {answer} | {pred} |"
    graded = judge().evaluate_custom(prompt, parse=parse_score)
    return {
        "gpt_eval_score": {
            "question_id": doc["question_id"],
            "question": doc["question"],
            "gt_answer": doc["answer"],
            "capabilities": doc["capability"],
            "pred_answer": pred,
            "score": graded["result"],  # a float in [0, 1], or None when the judge gave no score
            "eval_model": graded["model"],
            "error": graded["error_message"],
        }
    }


def mmvet_capability_scores(results: list[dict[str, Any]]) -> dict[str, GradedMean]:
    """The graded mean of each capability (an item counts for every capability it lists)."""
    return {
        cap: graded_mean([r["score"] for r in results if cap in r["capabilities"].split(",")], name=f"mmvet/{cap}")
        for cap in CAPABILITIES
    }


def mmvet_aggregate_results(results: list[dict[str, Any]]) -> float:
    """The overall score in percent over the graded items; NaN when no item was graded."""
    return 100 * graded_mean([r["score"] for r in results], name="mmvet").mean

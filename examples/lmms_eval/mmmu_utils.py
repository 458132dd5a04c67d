"""An MMMU-style lmms-eval task ``utils.py`` migrated to judgekit (binary judge).

Before: ``get_chat_response(JUDGE_RULES.format(question=..., answer=..., pred=pred), max_tokens=20)`` and
``1 if "1" in score else 0`` at aggregation, which scored "10" or "0 (not 1)" as correct and a failed
request as wrong. After: the verdict is parsed from the judge's final answer, and a judge failure is
reported as a failure, not as a 0.
"""

from __future__ import annotations

from typing import Any

from judgekit import SimplifiedJudge

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    """One judge per process, configured from the environment (API_TYPE, OPENAI_API_KEY, MODEL_VERSION)."""
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(max_tokens=20, num_retries=3)
    return _judge


def mmmu_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    prediction = results[0].strip()
    verdict = judge().evaluate_binary(
        question=doc["question"], answer=doc["answer"], prediction=prediction, output_format="0/1"
    )
    return {
        "mmmu_judge_acc": {
            "id": doc["id"],
            "score": verdict["result"],  # 1, 0, or None when the judge failed
            "judge_ok": verdict["success"],
            "raw": verdict["raw_response"],
            "error": verdict["error_message"],
        }
    }


def mmmu_aggregate_judge_results(results: list[dict[str, Any]]) -> float:
    """Accuracy over the items the judge could grade; failed gradings are excluded, not counted wrong."""
    graded = [r["score"] for r in results if r["judge_ok"]]
    return sum(graded) / len(graded) if graded else float("nan")

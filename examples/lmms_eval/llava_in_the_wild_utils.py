"""A llava-in-the-wild task ``utils.py`` migrated to judgekit (comparative judge).

The old code built ``content`` with the task's rule prompt, called ``get_eval(content, 1024)`` and then
``parse_score(review)``. Both still work unchanged from ``judgekit.legacy``; this file shows the new way,
keeping the task's rule prompt as a ``custom_prompt`` (already filled, so it needs no placeholders).
"""

from __future__ import annotations

from typing import Any

from judgekit import SimplifiedJudge

RULE = (
    "We would like to request your feedback on the performance of two AI assistants in response to the user "
    "question displayed above.\nPlease rate the helpfulness, relevance, accuracy, level of details of their "
    "responses. Each assistant receives an overall score on a scale of 1 to 10.\nPlease first output a single "
    "line containing only two values indicating the scores for Assistant 1 and 2, respectively. The two "
    "scores are separated by a space.\nIn the subsequent line, please provide a comprehensive explanation."
)

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(temperature=0.2, max_tokens=1024)
    return _judge


def llava_process_results(doc: dict[str, Any], result: list[str]) -> dict[str, Any]:
    question, answer1, answer2 = doc["question"], doc["gpt_answer"], result[0]
    content = (
        f"[Context]\n{doc['caption']}\n\n[Question]\n{question}\n\n"
        f"[Assistant 1]\n{answer1}\n\n[End of Assistant 1]\n\n"
        f"[Assistant 2]\n{answer2}\n\n[End of Assistant 2]\n\n[System]\n{RULE}\n\n"
    )
    # The content is already filled: escape its braces so the builder leaves them alone.
    custom = content.replace("{", "{{").replace("}", "}}")
    verdict = judge().evaluate_comparative(
        question=question, response1=answer1, response2=answer2, custom_prompt=custom, score_range=(1, 10)
    )
    scores = list(verdict["scores"]) if verdict["success"] else None
    return {
        "gpt_eval_llava_all": {
            "question_id": doc["question_id"],
            "scores": scores,
            "review": verdict["raw_response"],
            "error": verdict["error_message"],
        }
    }


def llava_aggregation(results: list[dict[str, Any]]) -> float:
    """Relative score (assistant 2 over assistant 1, in percent) over the graded items."""
    graded = [r["scores"] for r in results if r["scores"] is not None]
    if not graded:
        return float("nan")
    mean1 = sum(s[0] for s in graded) / len(graded)
    mean2 = sum(s[1] for s in graded) / len(graded)
    return round(mean2 / mean1 * 100, 1)

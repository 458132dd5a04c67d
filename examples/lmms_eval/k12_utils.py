"""A K12-style task ``utils.py`` migrated to judgekit (correctness judge).

Older K12 code returned "no" after failed retries, and one version's custom prompt never showed the judge
the question at all, so every item scored 0. Here the built-in correctness prompt sees question, answer
and solution, and a failed judgement is ``None``, not a wrong answer.
"""

from __future__ import annotations

from typing import Any

from judgekit import SimplifiedJudge

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(max_tokens=16)
    return _judge


def k12_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    verdict = judge().evaluate_correctness(question=doc["question"], answer=doc["answer"], prediction=results[0])
    return {"llm_as_judge_eval": verdict["result"] if verdict["success"] else None}


def k12_aggregate(results: list[int | None]) -> float:
    graded = [r for r in results if r is not None]
    return sum(graded) / len(graded) if graded else float("nan")

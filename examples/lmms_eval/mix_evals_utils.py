"""MixEval image2text (free-form) ``utils.py`` migrated to judgekit: reasoning, then ``[[0.5]]``.

Follows ``lmms_eval/tasks/mix_evals/image2text/utils.py`` (lmms-eval 75571cf); video2text and audio2text
judge the same way. The system message and the few-shot user prompt are the task's own (999 tokens).

Before: ``get_eval`` returned the literal ``"[[0.0]]"`` after a failed request or an empty reply (a silent
zero), and ``get_score_from_judge`` read the *first* ``[[n]]`` (else the first ``[n]``, so a citation "[1]"
read as 1.0), with no range check, and when nothing matched returned ``round(random.random(), 1)``: a
**random score**. The mean was over all items.

After: `BracketedNumber` accepts the ``[[score]]`` only when every double bracket holds the same number in
[0, 1]; anything else is an explicit failure, left out of the mean. The original called the API without a
temperature (its default, 1.0); this judge uses judgekit's default, 0.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judgekit import SimplifiedJudge, graded_mean
from judgekit.task_formats import BracketedNumber

SYSTEM_PROMPT = "In this task, I want you to act as a judge."
USER_PROMPT = (Path(__file__).parent / "prompts" / "mix_evals_freeform.txt").read_text(encoding="utf-8")
"""Verbatim; fields ``{prompt}``, ``{gold_ans}``, ``{response}``."""

parse_score = BracketedNumber(0.0, 1.0)

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    """One judge per process, configured from the environment (API_TYPE, OPENAI_API_KEY, MODEL_VERSION)."""
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(max_tokens=999)
    return _judge


def mix_evals_image2text_process_results_freeform(doc: dict[str, Any], result: list[str]) -> dict[str, Any]:
    pred = result[0]
    gold = "[" + ", ".join(f'"{gt}"' for gt in doc["reference_answer"]) + "]"
    prompt = USER_PROMPT.format(prompt=doc["query"], gold_ans=gold, response=pred)
    graded = judge().evaluate_custom(prompt, system_prompt=SYSTEM_PROMPT, parse=parse_score)
    row = {
        "pred": pred,
        "question_idx": doc["id"],
        "target": doc["reference_answer"],
        "eval_answer": graded["raw_response"],
        "score": graded["result"],  # a float in [0, 1], or None when the judge gave no readable score
        "error": graded["error_message"],
    }
    return {"submission": row, "gpt_eval": row}


def mix_evals_image2text_gpt_eval(results: list[dict[str, Any]], args: Any = None) -> float:
    """The mean correctness score over the graded items (NaN when none were)."""
    return graded_mean([r["score"] for r in results], name="mix_evals/image2text").mean

"""ActivityNet-QA's ``utils.py`` migrated to judgekit: the judge answers ``{'pred': 'yes', 'score': 4}``.

Follows ``lmms_eval/tasks/activitynetqa/utils.py`` (lmms-eval 75571cf); video-tt, MovieChat,
video_detail_description and VideoChatGPT judge the same way. The system and user messages are the task's
own (temperature 0, 64 tokens).

Before: the task's own ``get_eval(question, answer, pred, max_tokens)`` posted the messages; ``parse_score``
read the first ``{...}`` with ``ast.literal_eval``, truncated the score with ``int()`` (4.8 -> 4) and took
any pred containing "yes" as yes and then any containing "no" as no ("not sure" -> no). When it could not
read a reply it returned None and ``process_results`` crashed on ``scores[0]``; the batch variant stored
``["no", 0]`` instead. Aggregation divided by all items (``... if results else 0``).

After: `PredScoreDict` reads exactly ``yes``/``no`` and a number in [0, 5]; anything else is an explicit
failure. Accuracy and the average score are over the graded items, NaN when none were.

Do not swap the import for ``judgekit.legacy.get_eval``: its signature is llava's ``(content, max_tokens)``,
so ``get_eval(question, answer, pred, 64)`` raises TypeError (docs/legacy.md).
"""

from __future__ import annotations

from typing import Any

from judgekit import SimplifiedJudge, graded_mean
from judgekit.task_formats import PredScoreDict

SYSTEM_PROMPT = (
    "You are an intelligent chatbot designed for evaluating the correctness of generative outputs for "
    "question-answer pairs. Your task is to compare the predicted answer with the correct answer and determine if "
    "they match meaningfully. Here's how you can accomplish the task:------##INSTRUCTIONS: - Focus on the "
    "meaningful match between the predicted answer and the correct answer.\n- Consider synonyms or paraphrases as "
    "valid matches.\n- Evaluate the correctness of the prediction compared to the answer."
)
USER_PROMPT = (
    "Please evaluate the following video-based question-answer pair:\n\nQuestion: {question}\n"
    "Correct Answer: {answer}\nPredicted Answer: {pred}\n\n"
    "Provide your evaluation only as a yes/no and score where the score is an integer value between 0 and 5, "
    "with 5 indicating the highest meaningful match. Please generate the response in the form of a Python "
    "dictionary string with keys 'pred' and 'score', where value of 'pred' is  a string of 'yes' or 'no' and "
    "value of 'score' is in INTEGER, not STRING.DO NOT PROVIDE ANY OTHER OUTPUT TEXT OR EXPLANATION. Only provide "
    "the Python dictionary string. For example, your response should look like this: {{'pred': 'yes', 'score': 4.8}}."
)

parse_review = PredScoreDict(score_range=(0, 5))

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    """One judge per process, configured from the environment (API_TYPE, OPENAI_API_KEY, MODEL_VERSION)."""
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(temperature=0.0, max_tokens=64)
    return _judge


def activitynetqa_process_results(doc: dict[str, Any], result: list[str]) -> dict[str, Any]:
    pred = result[0]
    user = USER_PROMPT.format(question=doc["question"], answer=doc["answer"], pred=pred)
    graded = judge().evaluate_custom(
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
        parse=parse_review,
    )
    correct, score = graded["result"] if graded["success"] else (None, None)
    row = {
        "video_name": doc["video_name"],
        "question": doc["question"],
        "answer": doc["answer"],
        "pred": pred,
        "question_id": doc["question_id"],
        "type": doc["type"],
        "Correctness": correct,  # Verdict('yes') / Verdict('no'), or None when the judge gave no verdict
        "score": score,  # the judge's 0-5 score, or None
        "error": graded["error_message"],
    }
    return {"gpt_eval_score": row, "gpt_eval_accuracy": row}


def activitynetqa_aggregate_score(results: list[dict[str, Any]], args: Any = None) -> float:
    """The average 0-5 score over the graded items (NaN when none were)."""
    return graded_mean([r["score"] for r in results], name="activitynetqa/score").mean


def activitynetqa_aggregate_accuracy(results: list[dict[str, Any]], args: Any = None) -> float:
    """The share of "yes" verdicts over the graded items, in percent (NaN when none were)."""
    return 100 * graded_mean([r["Correctness"] for r in results], name="activitynetqa/accuracy").mean

"""WildVision-Bench's ``utils.py`` migrated to judgekit: arena verdicts ``[[A>>B]]`` ... ``[[B>>A]]``, with the image.

Follows ``lmms_eval/tasks/wild_vision_bench/utils.py`` (lmms-eval 75571cf). Assistant A is the baseline
(claude-3-sonnet), B the model under evaluation. The system prompt and user template are the task's own;
the image goes with the user message (temperature 0, 1024 tokens).

Before: ``[[...]]`` was searched with ``\\[\\[([AB<>=]+)\\]\\]``; with none, or two different ones, the
*whole reply* was searched for "A>B", "A>>B", ... in turn, so conflicting verdicts read as "A>B" and a verdict
named in prose counted. No verdict at all, an empty reply or a failed request became a tie ("Unclear",
raw score 0) that entered the mean and the Elo fit.

After: `BracketedVerdict` accepts one offered verdict, stated alone or repeated; anything else is an
explicit failure, left out of every aggregate (the log line says how many). The Elo fit (sklearn in the
original) is left out of this example; feed it the graded battles only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judgekit import SimplifiedJudge, graded_mean
from judgekit.task_formats import BracketedVerdict

BASELINE_MODEL_NAME = "claude-3-sonnet-20240229"

SYSTEM_PROMPT = (Path(__file__).parent / "prompts" / "wild_vision_system.txt").read_text(encoding="utf-8")

PROMPT_TEMPLATE = (
    "<|User Prompt|>\n{question_1}\n\n<|The Start of Assistant A's Answer|>\n{answer_1}\n<|The End of Assistant A's "
    "Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_2}\n<|The End of Assistant B's Answer|>"
)

# verdict -> (raw score for B, winner, judgement), as in the original
OUTCOMES = {
    "A>>B": (-2, "model_a", "Worse++"),
    "A>B": (-1, "model_a", "Worse"),
    "A=B": (0, "tie", "Tie"),
    "B>A": (1, "model_b", "Better"),
    "B>>A": (2, "model_b", "Better++"),
}
parse_verdict = BracketedVerdict()  # the five arena verdicts

_judge: SimplifiedJudge | None = None


def judge() -> SimplifiedJudge:
    """One judge per process, configured from the environment (API_TYPE, OPENAI_API_KEY, MODEL_VERSION)."""
    global _judge
    if _judge is None:
        _judge = SimplifiedJudge(temperature=0.0, max_tokens=1024)
    return _judge


def wild_vision_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    pred = results[0]
    prompt = PROMPT_TEMPLATE.format(question_1=doc["instruction"], answer_1=doc[BASELINE_MODEL_NAME], answer_2=pred)
    graded = judge().evaluate_custom(prompt, system_prompt=SYSTEM_PROMPT, images=[doc["image"]], parse=parse_verdict)
    raw_score, winner, judgement = OUTCOMES[graded["result"]] if graded["success"] else (None, None, None)
    battle = {
        "question": doc["instruction"],
        "model_a": BASELINE_MODEL_NAME,
        "model_b": "evaluation_model",
        "winner": winner,
    }
    return {
        "raw_scores": {"final_score": raw_score},  # -2..2, or None when the judge gave no verdict
        "win_rates": battle,
        "judgements": {"judgement": judgement, "gpt_resps": graded["raw_response"], "error": graded["error_message"]},
    }


def wild_vision_aggregation_raw_scores(results: list[dict[str, Any]]) -> float:
    """The mean raw score (-2..2) of the evaluated model over the judged battles."""
    return graded_mean([r["final_score"] for r in results], name="wild_vision/raw_scores").mean


def wild_vision_aggregation_win_rates(results: list[dict[str, Any]]) -> float:
    """How often the evaluated model won, in percent of the judged battles."""
    wins = [None if r["winner"] is None else r["winner"] == "model_b" for r in results]
    return 100 * graded_mean(wins, name="wild_vision/win_rates").mean


def wild_vision_judgement_share(results: list[dict[str, Any]], judgement: str) -> float:
    """The share of one judgement ("Better", "Worse++", "Tie", ...) in percent of the judged battles."""
    hits = [None if r["judgement"] is None else r["judgement"] == judgement for r in results]
    return 100 * graded_mean(hits, name=f"wild_vision/{judgement}").mean

"""judgekit judges as Inspect scorers: ``judgekit_scorer(kind=..., judge=...)`` (the ``[inspect]`` extra).

    from judgekit.integrations.inspect import judgekit_scorer
    Task(dataset=..., solver=generate(), scorer=judgekit_scorer(kind="correctness", model_name="gpt-4o-mini"))

Inspect finds the scorer without an import as ``judgekit/judgekit_scorer`` through judgekit's ``inspect_ai``
entry point (``inspect score LOG --scorer judgekit/judgekit_scorer -S kind=binary``). A sample's input is the
question, its target the reference answer, the model's completion the prediction (``response`` for pointwise).

Scores: a verdict kind (``binary``, ``correctness``) gives ``CORRECT`` / ``INCORRECT``; ``pointwise`` its score.
``explanation`` is the judge's reasoning (else its reply); ``metadata["judgekit"]`` holds the evaluator's
provenance and ``metadata`` the cost, tokens, latency and cache use. When judgekit fails (the backend, or a reply
that is not a verdict) the score is unscored (``Score.unscored(reason="grader_failed")``, left out of the
metrics), never ``INCORRECT``; the explanation says why.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.integrations import error_name, provenance
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind
from judgekit.prompts import load_template
from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeResult

__all__ = ["KINDS", "judgekit_scorer", "to_score"]

KINDS = ("binary", "correctness", "pointwise")
"""The kinds a sample's (input, target, completion) can be judged with, each giving one score."""


@scorer(metrics=[mean(), stderr()])
def judgekit_scorer(
    kind: str = "binary", judge: SimplifiedJudge | JudgeInterface | None = None, **options: Any
) -> Scorer:
    """Score each sample with a judgekit judge of ``kind`` (binary, correctness, pointwise).

    ``judge``: a `SimplifiedJudge` or a `JudgeInterface`; without one, ``options`` that are `JudgeConfig` fields
    (``api_type``, ``model_name``, ``base_url``, ...) configure a judge, the rest from the environment as usual.
    Other ``options`` go to every judgement (``output_format``, ``score_range``, ``custom_prompt``, ...).
    """
    spec = get_kind(kind)
    if spec.name not in KINDS:
        raise ConfigError(f"judgekit_scorer judges {', '.join(KINDS)}, not {kind!r}", "kind")
    settings = {k: v for k, v in options.items() if k in JudgeConfig.model_fields}
    call = {k: v for k, v in options.items() if k not in settings}
    if judge is None:
        judge = SimplifiedJudge(**settings)
    elif settings:
        raise ConfigError(f"pass judge= or judge settings ({', '.join(settings)}), not both", "judge")
    judged = judge if isinstance(judge, SimplifiedJudge) else SimplifiedJudge(judge=judge)
    evaluate = getattr(judged, "a" + spec.method)
    custom = call.get("custom_prompt")
    template = custom if isinstance(custom, str) else load_template(spec.template)

    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion
        values = {"question": state.input_text, "answer": target.text, "prediction": completion, "response": completion}
        result = await evaluate(**{name: values[name] for name in spec.fields}, **call)
        who = provenance(
            kind=spec.name,
            backend=judged.judge.provider_name,
            model=result.get("model") or judged.config.model_name,
            template=template,
            calibrator=judged.config.calibrator,
        )
        return to_score(result, completion, who)

    return score


def to_score(result: JudgeResult, answer: str, who: dict[str, str]) -> Score:
    """An Inspect `Score` from a judgekit result: its value, or unscored with the reason when it failed."""
    metadata: dict[str, Any] = {
        "judgekit": who,
        "cost_usd": result.get("cost_usd"),
        "usage": result.get("usage"),
        "latency_s": result.get("latency_s"),
        "cached": result.get("cached"),
    }
    if not result["success"]:
        metadata["error_type"] = error_name(result.get("error_type"))
        return Score.unscored(
            reason="grader_failed", answer=answer, explanation=result.get("error_message"), metadata=metadata
        )
    for key in ("p_yes", "p_yes_raw", "expected_score"):
        if result.get(key) is not None:
            metadata[key] = result[key]
    value: Any = result["scores"] if result["result"] is None else (CORRECT if result["result"] else INCORRECT)
    explanation = result.get("reasoning") or result.get("raw_response")
    return Score(value=value, answer=answer, explanation=explanation, metadata=metadata)

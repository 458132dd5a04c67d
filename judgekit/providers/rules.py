"""The rules judge: deterministic answer checking against a reference answer, no model involved.

``SimplifiedJudge(api_type="rules").evaluate_binary(question, answer, prediction)`` checks the prediction's
final answer with `judgekit.verifiers.verify_answer` (option letters, numbers, math via math-verify, text)
and replies with the verdict token the kind's parser reads; the rule's explanation is the reasoning.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.kinds import KINDS
from judgekit.types import JudgeRequest, JudgeResponse
from judgekit.verifiers import verify_answer

__all__ = ["RulesJudge"]

_KINDS = tuple(name for name, spec in KINDS.items() if spec.verdict)  # verdicts against a reference answer


class RulesJudge(JudgeInterface):
    """Judges binary and correctness tasks by rule (`judgekit.verifiers.verify_answer`).

    Reads ``request.task``: ``fields["answer"]`` (required) and ``fields["prediction"]``; the optional
    ``options["answer_type"]`` picks the rule (choice, number, math, text; detected when absent). Needs no
    key or network; ``math`` answers need the math-verify package.
    """

    provider_name: ClassVar[str] = "rules"

    def is_available(self) -> bool:
        return True

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        task = request.task
        if task is None:
            raise ConfigError(
                "the rules judge judges structured tasks; use SimplifiedJudge.evaluate_binary / evaluate_correctness",
                field="task",
            )
        kind = task.kind
        if kind not in _KINDS:
            raise ConfigError(
                f"the rules judge cannot judge {kind!r} (only {' and '.join(_KINDS)}: kinds with a reference answer)",
                field="kind",
            )
        fields, options = task.fields, task.options
        if fields.get("answer") is None:
            raise ConfigError(f"the rules judge needs a reference answer: the {kind} task has no 'answer'", "answer")
        verification = verify_answer(fields.get("prediction") or "", fields["answer"], options.get("answer_type"))
        return JudgeResponse(
            content=_verdict(kind, options, config, verification.correct),
            reasoning=verification.detail,
            model_used="rules",
            provider=self.provider_name,
            finish_reason="stop",
            raw_response=dataclasses.asdict(verification),
        )


def _verdict(kind: str, options: dict[str, Any], config: JudgeConfig, correct: bool) -> str:
    """The token the kind's parser reads: "1"/"0" or "Yes"/"No" for binary, "Yes"/"No" for correctness."""
    positive, negative = KINDS[kind].verdict_words(options.get("output_format") or config.output_format)
    return positive if correct else negative

"""vLLM's structured decisions API, ``POST {base_url}/systemone`` (api_type ``systemone``; vLLM 0.32+).

The same judging as `judgekit.providers.decisions` in vLLM's native shape: ``state`` (the input), ``questions``
as an object ``{id: {type: noul | choice | score, instructions, criteria}}``, and answers with diagnostics
(``label_mass``: the labels' probability over the whole vocabulary; ``confidence``). ``base_url`` is the
server, ``http://host:8000/v1`` (a bare ``http://host:8000`` gets ``/v1``; ``LLM_JUDGE_URL`` / ``VLLM_BASE_URL``);
``VLLM_API_KEY`` is sent as a Bearer token when set. Without ``model_name`` the request names no model and the
server uses its own. Other hosts serve the shape too (Fireworks: ``https://api.fireworks.ai/inference/v1``).

vLLM enables the endpoint only for architectures it has a read strategy for (Qwen3, ...), started with
``--logprobs-mode raw_logprobs``, and a tokenizer whose labels (``yes``, ``no``, ``A``-``Z``, ``0``-``9``)
are single tokens after the chat prompt; otherwise it answers 501, which this provider reports as such.
"""

from __future__ import annotations

from typing import Any, ClassVar

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.images import load_image
from judgekit.providers.decisions import DecisionsJudge
from judgekit.questions import Answer, Question, finite_probability
from judgekit.types import JudgeRequest

__all__ = ["SystemOneJudge"]

_TYPES = {"yes_no": "noul", "choice": "choice", "score": "score"}


class SystemOneJudge(DecisionsJudge):
    """A judge on vLLM's ``/v1/systemone`` (see the module docstring)."""

    provider_name: ClassVar[str] = "systemone"
    default_base_url: ClassVar[str | None] = None
    path: ClassVar[str] = "systemone"
    shape: ClassVar[str] = "/v1/systemone"

    def base_urls(self, config: JudgeConfig) -> list[str]:
        if not config.base_urls:
            raise ConfigError(
                "systemone: no server URL; set LLM_JUDGE_URL (or VLLM_BASE_URL) or pass base_url, "
                "e.g. http://127.0.0.1:8000/v1",
                field="base_url",
            )
        return super().base_urls(config)

    def is_available(self) -> bool:
        return bool(self.config.base_urls)

    def model_for(self, config: JudgeConfig) -> str | None:  # type: ignore[override]
        return config.model_name  # None: the server judges with the model it serves

    async def resolve_model(self, config: JudgeConfig, base_url: str | None) -> str | None:  # type: ignore[override]
        return config.model_name

    def build_body(
        self, text: str, questions: list[Question], request: JudgeRequest, config: JudgeConfig, model: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"state": text, "questions": {q.name: _question(q) for q in questions}}
        if model:
            body["model"] = model
        if config.system_prompt:
            body["instructions"] = config.system_prompt
        if request.images:
            body["images"] = [load_image(img, max_side=config.image_max_side).data_url for img in request.images]
        return body

    def read_answers(self, data: Any, questions: list[Question], model: str | None) -> dict[str, Answer]:
        """The reply's ``answers`` and ``diagnostics``, both keyed by question id."""
        answers = data.get("answers") if isinstance(data, dict) else None
        if not isinstance(answers, dict) or any(q.name not in answers for q in questions):
            got = sorted(answers) if isinstance(answers, dict) else "none"
            raise self._bad_reply(f"the reply answers {got}, not every question asked", model)
        diagnostics = data.get("diagnostics") if isinstance(data.get("diagnostics"), dict) else {}
        return {q.name: _answer(answers[q.name], diagnostics.get(q.name), q) for q in questions}


def _question(question: Question) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": _TYPES[question.type], "instructions": question.instructions}
    if question.type == "choice":
        wire["criteria"] = {o.name: o.description for o in question.options}
    elif question.type == "score":
        wire["criteria"] = [o.name for o in question.options]
    return wire


def _answer(item: Any, diagnostics: Any, question: Question) -> Answer:
    if not isinstance(item, dict):
        return Answer(question.name)
    probabilities = item.get("probabilities") if isinstance(item.get("probabilities"), dict) else {}
    if question.type == "score":  # keyed by level index ("0", "1", ...): back to the levels' names
        names = [o.name for o in question.options]
        probabilities = {
            names[int(k)] if k.isdigit() and int(k) < len(names) else k: v for k, v in probabilities.items()
        }
    label_mass = finite_probability(diagnostics.get("label_mass")) if isinstance(diagnostics, dict) else None
    return Answer(question.name, dict(probabilities), finite_probability(item.get("confidence")), label_mass)

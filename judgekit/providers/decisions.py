"""Decision backends in the OpenAI Decisions shape: ``POST {base_url}/decisions`` (api_type ``decisions``).

The endpoint generates no text: it answers typed questions (``predicate``, ``choice``, ``score``) about one
input with a probability per option, read from the model's next-token scores. ``base_url`` picks the host:
OpenAI (the default, ``https://api.openai.com/v1``, model ``gpt-6-luna``), a vLLM 0.33+ or SGLang server
(``http://host:8000/v1``; a bare ``http://host:8000`` gets ``/v1``; without ``model_name`` the served model is
read from ``GET /models``), or another compatible host. Several URLs make an endpoint pool.

This provider reads ``request.task`` (the structured form every ``SimplifiedJudge.evaluate_*`` call carries),
never the chat prompt: the kind's `~judgekit.questions.DecisionSpec` says which questions one request asks and
how the answers become the result (``p_yes``, expected scores, P(A)). A refused question, a 400 on a bad
question, a 404 (no such endpoint or model) and a 501 (the model does not support the endpoint) are failures
that say so, and are not retried. `judgekit.providers.systemone` speaks vLLM's native ``/v1/systemone``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderError, ProviderResponseError
from judgekit.images import load_image
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind
from judgekit.providers.openai import OPENAI_BASE_URL, _usage
from judgekit.providers.vllm import VLLMJudge, with_v1
from judgekit.questions import Answer, DecisionSpec, Question, finite_probability
from judgekit.types import JudgeRequest, JudgeResponse, JudgeTask

__all__ = ["DEFAULT_DECISIONS_MODEL", "DecisionsJudge"]

DEFAULT_DECISIONS_MODEL = "gpt-6-luna"
_OPENAI_TYPES = {"yes_no": "predicate", "choice": "choice", "score": "score"}


class DecisionsJudge(VLLMJudge):
    """A judge on a decision endpoint in the OpenAI Decisions shape (see the module docstring).

    Subclasses for other shapes override `path`, `build_body` and `read_answers` (`judgekit.providers.systemone`).
    """

    provider_name: ClassVar[str] = "decisions"
    default_base_url: ClassVar[str | None] = OPENAI_BASE_URL
    path: ClassVar[str] = "decisions"
    shape: ClassVar[str] = "OpenAI Decisions"

    # -- where and who ---------------------------------------------------------------------------

    def base_urls(self, config: JudgeConfig) -> list[str]:
        if config.base_urls:
            return [with_v1(url) for url in config.base_urls]
        return [self.default_base_url] if self.default_base_url else super().base_urls(config)

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        if config.secret() is None and self.base_urls(config)[0] == OPENAI_BASE_URL:
            raise ConfigError(f"{self.provider_name}: no API key; set OPENAI_API_KEY or pass api_key", "api_key")
        return super().headers(config)

    def is_available(self) -> bool:
        return self.config.api_key is not None or bool(self.config.base_urls)

    def model_for(self, config: JudgeConfig) -> str | None:  # type: ignore[override]
        """``model_name``; else ``gpt-6-luna`` on OpenAI; else not known before a server is asked."""
        if config.model_name or self.base_urls(config)[0] != OPENAI_BASE_URL:
            return config.model_name
        return DEFAULT_DECISIONS_MODEL

    async def resolve_model(self, config: JudgeConfig, base_url: str | None) -> str:
        """`model_for`, else the model the self-hosted server at ``base_url`` serves (``GET /models``)."""
        return self.model_for(config) or await super().resolve_model(config, base_url)

    def chat_url(self, base_url: str) -> str:
        return f"{base_url}/{self.path}"

    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
        """The reply depends on ``request.task`` (the questions), not on the chat prompt."""
        data = JudgeInterface.cache_key_data(self, request, config)  # the chat providers' drops the task
        if data is not None:
            data.pop("messages", None)
        return data

    # -- the wire --------------------------------------------------------------------------------

    async def _send_to(self, request: JudgeRequest, config: JudgeConfig, base_url: str | None) -> JudgeResponse:
        task, spec, questions = _plan(request)
        model = await self.resolve_model(config, base_url)
        body = self.build_body(spec.input_text(task.fields), questions, request, config, model)
        body.update(config.extra_body)
        url = self.endpoint(config) if base_url is None else self.chat_url(base_url)
        try:
            data = await self._transport.request_json(
                "POST", url, payload=body, headers=self.headers(config), timeout=config.timeout, model=model
            )
        except ProviderError as exc:
            raise self._unsupported(exc, url, model) or exc from None
        answers = self._checked(self.read_answers(data, questions, model), questions, model)
        decisions = {name: answer.to_dict() for name, answer in answers.items()}
        judgement = spec.judge(task, decisions, config.decision_threshold)
        return JudgeResponse(
            content=json.dumps({name: answer.probabilities for name, answer in answers.items()}, separators=(",", ":")),
            model_used=str(data.get("model") or model or ""),
            usage=_usage(data.get("usage")),
            raw_response=data,
            score=judgement.score,
            decisions=decisions,
            provider=self.provider_name,
            finish_reason="stop",
        )

    def build_body(
        self, text: str, questions: list[Question], request: JudgeRequest, config: JudgeConfig, model: str | None
    ) -> dict[str, Any]:
        """The request body: ``input`` (text, or one user message with the images), the questions in order."""
        content: Any = text
        if request.images:
            parts = [
                {"type": "input_image", "image_url": load_image(img, max_side=config.image_max_side).data_url}
                for img in request.images
            ]
            content = [{"type": "input_text", "text": text}, *parts]
        messages = [{"type": "message", "role": "user", "content": content}]
        if config.system_prompt:
            messages.insert(0, {"type": "message", "role": "developer", "content": config.system_prompt})
        return {"model": model, "input": messages, "questions": [_openai_question(q) for q in questions]}

    def read_answers(self, data: Any, questions: list[Question], model: str | None) -> dict[str, Answer]:
        """The reply's answers by question name (``answers`` is a list in question order)."""
        items = data.get("answers") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(questions):
            got = len(items) if isinstance(items, list) else "no"
            raise self._bad_reply(f"the reply has {got} answers for {len(questions)} questions", model)
        return {q.name: _openai_answer(item, q) for q, item in zip(questions, items, strict=True)}

    # -- failures --------------------------------------------------------------------------------

    def _unsupported(self, exc: ProviderError, url: str, model: str | None) -> ProviderError | None:
        """A clear, non-retried failure for an endpoint the server lacks (404) or cannot serve (501)."""
        if exc.status_code == 501:
            why = (
                f"the server cannot answer {self.shape} decisions with this model ({exc.message}); vLLM serves "
                "them only for supported architectures (Qwen3, ...) started with --logprobs-mode raw_logprobs and "
                "a tokenizer with the labels as single tokens (VLLM_LOGGING_LEVEL=DEBUG logs why it is disabled)"
            )
        elif exc.status_code == 404:
            served = f" or no model {model!r}" if model else ""
            why = (
                f"{url} answered {exc.message}: no {self.shape} endpoint there{served}; "
                "check base_url, model_name and the server's version"
            )
        else:
            return None
        return ProviderError(
            why, provider=self.provider_name, model=model, status_code=exc.status_code, retryable=False, body=exc.body
        )

    def _checked(self, answers: dict[str, Answer], questions: list[Question], model: str | None) -> dict[str, Answer]:
        refused = [q.name for q in questions if answers[q.name].refused]
        if refused:
            names = ", ".join(repr(name) for name in refused)
            raise self._bad_reply(f"the model refused to answer question(s) {names}", model)
        for q in questions:
            answer = answers[q.name]
            expected = {"yes", "no"} if q.type == "yes_no" else {o.name for o in q.options}
            probabilities = {k: finite_probability(v) for k, v in answer.probabilities.items()}
            if set(probabilities) != expected or None in probabilities.values() or not sum(probabilities.values()):
                raise self._bad_reply(
                    f"unreadable answer to question {q.name!r}: {answer.probabilities!r:.200}", model, retryable=True
                )
        return answers

    def _bad_reply(self, message: str, model: str | None, *, retryable: bool = False) -> ProviderResponseError:
        return ProviderResponseError(message, provider=self.provider_name, model=model, retryable=retryable)


def _plan(request: JudgeRequest) -> tuple[JudgeTask, DecisionSpec, list[Question]]:
    """The task, its kind's decision spec and its questions; `ConfigError` when there is nothing to ask."""
    task = request.task
    if task is None:
        raise ConfigError(
            "decision backends judge structured tasks (request.task): use SimplifiedJudge.evaluate_binary, "
            "evaluate_pointwise, ... rather than a bare chat request",
            "task",
        )
    spec = get_kind(task.kind, field="task.kind").decision
    if spec is None:
        raise ConfigError(f"decision backends cannot judge {task.kind!r} tasks", "kind")
    if task.options.get("custom_prompt"):
        raise ConfigError(
            "custom_prompt: decision backends ask their own typed questions about the kind's fields "
            "(judgekit/prompts/decision_<kind>.txt); use a chat backend for a custom prompt",
            "custom_prompt",
        )
    return task, spec, spec.ask(task.fields, task.options)


def _openai_question(question: Question) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "type": _OPENAI_TYPES[question.type],
        "name": question.name,
        "instructions": question.instructions,
    }
    if question.type == "choice":
        wire["choices"] = [_described({"value": o.name}, o.description) for o in question.options]
    elif question.type == "score":
        wire["levels"] = [_described({"label": o.name}, o.description) for o in question.options]
    return wire


def _described(item: dict[str, Any], description: str | None) -> dict[str, Any]:
    return {**item, "description": description} if description else item


def _openai_answer(item: Any, question: Question) -> Answer:
    if not isinstance(item, dict):
        return Answer(question.name)
    kind = item.get("type")
    if kind == "refusal":
        return Answer(question.name, refused=True)
    confidence = finite_probability(item.get("confidence"))
    if kind == "predicate":
        p = finite_probability(item.get("probability"))
        probabilities = {} if p is None else {"yes": p, "no": 1.0 - p}
        return Answer(question.name, probabilities)
    rows = item.get("probabilities") if isinstance(item.get("probabilities"), list) else []
    rows = [row for row in rows if isinstance(row, dict)]
    if kind == "choice":
        return Answer(question.name, {str(r.get("value")): r.get("probability") for r in rows}, confidence)
    if kind == "score":  # each row: the level's label, its index as value, its probability
        names = [o.name for o in question.options]
        probabilities = {}
        for row in rows:
            index = row.get("value")
            label = names[index] if isinstance(index, int) and 0 <= index < len(names) else str(row.get("label"))
            probabilities[label] = row.get("probability")
        return Answer(question.name, probabilities, confidence)
    return Answer(question.name)

"""judgekit as a provider of lmms-eval's ``lmms_eval.llm_judge`` (``API_TYPE=judgekit``).

The 24 lmms-eval tasks that judge through ``lmms_eval.llm_judge`` call ``get_server(API_TYPE, ServerConfig(...))``
and then ``server.evaluate(Request)``, ``server.evaluate_binary(...)`` or ``server.evaluate_comparative(...)``.
With ``API_TYPE=judgekit`` they get `JudgekitProvider`: the same request and response types, answered by a
judgekit judge. ``API_TYPE`` is lmms-eval's own variable, so judgekit's backend is chosen by
``JUDGEKIT_API_TYPE`` (openai, azure, vllm, anthropic, judge_server, torch, rules, ...; default openai), with
judgekit's usual variables for its key, URL and model (``OPENAI_API_KEY``, ``OPENAI_API_URL``, ``VLLM_BASE_URL``,
... see docs/configuration.md). The task's ``ServerConfig`` holds: ``model_name``, ``temperature``,
``max_tokens``, ``top_p``, ``timeout``, ``num_retries`` (lmms-eval counts attempts; judgekit retries one fewer
time), ``retry_delay``, ``max_concurrent``, ``system_prompt`` and ``response_format="json"``.

Registration: importing this module registers the provider; lmms-eval's own command line and
``lmms_eval.evaluator`` load it through the ``lmms_eval.models`` entry point judgekit declares
(`judgekit.integrations.lmms_eval_entry`, run when lmms-eval builds its model registry, before any task module
is imported). See docs/integrations.md.

Token use goes into lmms-eval's usage accounting (``log_usage(source="judge")``) as with its own providers.
Failures reach the task as lmms-eval's own providers report them: ``evaluate`` raises (a `ProviderError` naming
the cause and the attempts, after judgekit's retries and backoff) and the task logs it. On top,
``evaluate_binary`` / ``evaluate_comparative`` read the reply with judgekit's parsers: a reply that is not a
verdict gives ``success=False`` with ``error_message`` instead of lmms-eval's silent 0 (or ``(-1, -1)``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lmms_eval.llm_judge import JudgePromptBuilder, ProviderFactory, Request, Response, ServerConfig, ServerInterface
from lmms_eval.models.model_utils.usage_metrics import log_usage

from judgekit import errors
from judgekit.config import JudgeConfig, env_value
from judgekit.errors import ConfigError, ParseError, ProviderError
from judgekit.factory import JudgeFactory
from judgekit.interface import JudgeInterface
from judgekit.parsers import parse_binary, parse_comparative
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["API_TYPE", "BACKEND_ENV", "JudgekitProvider", "judge_config", "register"]

API_TYPE = "judgekit"
"""The ``API_TYPE`` value that selects judgekit in lmms-eval."""
BACKEND_ENV = "JUDGEKIT_API_TYPE"
"""The variable that picks judgekit's own backend (default ``openai``)."""

# ServerConfig fields that map one to one onto JudgeConfig fields
_SAME = ("model_name", "temperature", "max_tokens", "top_p", "timeout", "retry_delay", "max_concurrent",
         "system_prompt")  # fmt: skip


def judge_config(server: ServerConfig, base: JudgeConfig | None = None) -> JudgeConfig:
    """``base`` (default: judgekit's environment for the ``JUDGEKIT_API_TYPE`` backend) with what the task's
    ``ServerConfig`` says laid over it."""
    if base is None:
        backend = (env_value(BACKEND_ENV) or "openai").strip().lower()
        if backend == API_TYPE:
            raise ConfigError(f"{BACKEND_ENV} names judgekit's own backend (openai, vllm, ...), not {API_TYPE!r}",
                              BACKEND_ENV)  # fmt: skip
        base = JudgeConfig.from_env(api_type=backend)
    update: dict[str, Any] = {name: getattr(server, name) for name in _SAME if getattr(server, name) is not None}
    update["num_retries"] = max(0, int(server.num_retries) - 1)  # lmms-eval: attempts; judgekit: retries
    if server.response_format == "json":
        update["response_format"] = {"type": "json_object"}
    return base.merged(**update)


class JudgekitProvider(ServerInterface):
    """lmms-eval's ``ServerInterface`` answered by a judgekit judge (``API_TYPE=judgekit``).

    ``judge=`` gives an existing `JudgeInterface` (its config is used as it is); otherwise one is made for the
    ``JUDGEKIT_API_TYPE`` backend from the environment and the task's ``ServerConfig``.
    """

    def __init__(self, config: ServerConfig | None = None, *, judge: JudgeInterface | None = None) -> None:
        super().__init__(config)
        if judge is None:
            settings = judge_config(self.config)
            judge = JudgeFactory.create_judge(api_type=settings.api_type, config=settings)
        self.judge = judge

    def __repr__(self) -> str:
        return f"JudgekitProvider({self.judge!r})"

    def is_available(self) -> bool:
        return self.judge.is_available()

    def evaluate(self, request: Request) -> Response:
        """Judge one lmms-eval ``Request``; raises a `ProviderError` (with the reason) when the backend failed."""
        reply = self.judge.evaluate(self._request(request))
        if not reply.success:
            raise _error(reply)
        usage = reply.usage.model_dump()
        if not reply.cached:  # lmms-eval's token accounting, as its own providers report it
            model = reply.model_used or self.judge.config.model_name or ""
            log_usage(model_name=model, input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"],
                      source="judge")  # fmt: skip
        return Response(content=reply.content.strip(), model_used=reply.model_used, usage=usage, raw_response=reply)

    def evaluate_binary(
        self,
        question: str,
        answer: str,
        prediction: str,
        output_format: str = "0/1",
        custom_prompt: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """lmms-eval's binary judgement (its prompt), read with `judgekit.parsing.parse_binary`."""
        prompt = JudgePromptBuilder.build_binary_prompt(
            question=question, answer=answer, prediction=prediction, output_format=output_format,
            custom_prompt=custom_prompt, **kwargs,
        )  # fmt: skip
        request = Request(messages=[{"role": "user", "content": prompt}], question=question, answer=answer,
                          prediction=prediction, config=self.config)  # fmt: skip
        fmt = "yes/no" if output_format == "yes/no" else "0/1"
        return self._read(request, prompt, "result", lambda text: parse_binary(text, fmt))

    def evaluate_comparative(
        self,
        question: str,
        response1: str,
        response2: str,
        context: str | None = None,
        score_range: tuple[int, int] = (1, 10),
        custom_prompt: str | None = None,
        images: list[Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """lmms-eval's comparative judgement (its prompt), read with `judgekit.parsing.parse_comparative`."""
        prompt = JudgePromptBuilder.build_comparative_prompt(
            question=question, response1=response1, response2=response2, context=context, score_range=score_range,
            custom_prompt=custom_prompt, **kwargs,
        )  # fmt: skip
        request = Request(messages=[{"role": "user", "content": prompt}], question=question, response1=response1,
                          response2=response2, context=context, images=images, config=self.config)  # fmt: skip
        return self._read(request, prompt, "scores", lambda text: parse_comparative(text, tuple(score_range)))

    # -- shared ----------------------------------------------------------------------------------

    def _request(self, request: Request) -> JudgeRequest:
        own = request.config
        config = None
        if own is not None and own is not self.config and asdict(own) != asdict(self.config):
            config = judge_config(own, self.judge.config)  # a per-request ServerConfig (mathvista's retries)
        return JudgeRequest(messages=self.prepare_messages(request), images=request.images or [], config=config)

    def _read(self, request: Request, prompt: str, slot: str, parse: Any) -> dict[str, Any]:
        """The result dict lmms-eval's ``evaluate_*`` return, with ``success=False`` and ``error_message`` when
        the reply is not readable (the backend's failure raises, as in ``evaluate``)."""
        response = self.evaluate(request)
        reply = response.content
        result: dict[str, Any] = {"raw_response": reply, "model": response.model_used, "prompt": prompt}
        try:
            result.update({slot: parse(reply), "success": True, "error_message": None})
        except ParseError as exc:
            result.update({slot: None, "success": False, "error_message": f"unreadable judge reply: {exc}"})
        return result


def _error(reply: JudgeResponse) -> ProviderError:
    """The `ProviderError` subclass a failed reply names (its ``error_type``), with its reason."""
    cls = getattr(errors, reply.error_type or "", None)
    if not (isinstance(cls, type) and issubclass(cls, ProviderError)):
        cls = ProviderError  # an unforeseen error: its message already starts with its type
    exc = cls(reply.error_message or "the judge failed")
    exc.status_code = reply.status_code
    return exc


def register() -> None:
    """Register `JudgekitProvider` as ``API_TYPE=judgekit`` in lmms-eval's ``ProviderFactory`` (done on import)."""
    ProviderFactory.register_provider(API_TYPE, JudgekitProvider)


register()

"""OpenAI chat completions (and the wire format the OpenAI-compatible providers share)."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable
from typing import Any, ClassVar

from judgekit._transport import HTTPTransport
from judgekit.config import DEFAULT_OPENAI_MODEL, JudgeConfig
from judgekit.errors import ConfigError, EmptyReplyError, ProviderResponseError
from judgekit.images import load_image, to_openai_part
from judgekit.interface import JudgeInterface
from judgekit.pool import EndpointPool, Policy
from judgekit.types import JudgeRequest, JudgeResponse, Usage, reply, trusted

__all__ = ["OpenAIJudge", "build_messages", "is_reasoning_model"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
_REASONING_MODEL = re.compile(r"^(?:gpt-5|o1|o3|o4)(?:$|[-.:_])")


@functools.lru_cache(maxsize=256)  # asked for every request; a judge uses one or two models
def is_reasoning_model(model: str) -> bool:
    """gpt-5*, o1*, o3*, o4* take ``max_completion_tokens`` and no sampling parameters."""
    return bool(_REASONING_MODEL.match(model.lower()))


def build_messages(request: JudgeRequest, config: JudgeConfig) -> list[dict[str, Any]]:
    """OpenAI chat messages: the config's system prompt first (unless one is given), images attached
    to the last user message as ``image_url`` parts."""
    messages = list(request.messages)
    if config.system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    if request.images:
        parts = [
            to_openai_part(load_image(img, max_side=config.image_max_side, field=f"images[{i}]"))
            for i, img in enumerate(request.images)
        ]
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        if last_user is None:
            raise ConfigError("JudgeRequest.images: there is no user message to attach images to", "images")
        message = messages[last_user]
        content = message["content"]
        text_parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        messages[last_user] = {**message, "content": text_parts + parts}
    return messages


class OpenAIJudge(JudgeInterface):
    """OpenAI chat completions over a lean aiohttp transport; base class of the compatible providers.

    ``base_url`` may list several replicas of one model: requests are then spread over an `EndpointPool`
    (least outstanding requests, failover on connection errors; see `judgekit.pool`).
    """

    provider_name: ClassVar[str] = "openai"
    default_base_url: ClassVar[str | None] = OPENAI_BASE_URL
    pool_capable: ClassVar[bool] = True
    batch_backend_class: ClassVar[str | None] = "judgekit.providers.openai_batch:OpenAIBatchBackend"
    pool_policy: Policy = "least_outstanding"
    """How an endpoint pool balances; ``"round_robin"`` exists for comparison (benchmarks/pool.py)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._transport = HTTPTransport(self.provider_name)
        self._pools: dict[tuple[str, ...], EndpointPool] = {}

    # -- hooks the compatible providers override ------------------------------------------------

    def model_for(self, config: JudgeConfig) -> str:
        return config.model_name or DEFAULT_OPENAI_MODEL

    async def resolve_model(self, config: JudgeConfig, base_url: str | None) -> str:
        """The model name to send to ``base_url`` (vLLM asks the server when none is configured)."""
        return self.model_for(config)

    def base_urls(self, config: JudgeConfig) -> list[str]:
        """Where requests go: the configured URL(s), else ``default_base_url``."""
        if config.base_urls:
            return config.base_urls
        return [self.default_base_url] if self.default_base_url else []

    def chat_url(self, base_url: str) -> str:
        return f"{base_url}/chat/completions"

    def endpoint(self, config: JudgeConfig) -> str:
        urls = self.base_urls(config)
        if not urls:
            raise ConfigError(f"{self.provider_name}: base_url is not set", field="base_url")
        return self.chat_url(urls[0])

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        key = config.secret()
        if key is None and (config.base_url or self.default_base_url) == OPENAI_BASE_URL:
            raise ConfigError("openai: no API key; set OPENAI_API_KEY or pass api_key", field="api_key")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return {**headers, **config.extra_headers}

    def is_available(self) -> bool:
        return self.config.api_key is not None or (self.config.base_url or OPENAI_BASE_URL) != OPENAI_BASE_URL

    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
        """A chat backend reads the messages only: ``request.task`` does not change the reply."""
        data = super().cache_key_data(request, config)
        if data is not None:
            data.pop("task", None)
        return data

    def build_payload(self, request: JudgeRequest, config: JudgeConfig, model: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": model, "messages": build_messages(request, config)}
        if is_reasoning_model(model):
            payload["max_completion_tokens"] = config.max_tokens
        else:
            payload["max_tokens"] = config.max_tokens
            payload["temperature"] = config.temperature
            if config.top_p is not None:
                payload["top_p"] = config.top_p
        if config.response_format is not None:
            payload["response_format"] = config.response_format
        if config.logprobs:
            payload["logprobs"] = True
            if config.top_logprobs is not None:
                payload["top_logprobs"] = config.top_logprobs
        if config.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        payload.update(config.extra_body)
        return payload

    # -- the wire -----------------------------------------------------------------------------

    def _send(self, request: JudgeRequest, config: JudgeConfig) -> Awaitable[JudgeResponse]:  # type: ignore[override]
        # A plain function returning the attempt's coroutine: a request in flight holds one frame less.
        urls = self.base_urls(config)
        if len(urls) < 2:
            return self._send_to(request, config, None)
        if not self.pool_capable:
            raise ConfigError(
                f"{self.provider_name}: base_url must be a single URL (endpoint pools are not supported)", "base_url"
            )
        return self._pool(urls, config).call(lambda base: self._send_to(request, config, base))

    async def _send_to(self, request: JudgeRequest, config: JudgeConfig, base_url: str | None) -> JudgeResponse:
        """One attempt against ``base_url`` (None: the configured endpoint)."""
        model = await self.resolve_model(config, base_url)
        payload = self.build_payload(request, config, model)
        url = self.endpoint(config) if base_url is None else self.chat_url(base_url)
        headers = self.headers(config)
        return await self._post(url, payload, headers, config, model)

    async def _post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str], config: JudgeConfig, model: str
    ) -> JudgeResponse:
        if payload.get("stream"):
            chunks = self._transport.stream_sse(
                url, payload=payload, headers=headers, timeout=config.timeout, model=model
            )
            return await self._read_stream(chunks, model)
        data = await self._transport.request_json(
            "POST", url, payload=payload, headers=headers, timeout=config.timeout, model=model
        )
        return self._parse_completion(data, model)

    def _parse_completion(self, data: Any, model: str) -> JudgeResponse:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices:
            raise self._bad_reply("the reply has no choices", model, retryable=True)
        choice = choices[0]
        message = choice.get("message") or {}
        return self._response(
            content=_text(message.get("content")),
            reasoning=message.get("reasoning_content") or message.get("reasoning"),
            finish_reason=choice.get("finish_reason"),
            usage=data.get("usage"),
            model=data.get("model") or model,
            logprobs=(choice.get("logprobs") or {}).get("content"),
            raw=data,
        )

    async def _read_stream(self, chunks: Any, model: str) -> JudgeResponse:
        content: list[str] = []
        reasoning: list[str] = []
        logprobs: list[dict[str, Any]] = []
        finish_reason = usage = reported_model = None
        async for _event, chunk in chunks:
            reported_model = chunk.get("model") or reported_model
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    content.append(delta["content"])
                if part := delta.get("reasoning_content") or delta.get("reasoning"):
                    reasoning.append(part)
                logprobs.extend((choice.get("logprobs") or {}).get("content") or [])
                finish_reason = choice.get("finish_reason") or finish_reason
        return self._response(
            content="".join(content),
            reasoning="".join(reasoning) or None,
            finish_reason=finish_reason,
            usage=usage,
            model=reported_model or model,
            logprobs=logprobs or None,
            raw={"streamed": True, "model": reported_model, "usage": usage, "finish_reason": finish_reason},
        )

    def _response(
        self,
        *,
        content: str,
        reasoning: str | None,
        finish_reason: str | None,
        usage: dict[str, Any] | None,
        model: str,
        logprobs: list[dict[str, Any]] | None,
        raw: Any,
    ) -> JudgeResponse:
        if not content.strip():
            if finish_reason == "content_filter":
                raise self._bad_reply("the reply was blocked by the content filter", model, retryable=False)
            raise EmptyReplyError(
                f"empty reply (finish_reason={finish_reason})",
                provider=self.provider_name,
                model=model,
                retryable=False,
            )
        return reply(
            content.strip(),
            _usage(usage),
            reasoning=reasoning,
            finish_reason=finish_reason,
            model_used=model,
            logprobs=logprobs,
            raw_response=raw,
            provider=self.provider_name,
        )

    def _bad_reply(self, message: str, model: str, *, retryable: bool) -> ProviderResponseError:
        return ProviderResponseError(message, provider=self.provider_name, model=model, retryable=retryable)

    # -- endpoint pools ---------------------------------------------------------------------------

    def _pool(self, urls: list[str], config: JudgeConfig) -> EndpointPool:
        key = tuple(urls)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = EndpointPool(
                urls,
                lambda base: self.probe(base, config),
                probe_interval=config.pool_probe_interval,
                policy=self.pool_policy,
            )
        return pool

    async def probe(self, base_url: str, config: JudgeConfig) -> bool:
        """Whether a replica answers ``GET {base_url}/models`` (any reply below HTTP 500 counts)."""
        return await self._transport.is_alive(
            f"{base_url}/models", headers=self.headers(config), timeout=min(5.0, config.timeout)
        )

    def pool_status(self) -> list[dict[str, Any]]:
        """Per replica of every endpoint pool in use: url, healthy, outstanding, served, failures."""
        return [row for pool in self._pools.values() for row in pool.stats()]

    async def aclose(self) -> None:
        await self._transport.aclose()


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _usage(raw: dict[str, Any] | None) -> Usage:
    if not raw:
        return Usage()
    prompt = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
    completion = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
    total = int(raw.get("total_tokens") or prompt + completion)
    return trusted(Usage, {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total})

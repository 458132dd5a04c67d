"""Anthropic (Claude) through the official ``anthropic`` SDK.

One ``AsyncAnthropic`` client per event loop (and key / base URL), with the SDK's own retries off
(``max_retries=0``): retries, backoff and timeouts come from `JudgeInterface` like for every backend.
System messages and ``system_prompt`` go to the ``system`` parameter, images become base64 (or URL)
``image`` blocks placed before the text of the last user message, ``thinking`` blocks become
`JudgeResponse.reasoning`. SDK exceptions are mapped to judgekit's by HTTP status, exactly as for the
HTTP providers (429 -> `RateLimitError` with ``Retry-After``, 401/403 -> `AuthenticationError`, 408/409/5xx
and 529 "overloaded" -> retryable `ProviderError`, connection -> `ProviderConnectionError`, timeout ->
`JudgeTimeoutError`).

Not sent: ``temperature`` / ``top_p`` (the SDK 2.x Messages API takes none; put them in ``extra_body`` for
an API that does) and logprobs (Anthropic returns none: asking raises `ConfigError`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

from judgekit.errors import MissingDependencyError

try:
    import anthropic
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError('the anthropic SDK is not installed: pip install "judgekit[anthropic]"') from exc

from judgekit._sync import LoopLocal, on_private_loop_exit
from judgekit._transport import status_error
from judgekit.config import JudgeConfig
from judgekit.errors import (
    ConfigError,
    EmptyReplyError,
    JudgeTimeoutError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
)
from judgekit.images import load_image, to_anthropic_block
from judgekit.interface import JudgeInterface
from judgekit.types import JudgeRequest, JudgeResponse, Usage

__all__ = ["DEFAULT_ANTHROPIC_MODEL", "AnthropicJudge", "build_anthropic_messages"]

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"
"""Used when no ``model_name`` / ``MODEL_VERSION`` is given: the newest Sonnet that SDK 2.12 lists
(``claude-sonnet-4-5`` is deprecated, end of life 2026-11-30)."""

_NO_LOGPROBS = (
    "anthropic does not return logprobs; use an OpenAI-compatible backend (openai, vllm) or the torch judge "
    "for logprob_score"
)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _blocks(content: Any, config: JudgeConfig, field: str) -> str | list[dict[str, Any]]:
    """Message content as Anthropic wants it: a string, or blocks (OpenAI ``image_url`` parts converted)."""
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
            image = load_image(url, max_side=config.image_max_side, field=f"{field}.content[{i}]")
            blocks.append(to_anthropic_block(image))
        elif kind is not None:
            blocks.append(part)  # text, or already an Anthropic block
        else:
            raise ConfigError(f"{field}.content[{i}]: expected a content part with a 'type'", field=field)
    return blocks


def build_anthropic_messages(request: JudgeRequest, config: JudgeConfig) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API.

    System messages are joined into ``system``; without any, ``config.system_prompt`` is used (as for the
    OpenAI backends). ``request.images`` are put before the text of the last user message.
    """
    system_parts = [_text_of(m["content"]) for m in request.messages if m["role"] == "system"]
    if not system_parts and config.system_prompt:
        system_parts = [config.system_prompt]
    messages = [
        {"role": m["role"], "content": _blocks(m["content"], config, f"messages[{i}]")}
        for i, m in enumerate(request.messages)
        if m["role"] != "system"
    ]
    if request.images:
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        if last_user is None:
            raise ConfigError("JudgeRequest.images: there is no user message to attach images to", "images")
        images = [
            to_anthropic_block(load_image(img, max_side=config.image_max_side, field=f"images[{i}]"))
            for i, img in enumerate(request.images)
        ]
        content = messages[last_user]["content"]
        text = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        messages[last_user] = {**messages[last_user], "content": images + text}
    return ("\n\n".join(p for p in system_parts if p) or None), messages


class AnthropicJudge(JudgeInterface):
    """Claude as a judge. Key from ``ANTHROPIC_API_KEY``; ``base_url`` from ``ANTHROPIC_BASE_URL`` (optional)."""

    provider_name: ClassVar[str] = "anthropic"
    batch_backend_class: ClassVar[str | None] = "judgekit.providers.anthropic_batch:AnthropicBatchBackend"

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._clients: LoopLocal[dict[tuple[str, str | None], anthropic.AsyncAnthropic]] = LoopLocal(
            dict, _close_clients
        )

    def model_for(self, config: JudgeConfig) -> str:
        return config.model_name or DEFAULT_ANTHROPIC_MODEL

    def is_available(self) -> bool:
        return self.config.api_key is not None

    def build_params(self, request: JudgeRequest, config: JudgeConfig, model: str) -> dict[str, Any]:
        """Keyword arguments of ``messages.create`` (without stream / extra_* / timeout)."""
        if config.logprobs:
            raise ConfigError(_NO_LOGPROBS, field="logprob_score")
        if config.response_format is not None:
            raise ConfigError(
                "anthropic: response_format is not supported; describe the format in the prompt, or pass "
                "Anthropic's own structured-output fields in extra_body",
                field="response_format",
            )
        system, messages = build_anthropic_messages(request, config)
        params: dict[str, Any] = {"model": model, "max_tokens": config.max_tokens, "messages": messages}
        if system:
            params["system"] = system
        return params

    def _client(self, config: JudgeConfig) -> anthropic.AsyncAnthropic:
        key = config.secret()
        if key is None:
            raise ConfigError("anthropic: no API key; set ANTHROPIC_API_KEY or pass api_key", field="api_key")
        base = _sdk_base_url(config.base_urls)
        clients = self._clients.get()
        client = clients.get((key, base))
        if client is None:
            client = clients[(key, base)] = anthropic.AsyncAnthropic(
                api_key=key, base_url=base, max_retries=0, timeout=config.timeout
            )
            on_private_loop_exit(client.close)
        return client

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        model = self.model_for(config)
        params = self.build_params(request, config, model)
        client = self._client(config)
        extra: dict[str, Any] = {"timeout": config.timeout}
        if config.extra_body:
            extra["extra_body"] = config.extra_body
        if config.extra_headers:
            extra["extra_headers"] = config.extra_headers
        try:
            if config.stream:
                events = await client.messages.create(**params, stream=True, **extra)
                return await self._read_stream(events, model)
            message = await client.messages.create(**params, **extra)
        except anthropic.APIError as exc:
            raise self._error(exc, model, config.timeout) from None
        return self._read_message(message, model)

    def _read_message(self, message: anthropic.types.Message, model: str) -> JudgeResponse:
        """A `JudgeResponse` from a whole reply (live, or a Message Batches result)."""
        blocks = message.content or []
        return self._response(
            text="".join(b.text for b in blocks if b.type == "text"),
            thinking="".join(b.thinking for b in blocks if b.type == "thinking"),
            stop_reason=message.stop_reason,
            usage=_usage(message.usage, message.usage.output_tokens),
            model=message.model or model,
            raw=message.model_dump(mode="json", exclude_none=True),
        )

    async def _read_stream(self, events: Any, model: str) -> JudgeResponse:
        text: list[str] = []
        thinking: list[str] = []
        start_usage: Any = None
        output_tokens = 0
        stop_reason: str | None = None
        async for event in events:
            kind = event.type
            if kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    text.append(delta.text)
                elif delta.type == "thinking_delta":
                    thinking.append(delta.thinking)
            elif kind == "message_start":
                model = event.message.model or model
                start_usage = event.message.usage
                output_tokens = start_usage.output_tokens or 0
            elif kind == "content_block_start" and event.content_block.type == "text" and event.content_block.text:
                text.append(event.content_block.text)
            elif kind == "message_delta":
                stop_reason = event.delta.stop_reason or stop_reason
                output_tokens = event.usage.output_tokens or output_tokens
        return self._response(
            text="".join(text),
            thinking="".join(thinking),
            stop_reason=stop_reason,
            usage=_usage(start_usage, output_tokens),
            model=model,
            raw={"streamed": True, "model": model, "stop_reason": stop_reason},
        )

    def _response(
        self, *, text: str, thinking: str, stop_reason: str | None, usage: Usage, model: str, raw: Any
    ) -> JudgeResponse:
        if not text.strip():
            if stop_reason == "refusal":
                raise ProviderResponseError("the model refused to answer", provider=self.provider_name, model=model)
            raise EmptyReplyError(f"empty reply (stop_reason={stop_reason})", provider=self.provider_name, model=model)
        return JudgeResponse(
            content=text.strip(),
            reasoning=thinking or None,
            finish_reason=stop_reason,
            usage=usage,
            model_used=model,
            raw_response=raw,
            provider=self.provider_name,
        )

    def _error(self, exc: anthropic.APIError, model: str, timeout: float) -> ProviderError:
        if isinstance(exc, anthropic.APIStatusError):
            try:
                body = exc.response.text
            except Exception:
                body = str(exc.body or exc.message)
            return status_error(exc.status_code, body, exc.response.headers, provider=self.provider_name, model=model)
        if isinstance(exc, anthropic.APITimeoutError):
            return JudgeTimeoutError(f"no reply within {timeout:g}s", provider=self.provider_name, model=model)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            return ProviderConnectionError(
                f"connection failed: {type(cause).__name__}: {cause}",
                provider=self.provider_name,
                model=model,
                unreachable=type(cause).__name__ == "ConnectError",  # httpx's: no connection was made
            )
        return ProviderResponseError(
            f"unreadable reply: {type(exc).__name__}: {exc}", provider=self.provider_name, model=model, retryable=True
        )

    async def aclose(self) -> None:
        clients = self._clients.pop_current()
        if clients:
            await _close_clients(clients)


def _sdk_base_url(urls: Sequence[str]) -> str | None:
    """The SDK appends ``/v1/messages`` itself: ``https://host/v1`` (or ``.../v1/messages``) -> ``https://host``."""
    if not urls:
        return None
    if len(urls) > 1:
        raise ConfigError("anthropic: base_url must be a single URL (endpoint pools are not supported)", "base_url")
    return urls[0].rstrip("/").removesuffix("/messages").removesuffix("/v1")


def _usage(start: Any, output_tokens: int) -> Usage:
    if start is None:
        return Usage(completion_tokens=output_tokens, total_tokens=output_tokens)
    prompt = (
        (start.input_tokens or 0)
        + (getattr(start, "cache_creation_input_tokens", None) or 0)
        + (getattr(start, "cache_read_input_tokens", None) or 0)
    )
    return Usage(prompt_tokens=prompt, completion_tokens=output_tokens, total_tokens=prompt + output_tokens)


async def _close_clients(clients: dict[tuple[str, str | None], anthropic.AsyncAnthropic]) -> None:
    for client in list(clients.values()):
        with contextlib.suppress(Exception):  # closing is best effort
            await client.close()
    clients.clear()

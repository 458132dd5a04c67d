"""vLLM and any other OpenAI-compatible server (SGLang, llama.cpp server, DashScope compatible mode, ...).

The OpenAI wire format with what local serving needs:

- ``base_url`` from ``LLM_JUDGE_URL`` / ``VLLM_BASE_URL``; a bare ``http://host:8000`` (no path) gets ``/v1``
  appended, any other path is kept as given. Several URLs make an endpoint pool (`judgekit.pool`).
- ``VLLM_API_KEY`` is sent as a Bearer token when set; without one no ``Authorization`` header is sent.
- Without ``model_name`` the served model name is read once per base URL from ``GET {base}/models``.
- A server that rejects non-streaming requests (DashScope ``qwq-plus``: "only support stream mode") is
  remembered and streamed to from then on; DashScope hosts are streamed to from the start.
- Reasoning: ``reasoning_content`` / ``reasoning`` (vLLM ``--reasoning-parser``) and ``<think>`` blocks left
  in the content both end up in `JudgeResponse.reasoning`, as on every backend (`JudgeInterface`).
- vLLM's own request fields (``chat_template_kwargs``, ``structured_outputs``, ``guided_json``, ``top_k``,
  ...) go in ``extra_body``; ``response_format`` (``json_schema``) is sent as is.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from loguru import logger

from judgekit._sync import LoopLocal
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderError, ProviderResponseError
from judgekit.providers.openai import OpenAIJudge
from judgekit.types import JudgeResponse

__all__ = ["VLLMJudge", "with_v1"]

_STREAM_ONLY = re.compile(r"only supports? stream", re.IGNORECASE)


def with_v1(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL with any path is returned unchanged."""
    return url.rstrip("/") + "/v1" if urlsplit(url).path in ("", "/") else url


class VLLMJudge(OpenAIJudge):
    """A judge served by vLLM or any OpenAI-compatible server."""

    provider_name: ClassVar[str] = "vllm"
    thinking_off_hint: ClassVar[str] = (
        " (Qwen3 on vLLM: extra_body={'chat_template_kwargs': {'enable_thinking': False}})"
    )
    default_base_url: ClassVar[str | None] = None
    batch_backend_class: ClassVar[str | None] = None  # OpenAI-compatible servers have no batch API

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._served: dict[str, str] = {}
        self._discovering: LoopLocal[dict[str, asyncio.Lock]] = LoopLocal(dict)
        self._stream_only: set[str] = set()

    def base_urls(self, config: JudgeConfig) -> list[str]:
        if not config.base_urls:
            raise ConfigError(
                "vllm: no server URL; set LLM_JUDGE_URL (or VLLM_BASE_URL) or pass base_url, "
                "e.g. http://127.0.0.1:8000/v1",
                field="base_url",
            )
        return [with_v1(url) for url in config.base_urls]

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        key = config.secret()
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        return {**auth, **config.extra_headers}

    def is_available(self) -> bool:
        return bool(self.config.base_urls)

    # -- model discovery ------------------------------------------------------------------------

    async def resolve_model(self, config: JudgeConfig, base_url: str | None) -> str:
        """``model_name``, else the name the server at ``base_url`` serves (asked once, then cached)."""
        if config.model_name:
            return config.model_name
        base = base_url or self.base_urls(config)[0]
        served = self._served.get(base)
        if served is None:
            async with self._discovering.get().setdefault(base, asyncio.Lock()):
                served = self._served.get(base) or await self._discover(base, config)
                self._served[base] = served
        return served

    async def _discover(self, base: str, config: JudgeConfig) -> str:
        url = f"{base}/models"
        try:
            data = await self._transport.request_json("GET", url, headers=self.headers(config), timeout=config.timeout)
        except ProviderError as exc:
            raise type(exc)(
                f"could not read the served model name from GET {url}: {exc.message}; "
                "is this an OpenAI-compatible server? Pass model_name to skip the lookup",
                provider=self.provider_name,
                status_code=exc.status_code,
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                body=exc.body,
            ) from None
        entries = data.get("data") if isinstance(data, dict) else None
        names = [e["id"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]
        if not names:
            raise ProviderResponseError(
                f"GET {url} lists no models; pass model_name", provider=self.provider_name, retryable=False
            )
        if len(names) > 1:
            logger.warning(
                "judgekit: {} serves {}; judging with {!r} (set model_name to choose)", base, names, names[0]
            )
        return names[0]

    # -- stream-only endpoints ------------------------------------------------------------------

    def _must_stream(self, url: str) -> bool:
        return url in self._stream_only or "dashscope" in (urlsplit(url).hostname or "")

    async def _post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str], config: JudgeConfig, model: str
    ) -> JudgeResponse:
        if payload.get("stream") or not self._must_stream(url):
            try:
                return await super()._post(url, payload, headers, config, model)
            except ProviderError as exc:
                stream_only = exc.status_code == 400 and _STREAM_ONLY.search(f"{exc.message} {exc.body or ''}")
                if payload.get("stream") or not stream_only:
                    raise
                logger.warning("judgekit: {} only accepts streaming requests; streaming from now on", url)
                self._stream_only.add(url)
        streamed = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        return await super()._post(url, streamed, headers, config, model)

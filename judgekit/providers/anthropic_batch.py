"""Anthropic Message Batches for `judgekit.batching.batch_api`: the provider's side.

A request carries exactly the parameters of a live ``messages.create`` (`AnthropicJudge.build_params`, plus
``extra_body``), and a ``succeeded`` result's message is read by the same code as a live reply. ``errored``
results become the failure their error type means live (429 -> `RateLimitError`, ...); ``expired`` and
``canceled`` ones become ``BatchExpired`` / ``BatchCancelled`` failures. Limits: 100,000 requests or 256 MB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anthropic

from judgekit._transport import status_error
from judgekit.batching.batch_api import TRANSFER_TIMEOUT, BatchStatus, failed_response
from judgekit.config import JudgeConfig
from judgekit.errors import ProviderError, ProviderResponseError
from judgekit.types import JudgeRequest, JudgeResponse

if TYPE_CHECKING:
    from judgekit.providers.anthropic import AnthropicJudge

__all__ = ["AnthropicBatchBackend"]

_STATUS = {  # Anthropic error type -> the HTTP status it is sent with live
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_NOT_RUN = {"expired": "BatchExpired", "canceled": "BatchCancelled"}


class AnthropicBatchBackend:
    """Message Batches through the provider's own ``AsyncAnthropic`` client."""

    provider: ClassVar[str] = "anthropic"
    max_requests: int = 100_000
    max_bytes: int = 256 * 1000**2

    def __init__(self, judge: AnthropicJudge, config: JudgeConfig) -> None:
        self.judge, self.config = judge, config
        self.model = judge.model_for(config)

    def request_body(self, request: JudgeRequest) -> dict[str, Any]:
        config = self.judge.config_for(request)
        return {**self.judge.build_params(request, config, self.model), **config.extra_body}

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": body}

    def read(self, line: dict[str, Any]) -> tuple[str, JudgeResponse]:
        custom_id, result = line["custom_id"], line.get("result") or {}
        kind = result.get("type")
        try:
            if kind == "succeeded":
                message = anthropic.types.Message.model_validate(result["message"])
                response = self.judge._read_message(message, self.model)
                response.attempts = 1
                return custom_id, response
            if kind == "errored":
                body = result.get("error") or {}
                etype = (body.get("error") or {}).get("type")
                raise status_error(_STATUS.get(etype, 500), json.dumps(body), provider=self.provider, model=self.model)
            if kind in _NOT_RUN:
                exc = ProviderError(f"the request was {kind} before it ran", provider=self.provider, model=self.model)
                return custom_id, self._failed(exc, _NOT_RUN[kind])
            raise ProviderResponseError(f"unknown result type {kind!r}", provider=self.provider, model=self.model)
        except ProviderError as exc:
            return custom_id, self._failed(exc)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed message
            bad = ProviderResponseError(f"unreadable result: {exc}", provider=self.provider, model=self.model)
            return custom_id, self._failed(bad)

    def _failed(self, exc: ProviderError, error_type: str | None = None) -> JudgeResponse:
        return failed_response(self.judge.pipeline, exc, self.config, error_type)

    async def submit(self, lines: Sequence[bytes]) -> str:
        requests = [json.loads(line) for line in lines]
        batch = await self._sdk(lambda c: c.messages.batches.create(requests=requests, **self._extra()))
        return str(batch.id)

    async def poll(self, batch_id: str) -> BatchStatus:
        batch = await self._sdk(lambda c: c.messages.batches.retrieve(batch_id, **self._extra()))
        counts = batch.request_counts
        failed = counts.errored + counts.expired + counts.canceled
        if batch.processing_status != "ended":
            return BatchStatus("running", batch.processing_status, counts.succeeded, failed)
        return BatchStatus("ended", "ended", counts.succeeded, failed)

    async def download(self, batch_id: str) -> list[dict[str, Any]]:
        async def fetch(client: anthropic.AsyncAnthropic) -> list[dict[str, Any]]:
            decoder = await client.messages.batches.results(batch_id, **self._extra())
            return [item.model_dump(mode="json") async for item in decoder]

        return await self._sdk(fetch)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"timeout": max(self.config.timeout, TRANSFER_TIMEOUT)}
        if self.config.extra_headers:
            extra["extra_headers"] = self.config.extra_headers
        return extra

    async def _sdk(self, call: Any) -> Any:
        client = self.judge._client(self.config)
        try:
            return await call(client)
        except anthropic.APIError as exc:
            raise self.judge._error(exc, self.model, self.config.timeout) from None

    async def aclose(self) -> None:
        """The client belongs to the judge (one per event loop); nothing to close here."""

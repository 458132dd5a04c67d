"""The OpenAI Batch API (and Azure OpenAI batch deployments) for `judgekit.batching.batch_api`: the provider's side.

A request line carries exactly the body a live call sends (`OpenAIJudge.build_payload`), and a result line
is read by the same `OpenAIJudge._parse_completion` as a live reply, so a batch verdict and a live one are
parsed alike. Files are uploaded with ``purpose=batch`` (multipart), the batch is created for
``/v1/chat/completions`` with a ``24h`` window, and the output and error files are downloaded once it ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp

from judgekit._transport import status_error
from judgekit.batching.batch_api import BatchStatus, failed_response
from judgekit.config import JudgeConfig
from judgekit.errors import ProviderConnectionError, ProviderError, ProviderResponseError
from judgekit.types import JudgeRequest, JudgeResponse

if TYPE_CHECKING:
    from judgekit.providers.azure import AzureJudge
    from judgekit.providers.openai import OpenAIJudge

__all__ = ["AzureBatchBackend", "OpenAIBatchBackend"]

_RUNNING = {"validating", "in_progress", "finalizing", "cancelling"}
_ENDED = {"completed", "expired", "cancelled"}
_NOT_RUN = {"batch_expired": "BatchExpired", "batch_cancelled": "BatchCancelled"}
AZURE_BATCH_API_VERSION = "2024-10-21"
"""The api-version used for Azure batch calls when none is configured (batch needs 2024-07-01 or later)."""


class OpenAIBatchBackend:
    """The OpenAI Batch API: ``{base}/files`` and ``{base}/batches``; limits 50,000 requests / 200 MB."""

    provider: ClassVar[str] = "openai"
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024**2
    line_url: ClassVar[str] = "/v1/chat/completions"

    def __init__(self, judge: OpenAIJudge, config: JudgeConfig) -> None:
        self.judge, self.config = judge, config
        self.model = judge.model_for(config)
        self._session: aiohttp.ClientSession | None = None
        self._files: dict[str, list[str | None]] = {}  # batch id -> output and error file ids, once ended

    # -- what differs for Azure ---------------------------------------------------------------------

    def url(self, path: str) -> str:
        urls = self.judge.base_urls(self.config)
        if not urls:
            self.judge.endpoint(self.config)  # raises the provider's ConfigError naming base_url
        return f"{urls[0]}/{path}"

    def headers(self) -> dict[str, str]:
        return self.judge.headers(self.config)

    # -- lines -------------------------------------------------------------------------------------

    def request_body(self, request: JudgeRequest) -> dict[str, Any]:
        config = self.judge.config_for(request)
        return self.judge.build_payload(request, config.merged(stream=False) if config.stream else config, self.model)

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": self.line_url, "body": body}

    def read(self, line: dict[str, Any]) -> tuple[str, JudgeResponse]:
        custom_id = line["custom_id"]
        try:
            return custom_id, self._response(line)
        except ProviderError as exc:
            return custom_id, self._failed(exc)

    def _response(self, line: dict[str, Any]) -> JudgeResponse:
        error, reply = line.get("error"), line.get("response")
        if error:
            code = str(error.get("code") or "error")
            message = f"{code}: {error.get('message') or 'the request was not run'}"
            exc = ProviderError(message, provider=self.provider, model=self.model)
            return self._failed(exc, _NOT_RUN.get(code, "BatchItemError"))
        if not isinstance(reply, dict):
            raise self._unreadable("a result line without a response")
        status, body = reply.get("status_code"), reply.get("body")
        if status != 200:
            text = body if isinstance(body, str) else json.dumps(body)
            raise status_error(int(status or 500), text, provider=self.provider, model=self.model)
        if not isinstance(body, dict):
            raise self._unreadable(f"unreadable response body: {str(body)[:120]!r}")
        response = self.judge._parse_completion(body, self.model)
        response.attempts = 1
        return response

    def _unreadable(self, message: str) -> ProviderResponseError:
        return ProviderResponseError(message, provider=self.provider, model=self.model)

    def _failed(self, exc: ProviderError, error_type: str | None = None) -> JudgeResponse:
        return failed_response(self.judge.pipeline, exc, self.config, error_type)

    # -- the batch calls -----------------------------------------------------------------------------

    async def submit(self, lines: Sequence[bytes]) -> str:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"\n".join(lines) + b"\n", filename="judgekit-batch.jsonl",
                       content_type="application/jsonl")  # fmt: skip
        uploaded = await self._request("POST", self.url("files"), data=form)
        batch = await self._request(
            "POST",
            self.url("batches"),
            json={"input_file_id": uploaded["id"], "endpoint": self.line_url, "completion_window": "24h",
                  "metadata": {"created_by": "judgekit"}},
        )  # fmt: skip
        return str(batch["id"])

    async def poll(self, batch_id: str) -> BatchStatus:
        batch = await self._request("GET", self.url(f"batches/{batch_id}"))
        status = str(batch.get("status"))
        counts = batch.get("request_counts") or {}
        done, failed = int(counts.get("completed") or 0), int(counts.get("failed") or 0)
        if status in _RUNNING:
            return BatchStatus("running", status, done, failed)
        if status in _ENDED:
            self._files[batch_id] = [batch.get("output_file_id"), batch.get("error_file_id")]
            return BatchStatus("ended", status, done, failed)
        errors = (batch.get("errors") or {}).get("data") or []
        reason = "; ".join(str(e.get("message") or e.get("code")) for e in errors) or f"status {status}"
        return BatchStatus("failed", status, done, failed, error=reason)

    async def download(self, batch_id: str) -> list[dict[str, Any]]:
        files = self._files.get(batch_id)
        if files is None:
            batch = await self._request("GET", self.url(f"batches/{batch_id}"))
            files = [batch.get("output_file_id"), batch.get("error_file_id")]
        lines: list[dict[str, Any]] = []
        for file_id in files:
            if file_id:
                raw = await self._request("GET", self.url(f"files/{file_id}/content"), raw=True)
                lines.extend(_jsonl(raw))
        return lines

    async def _request(self, method: str, url: str, *, raw: bool = False, **kwargs: Any) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=True, timeout=aiohttp.ClientTimeout(total=None))
        try:  # the deadline is the pipeline's (Pipeline.call)
            async with self._session.request(method, url, headers=self.headers(), **kwargs) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    text = body.decode("utf-8", "replace")
                    raise status_error(resp.status, text, resp.headers, provider=self.provider, model=self.model)
        except ProviderError:
            raise
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(
                f"connection failed: {type(exc).__name__}: {exc}", provider=self.provider, model=self.model
            ) from None
        if raw:
            return body
        try:
            return json.loads(body)
        except ValueError:
            raise ProviderResponseError(
                f"unreadable batch API reply: {body[:120]!r}", provider=self.provider, model=self.model, retryable=True
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AzureBatchBackend(OpenAIBatchBackend):
    """Azure OpenAI batch (global batch deployments): ``{endpoint}/openai/files|batches?api-version=V``, the
    ``api-key`` header, lines for ``/chat/completions`` naming the batch deployment as ``model``."""

    provider: ClassVar[str] = "azure"
    max_requests: int = 100_000
    line_url: ClassVar[str] = "/chat/completions"

    def __init__(self, judge: AzureJudge, config: JudgeConfig) -> None:
        from judgekit.providers.azure import DEFAULT_API_VERSION

        super().__init__(judge, config)
        self._endpoint, self.model, version = judge._parts(config)
        self._version = config.api_version or (version if version != DEFAULT_API_VERSION else AZURE_BATCH_API_VERSION)

    def url(self, path: str) -> str:
        return f"{self._endpoint}/openai/{path}?api-version={self._version}"


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    lines = []
    for text in raw.splitlines():
        if text.strip():
            try:
                lines.append(json.loads(text))
            except ValueError:
                lines.append({"unreadable": text.decode("utf-8", "replace")[:200]})
    return lines

"""The judge-server client: `JudgeServerJudge` (api_type ``judge_server``) talks to ``judgekit serve`` or any
server speaking the same protocol (``POST /judge``, ``POST /batch_judge``; `judgekit.server_protocol`,
docs/server.md).

The server builds its own prompt from fields, so this provider reads ``request.task`` (the structured form
every ``SimplifiedJudge.evaluate_*`` call carries), never the chat messages. The server's score in [0, 1]
comes back as ``JudgeResponse.score`` and as a verdict text the kind's parser reads (see
`judgekit.server_protocol.response_from_reply`); the server's explanation is ``reasoning``. Comparative,
rubric and pairwise tasks, images and custom prompts cannot be sent over this protocol and raise
`ConfigError`. `aevaluate_many` sends many tasks as ``/batch_judge`` calls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from judgekit import server_protocol as protocol
from judgekit._sync import run_sync
from judgekit._transport import HTTPTransport
from judgekit.batching.engine import gather_ordered
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderError, ProviderResponseError
from judgekit.interface import JudgeInterface, ScoreType
from judgekit.pool import EndpointPool
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["JudgeServerJudge"]

_CHUNK = 256


class JudgeServerJudge(JudgeInterface):
    """Client of a judge server. ``base_url`` (``JUDGE_MODEL_URL``) is the server root, e.g.
    ``http://judge-host:8888`` (a URL ending in ``/judge`` works too); the key (``JUDGE_MODEL_API_KEY``) is
    sent as ``Authorization: Bearer``. Several URLs (a list, or comma-separated in the variable) make an
    `~judgekit.pool.EndpointPool` of servers, probed with ``GET /health``.

    Retries follow the shared request path: connection errors, timeouts, 408/429/5xx (503 with
    ``Retry-After`` honoured) are retried; 401/403 and other 4xx are not, nor is a 502 that the server marks
    as a judge failure (the server has already retried its own backend).
    """

    provider_name: ClassVar[str] = "judge_server"

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._transport = HTTPTransport(self.provider_name)
        self._pools: dict[tuple[str, ...], EndpointPool] = {}

    def is_available(self) -> bool:
        return bool(self.config.base_urls)

    def should_retry(self, exc: ProviderError) -> bool:
        if exc.status_code == 502 and exc.body and '"judge_failure"' in exc.body:
            return False
        return exc.retryable

    def base_urls(self, config: JudgeConfig) -> list[str]:
        """The server root(s); a trailing ``/judge`` or ``/batch_judge`` is dropped."""
        if not config.base_urls:
            raise ConfigError("judge_server: base_url is not set; set JUDGE_MODEL_URL or pass base_url", "base_url")
        return [url.removesuffix("/batch_judge").removesuffix("/judge") for url in config.base_urls]

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        key = config.secret()
        return {**({"Authorization": f"Bearer {key}"} if key else {}), **config.extra_headers}

    async def _post(self, path: str, payload: Any, config: JudgeConfig) -> Any:
        """POST to the server (or to the pool's chosen replica) and return the decoded JSON reply."""
        headers, urls = self.headers(config), self.base_urls(config)

        async def send(base: str) -> Any:
            return await self._transport.request_json(
                "POST", base + path, payload=payload, headers=headers, timeout=config.timeout, model=config.model_name
            )

        if len(urls) == 1:
            return await send(urls[0])
        pool = self._pools.get(tuple(urls))
        if pool is None:
            pool = self._pools[tuple(urls)] = EndpointPool(
                urls, lambda base: self.probe(base, config), probe_interval=config.pool_probe_interval
            )
        return await pool.call(send)

    async def probe(self, base_url: str, config: JudgeConfig) -> bool:
        """Whether a server answers ``GET /health`` (any reply below HTTP 500 counts)."""
        return await self._transport.is_alive(
            f"{base_url}/health", headers=self.headers(config), timeout=min(5.0, config.timeout)
        )

    def native_score_type(self) -> ScoreType:
        return "probability"

    # -- one item ----------------------------------------------------------------------------------

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        task = _task_of(request)
        data = await self._post("/judge", protocol.item_from_task(task), config)
        return protocol.response_from_reply(task, data, config, self.provider_name)

    # -- many items --------------------------------------------------------------------------------

    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One ``POST /batch_judge`` per chunk of 256 requests (chunks in parallel up to ``max_concurrent``),
        each through the shared retry / timeout / concurrency path; one response per request, in order.

        A request's own ``config`` is not sent per item: the chunk runs with the judge's config.
        """
        config = self.config
        tasks = [_task_of(request) for request in requests]
        items = [protocol.item_from_task(task) for task in tasks]
        started = time.perf_counter()
        replies = await self._batch(items, _CHUNK)
        responses = []
        for task, reply in zip(tasks, replies, strict=True):
            try:
                response = protocol.response_from_reply(task, reply, config, self.provider_name)
            except ProviderError as exc:
                failed = self.pipeline.failure(exc, config, started, 1)
                failed.error_type = reply.get("error_type") or failed.error_type
                failed.status_code = reply.get("status_code") or failed.status_code
                responses.append(failed)
                continue
            response.latency_s = time.perf_counter() - started
            response.attempts = 1
            responses.append(response)
        return responses

    async def ajudge_many(
        self, items: Sequence[Mapping[str, Any]], *, chunk_size: int = _CHUNK
    ) -> list[dict[str, Any]]:
        """Judge wire-format items (``{prompt, completion, answer?, answer_type?, request_id?, kind?}``) with
        ``POST /batch_judge``, ``chunk_size`` items per call, calls in parallel up to ``max_concurrent``.

        Returns one dict per item, in order: the server's reply (``score``, ``request_id``, ``explanation``,
        ``metadata``), or ``{"score": None, "error": ..., "request_id": ...}`` for an item that failed;
        when a whole call fails (after the usual retries) each of its items also carries ``error_type`` and
        ``status_code``. Never raises for a server failure; a malformed item raises `ConfigError`.
        """
        if chunk_size < 1:
            raise ConfigError("chunk_size must be >= 1", "chunk_size")
        wire = [protocol.check_item(item, f"items[{i}]") for i, item in enumerate(items)]
        return await self._batch(wire, chunk_size)

    def judge_many(self, items: Sequence[Mapping[str, Any]], *, chunk_size: int = _CHUNK) -> list[dict[str, Any]]:
        """Synchronous twin of `ajudge_many`."""
        return run_sync(self.ajudge_many(items, chunk_size=chunk_size))

    async def _batch(self, items: list[dict[str, Any]], chunk_size: int) -> list[dict[str, Any]]:
        """Replies to wire items, ``/batch_judge`` call per chunk; a failed call fails each of its items."""
        config = self.config
        chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]

        async def call(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            try:
                return await self.pipeline.call(lambda: self._post_batch(chunk, config), config)
            except ProviderError as exc:
                message = config.redact(str(exc))
                return [
                    protocol.failure_reply(
                        item.get("request_id"), message, type(exc).__name__, status_code=exc.status_code
                    )
                    for item in chunk
                ]

        replies = await gather_ordered(chunks, call, concurrency=config.max_concurrent)
        return [reply for chunk_replies in replies for reply in chunk_replies]

    async def _post_batch(self, chunk: list[dict[str, Any]], config: JudgeConfig) -> list[dict[str, Any]]:
        data = await self._post("/batch_judge", {"requests": chunk}, config)
        replies = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(replies, list) or len(replies) != len(chunk):
            got = len(replies) if isinstance(replies, list) else "no"
            raise ProviderResponseError(
                f"/batch_judge answered {got} responses for {len(chunk)} requests",
                provider=self.provider_name,
                model=config.model_name,
                retryable=False,
            )
        return replies

    async def aclose(self) -> None:
        await self._transport.aclose()


def _task_of(request: JudgeRequest) -> Any:
    task = request.task
    if task is None:
        raise ConfigError(
            "judge_server judges structured tasks (request.task); use SimplifiedJudge.evaluate_binary, "
            "evaluate_correctness or evaluate_pointwise",
            "task",
        )
    if request.images:
        raise ConfigError("judge_server: the judge-server protocol carries no images", "images")
    return task

"""The judge-server client: `JudgeServerJudge` (api_type ``judge_server``) talks to ``judgekit serve`` or any
server speaking the same protocol (``POST /judge``, ``POST /batch_judge``; see docs/server.md).

The server builds its own prompt from fields, so this provider reads ``request.task`` (the structured form
every ``SimplifiedJudge.evaluate_*`` call carries), never the chat messages. The server's score in [0, 1]
comes back as ``JudgeResponse.score`` and as a verdict text the kind's parser reads:

- binary: "1"/"0" (``output_format="0/1"``) or "Yes"/"No" (``"yes/no"``), positive when score >= 0.5;
- correctness: "Yes"/"No", positive when score >= 0.5;
- pointwise: ``<score>N</score>`` with N = lo + score * (hi - lo) in the request's ``score_range``
  (``JudgeResponse.score`` is left None here, so ``SimplifiedJudge`` reads N, not the raw [0, 1] number).

The server's explanation is ``reasoning``. Comparative, rubric and pairwise tasks, images and custom
prompts cannot be sent over this protocol and raise `ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from judgekit._batch import gather_ordered
from judgekit._sync import run_sync
from judgekit._transport import HTTPTransport
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderError, ProviderResponseError
from judgekit.interface import JudgeInterface
from judgekit.pool import EndpointPool
from judgekit.types import JudgeRequest, JudgeResponse, JudgeTask, Usage

__all__ = ["JudgeServerJudge"]

_KINDS = ("binary", "correctness", "pointwise")
_BATCH = "__batch_judge__"  # an internal task kind: one /batch_judge call through the shared retry path
_WIRE_FIELDS = ("prompt", "completion", "answer", "answer_type", "request_id", "kind")


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

    # -- one item ----------------------------------------------------------------------------------

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        task = request.task
        if task is None:
            raise ConfigError(
                "judge_server judges structured tasks (request.task); use SimplifiedJudge.evaluate_binary, "
                "evaluate_correctness or evaluate_pointwise",
                "task",
            )
        if task.kind == _BATCH:
            return await self._send_batch(task, config)
        if request.images:
            raise ConfigError("judge_server: the judge-server protocol carries no images", "images")
        data = await self._post("/judge", _to_wire(task), config)
        score = self._score(data, config)
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return JudgeResponse(
            content=_verdict_text(task, config, score),
            reasoning=data.get("explanation") or None,
            score=None if task.kind == "pointwise" else score,
            model_used=str(metadata.get("model") or config.model_name or self.provider_name),
            usage=_usage(metadata.get("usage")),
            raw_response=data,
            provider=self.provider_name,
            finish_reason="stop",
        )

    def _score(self, data: Any, config: JudgeConfig) -> float:
        score = data.get("score") if isinstance(data, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ProviderResponseError(
                f"the judge server's reply has no score: {str(data)[:200]}",
                provider=self.provider_name, model=config.model_name, retryable=False,
            )
        if not 0.0 <= score <= 1.0:
            raise ProviderResponseError(
                f"the judge server's score {score} is outside [0, 1]",
                provider=self.provider_name, model=config.model_name, retryable=False,
            )
        return float(score)

    # -- many items --------------------------------------------------------------------------------

    async def ajudge_many(
        self, items: Sequence[Mapping[str, Any]], *, chunk_size: int = 256
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
        wire = [_check_item(item, i) for i, item in enumerate(items)]
        chunks = [wire[i : i + chunk_size] for i in range(0, len(wire), chunk_size)]

        async def call(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            task = JudgeTask(kind=_BATCH, fields={"requests": chunk})
            request = JudgeRequest(messages=[{"role": "user", "content": "batch_judge"}], task=task)
            response = await self.aevaluate(request)
            if response.success:
                return response.raw_response
            return [
                {"score": None, "error": response.error_message, "error_type": response.error_type,
                 "status_code": response.status_code, "request_id": item.get("request_id")}
                for item in chunk
            ]

        replies = await gather_ordered(chunks, call, concurrency=self.config.max_concurrent)
        return [reply for chunk_replies in replies for reply in chunk_replies]

    def judge_many(self, items: Sequence[Mapping[str, Any]], *, chunk_size: int = 256) -> list[dict[str, Any]]:
        """Synchronous twin of `ajudge_many`."""
        return run_sync(self.ajudge_many(items, chunk_size=chunk_size))

    async def _send_batch(self, task: JudgeTask, config: JudgeConfig) -> JudgeResponse:
        chunk = task.fields["requests"]
        data = await self._post("/batch_judge", {"requests": chunk}, config)
        replies = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(replies, list) or len(replies) != len(chunk):
            got = len(replies) if isinstance(replies, list) else "no"
            raise ProviderResponseError(
                f"/batch_judge answered {got} responses for {len(chunk)} requests",
                provider=self.provider_name, model=config.model_name, retryable=False,
            )
        return JudgeResponse(content="batch", raw_response=replies, provider=self.provider_name,
                             model_used=config.model_name or self.provider_name)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _to_wire(task: JudgeTask) -> dict[str, Any]:
    """The ``/judge`` body for a task: prompt = question, completion = prediction (or response)."""
    if task.kind not in _KINDS:
        raise ConfigError(
            f"judge_server cannot judge {task.kind!r} tasks; the protocol scores one completion "
            f"({', '.join(_KINDS)})",
            "kind",
        )
    fields, options = task.fields, task.options
    completion = fields.get("prediction", fields.get("response"))
    payload: dict[str, Any] = {"prompt": str(fields.get("question") or ""), "completion": str(completion or ""),
                               "kind": task.kind}
    if fields.get("answer") is not None:
        payload["answer"] = str(fields["answer"])
    answer_type = options.get("answer_type", fields.get("answer_type"))
    if answer_type is not None:
        payload["answer_type"] = str(answer_type)
    return payload


def _verdict_text(task: JudgeTask, config: JudgeConfig, score: float) -> str:
    """Text the kind's parser reads back (see the module docstring)."""
    if task.kind == "pointwise":
        low, high = task.options.get("score_range") or config.score_range
        value = f"{low + score * (high - low):.6f}".rstrip("0").rstrip(".")
        return f"<score>{value}</score>"
    positive = score >= 0.5
    if task.kind == "binary" and (task.options.get("output_format") or config.output_format) == "0/1":
        return "1" if positive else "0"
    return "Yes" if positive else "No"


def _check_item(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ConfigError(f"items[{index}] must be a dict with prompt and completion", f"items[{index}]")
    for name in ("prompt", "completion"):
        if item.get(name) is None:
            raise ConfigError(f"items[{index}].{name} is required", f"items[{index}].{name}")
    unknown = sorted(set(item) - set(_WIRE_FIELDS))
    if unknown:
        raise ConfigError(
            f"items[{index}]: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_WIRE_FIELDS)}",
            f"items[{index}].{unknown[0]}",
        )
    return {key: value for key, value in item.items() if value is not None}


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    try:
        return Usage(**{k: int(raw.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")})
    except (TypeError, ValueError):
        return Usage()

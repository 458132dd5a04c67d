"""The judge server's FastAPI app: `create_app(judge) -> FastAPI`.

Requests are read and validated by hand (the body limit is enforced while reading; pydantic validates the
JSON in one pass) and answered with pre-encoded JSON, which keeps the per-request overhead small. Every item
is submitted to one `DynamicBatcher`, so concurrent requests reach the backend as one
`SimplifiedJudge.aevaluate_batch` call per kind.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from loguru import logger
from pydantic import BaseModel, SecretStr, ValidationError

from judgekit import __version__
from judgekit.server import missing_server_extra

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise missing_server_extra(_exc) from _exc

from judgekit.batching.dynamic import DynamicBatcher, QueueFullError
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind, server_kinds
from judgekit.scoring import resolve_kind, score_result
from judgekit.server._metrics import ServerMetrics
from judgekit.server_protocol import (
    BatchJudgeBody,
    GroupJudgeBody,
    JudgeItem,
    RemoteRewardBody,
    failure_reply,
    fields_for,
)
from judgekit.simplified import SimplifiedJudge

__all__ = ["BatchJudgeBody", "JudgeItem", "JudgeService", "create_app"]

_EXPLANATION_CHARS = 2000
_JSON = "application/json"


class _Work(NamedTuple):
    kind: str
    item: dict[str, Any]


class _HTTPError(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.kind, self.message, self.headers, self.extra = status, kind, message, headers, extra

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, "type": self.kind, **self.extra}


class JudgeService:
    """What sits behind the endpoints: the judge, the batcher, the limits and the metrics."""

    def __init__(
        self,
        judge: SimplifiedJudge | JudgeInterface,
        *,
        kind: str = "auto",
        api_key: str | SecretStr | None = None,
        max_batch_size: int = 16,
        max_wait_s: float = 0.01,
        max_queue: int = 1024,
        max_body_bytes: int = 1_000_000,
        max_concurrent_batches: int = 4,
        retry_after_s: float = 1,
        group_kind: str | None = None,
    ) -> None:
        if group_kind is not None and not (get_kind(group_kind, field="group_kind").group):
            raise ConfigError(f"group_kind must be listwise or tournament, got {group_kind!r}", "group_kind")
        self.group_kind = group_kind
        if kind not in server_kinds():
            raise ConfigError(f"kind must be one of {', '.join(server_kinds())}, got {kind!r}", "kind")
        for name, value in (
            ("max_batch_size", max_batch_size),
            ("max_body_bytes", max_body_bytes),
            ("max_concurrent_batches", max_concurrent_batches),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}", name)
        if max_queue < 0 or max_wait_s < 0:
            raise ConfigError("max_queue and max_wait_s must be >= 0", "max_queue" if max_queue < 0 else "max_wait_s")
        self.judge = judge if isinstance(judge, SimplifiedJudge) else SimplifiedJudge(judge=judge)
        backend = self.backend = self.judge.judge
        self.kind = kind
        self.model = backend.config.model_name or backend.provider_name
        self.score_range = backend.config.score_range
        self.reward_head = backend.native_score_type() == "unbounded"  # a reward head's scalar: no score range
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._token = key.encode() if key else None
        self.max_body_bytes = max_body_bytes
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self._retry_after = str(int(retry_after_s)) if float(retry_after_s).is_integer() else str(retry_after_s)
        self.metrics = ServerMetrics()
        self.batcher: DynamicBatcher[_Work, Any] = DynamicBatcher(
            self._process,
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_s,
            concurrency=max_concurrent_batches,
            max_queue=max_queue,
            name="judgekit-server",
        )
        self.started = time.time()
        self.closing = False

    def __repr__(self) -> str:
        auth = "on" if self._token else "off"
        return f"JudgeService(model={self.model!r}, kind={self.kind!r}, auth={auth})"

    # -- the backend side (runs on judgekit's event loop, one call per batch) ----------------------------

    async def _process(self, batch: list[_Work]) -> list[tuple[Any, int]]:
        started = time.perf_counter()
        groups: dict[str, list[int]] = {}
        for i, work in enumerate(batch):
            groups.setdefault(work.kind, []).append(i)
        results: list[Any] = [None] * len(batch)

        async def run(kind: str, indexes: list[int]) -> None:
            for i, result in zip(indexes, await self._judge(kind, [batch[i].item for i in indexes]), strict=True):
                results[i] = result

        await asyncio.gather(*(run(kind, indexes) for kind, indexes in groups.items()))
        self.metrics.batch(len(batch), time.perf_counter() - started)
        return [(result, len(batch)) for result in results]

    async def _judge(self, kind: str, items: list[dict[str, Any]]) -> list[Any]:
        """One result per item; an exception (a backend `ConfigError`, a bug) fails only its own item."""
        try:
            return list(await self.judge.aevaluate_batch(kind, items))  # the judge's max_concurrent holds
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            singles = await asyncio.gather(*(self._judge(kind, [item]) for item in items))
            return [result for single in singles for result in single]

    # -- the HTTP side (runs on the server's event loop) -------------------------------------------------

    async def handle(
        self, request: Request, endpoint: str, body_handler: Callable[[bytes, float], Awaitable[tuple[int, Any]]]
    ) -> Response:
        """Auth, body limit, then ``body_handler``; every outcome is counted and answered as JSON."""
        started = time.perf_counter()
        headers: dict[str, str] | None = None
        self.metrics.in_flight += 1
        try:
            self._check_auth(request)
            body = await self._read_body(request)
            status, payload = await body_handler(body, started)
        except _HTTPError as exc:
            status, payload, headers = exc.status, exc.payload(), exc.headers
        except Exception as exc:  # a bug: still a JSON answer, counted, and logged with its traceback
            logger.opt(exception=exc).error("judgekit server: unexpected error on {}", endpoint)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}: {exc}", "type": "internal_error"}
        finally:
            self.metrics.in_flight -= 1
        self.metrics.request(endpoint, status, time.perf_counter() - started)
        return Response(json.dumps(payload).encode(), status_code=status, headers=headers, media_type=_JSON)

    def _check_auth(self, request: Request) -> None:
        if self._token is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token):
            raise _HTTPError(
                401,
                "unauthorized",
                "missing or wrong API key (send 'Authorization: Bearer <key>')",
                {"WWW-Authenticate": "Bearer"},
            )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _HTTPError(400, "bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise self._too_large(int(declared))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, size: int) -> _HTTPError:
        return _HTTPError(
            413, "payload_too_large", f"request body of {size}+ bytes exceeds the limit of {self.max_body_bytes} bytes"
        )

    def _work(self, item: JudgeItem, where: str) -> _Work:
        kind = resolve_kind(item.kind, self.kind, item.answer)
        spec = get_kind(kind)
        if "answer" in spec.fields and item.answer is None:
            raise _HTTPError(
                422, "validation_error", f"{where}answer: required to judge kind {kind!r}", field=f"{where}answer"
            )
        fields = fields_for(kind, item.prompt, item.completion, item.answer, item.answer_type)
        if "output_format" in spec.options:
            fields["output_format"] = "0/1"
        return _Work(kind, fields)

    def _submit(self, work: _Work) -> Any:
        if self.closing:
            raise _HTTPError(503, "shutting_down", "the server is shutting down", {"Retry-After": self._retry_after})
        try:
            return self.batcher.submit(work)
        except QueueFullError:
            raise self._queue_full() from None

    def _queue_full(self) -> _HTTPError:
        return _HTTPError(
            503,
            "queue_full",
            f"request queue full ({self.max_queue} items waiting); retry after {self.retry_after_s}s",
            {"Retry-After": self._retry_after},
        )

    async def judge_one(self, body: bytes, started: float) -> tuple[int, Any]:
        item = _parse(JudgeItem, body)
        work = self._work(item, "")
        future = self._submit(work)
        try:
            outcome = await asyncio.wrap_future(future)
        except Exception as exc:  # the batch call itself broke: still an honest failure
            outcome = exc
        reply = self._reply(item, work.kind, outcome, started)
        if reply["score"] is None:
            return 502, {**reply, "type": "judge_failure"}
        return 200, reply

    async def judge_batch(self, body: bytes, started: float) -> tuple[int, Any]:
        items = _parse(BatchJudgeBody, body).requests
        if self.max_queue and len(items) > self.max_queue:
            raise _HTTPError(
                422,
                "validation_error",
                f"requests: at most {self.max_queue} items per call, got {len(items)}",
                field="requests",
            )
        return 200, {"responses": await self._judge_items(items, "requests", started)}

    async def _judge_items(self, items: list[JudgeItem], where: str, started: float) -> list[dict[str, Any]]:
        """One reply per item, in order, each through the batcher (the server's kind)."""
        works = [self._work(item, f"{where}[{i}].") for i, item in enumerate(items)]
        if self.max_queue and self.batcher.queue_size + len(works) > self.max_queue:
            raise self._queue_full()
        waits: list[Any] = []
        for work in works:
            try:
                waits.append(_await(self._submit(work)))
            except _HTTPError as exc:  # the queue filled up meanwhile: only these items fail
                waits.append(_raise(exc))
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        return [
            self._reply(item, work.kind, outcome, started)
            for item, work, outcome in zip(items, works, outcomes, strict=True)
        ]

    async def judge_group(self, body: bytes, started: float) -> tuple[int, Any]:
        group = _parse(GroupJudgeBody, body)
        request_id = group.request_id or uuid.uuid4().hex
        replies = await self._judge_group(
            group.prompt, list(group.completions), group.answer, group.kind, request_id, started
        )
        return 200, {"request_id": request_id, "kind": group.kind, "responses": replies}

    async def _judge_group(
        self, prompt: str, completions: list[str], answer: str | None, kind: str, request_id: str, started: float
    ) -> list[dict[str, Any]]:
        """One reply per member of a group judged together; ``score`` is the member's reward in [0, 1]."""
        if self.closing:
            raise _HTTPError(503, "shutting_down", "the server is shutting down", {"Retry-After": self._retry_after})
        try:
            results: list[Any] = await self.judge.aevaluate_group(prompt, completions, answer, kind=kind)
        except ConfigError as exc:
            raise _HTTPError(422, "validation_error", str(exc), field=exc.field) from None
        except Exception as exc:  # a bug or a broken backend: every member fails, honestly
            results = [exc] * len(completions)
        replies = []
        for i, result in enumerate(results):
            member_id = f"{request_id}/{i}"
            if isinstance(result, BaseException):
                error = type(result).__name__
                replies.append(self._failed(kind, member_id, f"{error}: {result}", error))
                continue
            if not result["success"]:
                replies.append(self._failed(kind, member_id, result["error_message"], result["error_type"]))
                continue
            self.metrics.judgement(kind, True)
            metadata = {
                "latency": round(time.perf_counter() - started, 6),
                "model": result.get("model") or self.model,
                "kind": kind,
                "raw_score": result["scores"],
                "position": result.get("position"),
                "group_size": len(completions),
                "requests": result["requests"],
            }
            explanation = result.get("reasoning") or result.get("raw_response") or ""
            replies.append(
                {
                    "score": result["reward"],
                    "request_id": member_id,
                    "explanation": explanation[:_EXPLANATION_CHARS],
                    "metadata": metadata,
                }
            )
        return replies

    async def remote_reward(self, body: bytes, started: float) -> tuple[int, Any]:
        """OpenRLHF's remote reward model: ``{query, prompts, labels}`` -> ``{rewards, scores, extra_logs}``.

        Each response is its query less its prompt. With a ``group_kind`` the completions of each prompt are
        judged together as one group; otherwise each is judged as ``/batch_judge`` judges it. OpenRLHF has no
        way to leave a sample out, so a failed judgement is NaN (loud, never 0) and ``extra_logs.judge_failed``
        says which."""
        request = _parse(RemoteRewardBody, body)
        n = len(request.query)
        prompts = list(request.prompts) if request.prompts is not None else [""] * n
        labels = [label or None for label in request.labels] if request.labels is not None else [None] * n
        for name, column in (("prompts", prompts), ("labels", labels)):
            if len(column) != n:
                raise _HTTPError(422, "validation_error", f"{name}: {len(column)} entries for {n} queries", field=name)
        responses = [q[len(p) :] if p and q.startswith(p) else q for q, p in zip(request.query, prompts, strict=True)]
        if self.group_kind is None:
            items = [
                JudgeItem(prompt=p, completion=r, answer=a) for p, r, a in zip(prompts, responses, labels, strict=True)
            ]
            replies = await self._judge_items(items, "query", started)
        else:
            groups: dict[str, list[int]] = {}
            for i, prompt in enumerate(prompts):
                groups.setdefault(prompt, []).append(i)
            request_id = uuid.uuid4().hex
            judged = await asyncio.gather(
                *(
                    self._judge_group(
                        p, [responses[i] for i in idx], labels[idx[0]], self.group_kind, f"{request_id}/{g}", started
                    )
                    for g, (p, idx) in enumerate(groups.items())
                )
            )
            replies = [{}] * n
            for idx, group_replies in zip(groups.values(), judged, strict=True):
                for i, reply in zip(idx, group_replies, strict=True):
                    replies[i] = reply
        rewards = [math.nan if r["score"] is None else r["score"] for r in replies]
        failed = [float(r["score"] is None) for r in replies]
        return 200, {"rewards": rewards, "scores": rewards, "extra_logs": {"judge_failed": failed}}

    def _reply(self, item: JudgeItem, kind: str, outcome: Any, started: float) -> dict[str, Any]:
        request_id = item.request_id or uuid.uuid4().hex
        if isinstance(outcome, BaseException):
            message = outcome.message if isinstance(outcome, _HTTPError) else f"{type(outcome).__name__}: {outcome}"
            return self._failed(kind, request_id, message, type(outcome).__name__)
        result, batch_size = outcome
        if isinstance(result, BaseException):
            return self._failed(kind, request_id, f"{type(result).__name__}: {result}", type(result).__name__)
        if not result["success"]:
            return self._failed(kind, request_id, result["error_message"] or "the judge failed", result["error_type"])
        try:
            scored = score_result(kind, result, self.score_range, reward_head=self.reward_head)
        except ValueError as exc:
            return self._failed(kind, request_id, str(exc), "ParseError")
        self.metrics.judgement(kind, True)
        metadata: dict[str, Any] = {
            "latency": round(time.perf_counter() - started, 6),
            "model": result["model"] or self.model,
            "kind": kind,
            "score_source": scored.source,
            ("verdict" if get_kind(kind).verdict else "raw_score"): scored.raw,
            "batch_size": batch_size,
            "judge_latency": round(result["latency_s"], 6),
            "usage": result["usage"],
        }
        if get_kind(kind).uses_score_range:
            metadata["score_range"] = list(self.score_range)
        explanation = result["reasoning"] or result["raw_response"] or ""
        return {
            "score": scored.score,
            "request_id": request_id,
            "explanation": explanation[:_EXPLANATION_CHARS],
            "metadata": metadata,
        }

    def _failed(self, kind: str, request_id: str, message: str, error_type: str | None) -> dict[str, Any]:
        self.metrics.judgement(kind, False)
        return dict(failure_reply(request_id, f"judge failed: {message}", error_type))

    def health(self) -> tuple[int, dict[str, Any]]:
        available = self.backend.is_available()
        status = "shutting_down" if self.closing else "ok" if available else "unavailable"
        return (200 if status == "ok" else 503), {
            "status": status,
            "model": self.model,
            "provider": self.backend.provider_name,
            "kind": self.kind,
            "queue_size": self.batcher.queue_size,
            "in_flight": self.metrics.in_flight,
            "max_batch_size": self.batcher.max_batch_size,
            "max_queue": self.max_queue,
            "auth": self._token is not None,
            "uptime_s": round(time.time() - self.started, 3),
            "version": __version__,
        }

    def render_metrics(self) -> str:
        info = {"model": self.model, "provider": self.backend.provider_name, "kind": self.kind, "version": __version__}
        return self.metrics.render(queue_size=self.batcher.queue_size, info=info)

    def close(self) -> None:
        """Finish what is queued, then stop the batcher's worker."""
        self.closing = True
        self.batcher.close()


def create_app(
    judge: SimplifiedJudge | JudgeInterface,
    *,
    kind: str = "auto",
    api_key: str | SecretStr | None = None,
    max_batch_size: int = 16,
    max_wait_s: float = 0.01,
    max_queue: int = 1024,
    max_body_bytes: int = 1_000_000,
    max_concurrent_batches: int = 4,
    retry_after_s: float = 1,
    group_kind: str | None = None,
) -> FastAPI:
    """A FastAPI app serving ``judge`` with the judge-server protocol (see docs/server.md).

    - ``kind``: auto | binary | correctness | pointwise (auto: correctness with an answer, else pointwise).
    - ``api_key``: when set, ``/judge`` and ``/batch_judge`` need ``Authorization: Bearer <key>`` (else 401).
    - ``max_batch_size`` / ``max_wait_s``: dynamic batching of concurrent items into one backend call;
      ``max_concurrent_batches`` backend calls may run at once.
    - ``max_queue``: items allowed to wait; beyond it requests get 503 with ``Retry-After: retry_after_s``.
    - ``max_body_bytes``: larger bodies get 413 (from Content-Length, or while reading a chunked body).
    - ``group_kind``: listwise | tournament: OpenRLHF's ``/get_reward`` judges each prompt's completions
      together (``/group_judge`` always does, with the kind its body names).

    The app's state holds the `JudgeService` as ``app.state.judge_service``. The judge itself is not closed
    when the app stops: whoever made it closes it.
    """
    service = JudgeService(
        judge,
        kind=kind,
        api_key=api_key,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        max_queue=max_queue,
        max_body_bytes=max_body_bytes,
        max_concurrent_batches=max_concurrent_batches,
        retry_after_s=retry_after_s,
        group_kind=group_kind,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(service.close)

    app = FastAPI(title="judgekit judge server", version=__version__, lifespan=lifespan)
    app.state.judge_service = service
    item_schema = JudgeItem.model_json_schema()
    batch_schema = {
        "type": "object",
        "properties": {"requests": {"type": "array", "items": item_schema}},
        "required": ["requests"],
    }

    def body_doc(schema: dict[str, Any]) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {_JSON: {"schema": schema}}}}

    @app.post("/judge", openapi_extra=body_doc(item_schema))
    async def judge_endpoint(request: Request) -> Response:
        """Judge one item: ``{prompt, completion, answer?, answer_type?, request_id?}`` -> a score in [0, 1]."""
        return await service.handle(request, "/judge", service.judge_one)

    @app.post("/batch_judge", openapi_extra=body_doc(batch_schema))
    async def batch_endpoint(request: Request) -> Response:
        """Judge many items: ``{requests: [...]}`` -> ``{responses: [...]}``, one per request, in order."""
        return await service.handle(request, "/batch_judge", service.judge_batch)

    @app.post("/group_judge", openapi_extra=body_doc(GroupJudgeBody.model_json_schema()))
    async def group_endpoint(request: Request) -> Response:
        """Judge one prompt's group together: ``{prompt, completions, answer?, kind?}`` -> ``{responses: [...]}``."""
        return await service.handle(request, "/group_judge", service.judge_group)

    @app.post("/get_reward", openapi_extra=body_doc(RemoteRewardBody.model_json_schema()))
    async def remote_reward_endpoint(request: Request) -> Response:
        """OpenRLHF's remote reward model (``--remote_rm_url http://host:port/get_reward``)."""
        return await service.handle(request, "/get_reward", service.remote_reward)

    @app.get("/health")
    async def health_endpoint() -> Response:
        """Liveness and load: status, model, queue size (no API key needed)."""
        status, payload = service.health()
        return Response(json.dumps(payload).encode(), status_code=status, media_type=_JSON)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        """Prometheus text exposition (no API key needed)."""
        return Response(service.render_metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            {"error": str(exc.detail), "type": "http_error"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    return app


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": _location(err["loc"]), "message": err["msg"]} for err in exc.errors()]
        first = errors[0]
        raise _HTTPError(
            422, "validation_error", f"{first['field']}: {first['message']}", field=first["field"], errors=errors[:20]
        ) from None


def _location(loc: tuple[Any, ...]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    return text or "body"


async def _await(future: Any) -> Any:
    return await asyncio.wrap_future(future)


async def _raise(exc: BaseException) -> Any:
    raise exc

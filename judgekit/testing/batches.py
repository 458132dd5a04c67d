"""The provider batch APIs on `FakeLLMServer`: OpenAI / Azure files + batches, Anthropic Message Batches.

Each batch line is answered exactly as the server answers a live chat request (its reply queue,
``default_reply``, scripted `Fault` items: a fault becomes that line's error), once the batch's
``completion_delay`` has passed. Batches can be made to expire part-way (``expire_after``) or to fail as a
whole (``fail_batches``). ``created`` and ``submitted`` count batches and request lines per provider, so tests
can prove that nothing was submitted twice and that cache hits were not submitted at all.

Routes (registered by `FakeLLMServer`):
``POST /v1/files``, ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``; the same under ``/openai/`` for Azure (with
``api-version`` and ``api-key``); ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
``POST /v1/messages/batches/{id}/cancel``, ``GET /v1/messages/batches/{id}/results``.
"""

from __future__ import annotations

import asyncio
import collections
import email.parser
import email.policy
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from judgekit.testing.wire import Headers, RecordedRequest, ScriptedServer, error_response

__all__ = ["FakeBatches"]

_Handler = Callable[[web.Request, RecordedRequest, bool], Awaitable[web.StreamResponse]]
_Wrap = Callable[[_Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]

_OPENAI_TERMINAL = ("completed", "failed", "expired", "cancelled")
_NOT_RUN = {  # OpenAI's error-file entry of a request a batch did not run
    "expired": {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    },
    "canceled": {"code": "batch_cancelled", "message": "This request was not executed: the batch was cancelled."},
}


class _NoTransport:
    """Stands in for the aiohttp request when a batch line is answered (a `Fault.drop` then drops nothing)."""

    transport = None


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class _Batch:
    """One batch of either provider; ``lines`` are ``(custom_id, body)`` in submission order."""

    id: str
    provider: str  # openai | azure | anthropic
    lines: list[tuple[str, dict[str, Any]]]
    created: float
    due: float
    expire_after: int | None
    endpoint: str = ""
    input_file_id: str = ""
    failure: str | None = None  # fails as a whole (OpenAI: validation)
    cancelled_at: float | None = None
    ended_at: float | None = None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom_id -> provider result
    output_file_id: str | None = None
    error_file_id: str | None = None
    work: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.ended_at is not None


class FakeBatches:
    """Batch endpoints of one `FakeLLMServer` (``server.batches``); its attributes configure new batches.

    - ``completion_delay``: seconds from creation until a batch ends (default 0: on the next poll).
    - ``expire_after``: None, or a batch expires once that many of its requests are done (the rest come back
      ``expired`` / ``batch_expired``).
    - ``fail_batches``: None, or a message: OpenAI batches then fail validation as a whole; Anthropic batch
      creation is rejected with HTTP 400.
    - ``max_requests`` / ``max_bytes``: the provider limits per batch (a batch over them fails / is rejected).
    """

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.completion_delay = 0.0
        self.expire_after: int | None = None
        self.fail_batches: str | None = None
        self.max_requests = {"openai": 50_000, "azure": 100_000, "anthropic": 100_000}
        self.max_bytes = {"openai": 200 * 1024**2, "azure": 200 * 1024**2, "anthropic": 256 * 1024**2}
        self.created: collections.Counter[str] = collections.Counter()
        """Batches created, per provider."""
        self.submitted: collections.Counter[str] = collections.Counter()
        """Request lines in created batches, per provider."""
        self.downloads: collections.Counter[str] = collections.Counter()
        """Result downloads (output / error files, Anthropic results), per provider."""
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ counters

    @property
    def batches_created(self) -> int:
        """Batches created, all providers."""
        return sum(self.created.values())

    @property
    def requests_submitted(self) -> int:
        """Request lines in created batches, all providers."""
        return sum(self.submitted.values())

    def reset(self) -> None:
        """Forget every file, batch and count (the settings stay)."""
        self.files.clear()
        self.batches.clear()
        self.created.clear()
        self.submitted.clear()
        self.downloads.clear()

    # ------------------------------------------------------------------ routes

    def add_routes(self, router: web.UrlDispatcher, wrap: _Wrap) -> None:
        """Register the endpoints; ``wrap`` is the server's request recorder."""
        for prefix, provider in (("/v1", "openai"), ("/openai", "azure")):
            router.add_post(f"{prefix}/files", wrap(self._handler(self._upload, provider)))
            router.add_get(f"{prefix}/files/{{file_id}}", wrap(self._handler(self._file, provider)))
            router.add_get(f"{prefix}/files/{{file_id}}/content", wrap(self._handler(self._content, provider)))
            router.add_post(f"{prefix}/batches", wrap(self._handler(self._create_openai, provider)))
            router.add_get(f"{prefix}/batches/{{batch_id}}", wrap(self._handler(self._retrieve, provider)))
            router.add_post(f"{prefix}/batches/{{batch_id}}/cancel", wrap(self._handler(self._cancel, provider)))
        base = "/v1/messages/batches"
        router.add_post(base, wrap(self._handler(self._create_anthropic, "anthropic")))
        router.add_get(f"{base}/{{batch_id}}", wrap(self._handler(self._retrieve, "anthropic")))
        router.add_post(f"{base}/{{batch_id}}/cancel", wrap(self._handler(self._cancel, "anthropic")))
        router.add_get(f"{base}/{{batch_id}}/results", wrap(self._handler(self._results_anthropic, "anthropic")))

    def _handler(
        self, method: Callable[[web.Request, RecordedRequest, str], Awaitable[web.StreamResponse]], provider: str
    ) -> _Handler:
        async def handle(request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
            refused = self._auth(rec, provider)
            return refused if refused is not None else await method(request, rec, provider)

        return handle

    def _auth(self, rec: RecordedRequest, provider: str) -> web.Response | None:
        key = self.server.api_key
        if provider == "azure" and "api-version" not in rec.query:
            return self._error(provider, 400, "Missing required query parameter 'api-version'.")
        if key is None:
            return None
        headers = rec.headers
        ok = {
            "openai": headers.get("authorization") == f"Bearer {key}",
            "azure": headers.get("api-key") == key,
            "anthropic": key in (headers.get("x-api-key"), (headers.get("authorization") or "")[7:]),
        }[provider]
        return None if ok else self._error(provider, 401, "invalid API key")

    def _error(self, provider: str, status: int, message: str) -> web.Response:
        return error_response("anthropic" if provider == "anthropic" else "openai", status, message)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):024x}"

    # ------------------------------------------------------------------ files (OpenAI, Azure)

    async def _upload(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        raw = await request.read()
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str):
                    fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or "purpose" not in fields:
            return self._error(provider, 400, "multipart fields 'file' and 'purpose' are required")
        filename, data = fields["file"]
        file = _File(self._new_id("file-"), filename or "upload.jsonl", fields["purpose"][1].decode(), data,
                     int(time.time()))  # fmt: skip
        self.files[file.id] = file
        return _json(file.public())

    async def _file(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        return _json(file.public()) if file else self._error(provider, 404, "No such File object")

    async def _content(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return self._error(provider, 404, "No such File object")
        if file.purpose == "batch_output":
            self.downloads[provider] += 1
        return web.Response(body=file.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ OpenAI / Azure batches

    async def _create_openai(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        body = rec.json if isinstance(rec.json, dict) else {}
        endpoint = body.get("endpoint")
        want = "/chat/completions" if provider == "azure" else "/v1/chat/completions"
        if endpoint not in (want, "/v1/chat/completions"):
            return self._error(provider, 400, f"endpoint must be {want!r} here, got {endpoint!r}")
        if body.get("completion_window") != "24h":
            return self._error(provider, 400, "completion_window must be '24h'")
        file = self.files.get(str(body.get("input_file_id")))
        if file is None or file.purpose != "batch":
            return self._error(provider, 400, "input_file_id must name an uploaded file with purpose 'batch'")
        lines, failure = self._read_input(file, endpoint, provider)
        batch = self._add(provider, lines, failure)
        batch.endpoint, batch.input_file_id = endpoint, file.id
        return _json(self._openai_view(batch))

    def _read_input(
        self, file: _File, endpoint: str, provider: str
    ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """The lines of an input file, and why the batch fails validation (None: it does not)."""
        if self.fail_batches:
            return [], self.fail_batches
        if len(file.data) > self.max_bytes[provider]:
            return [], f"input file is larger than {self.max_bytes[provider]} bytes"
        lines: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        models: set[Any] = set()
        for number, raw in enumerate(file.data.splitlines(), 1):
            try:
                line = json.loads(raw)
                custom_id, body = line["custom_id"], line["body"]
                assert line.get("method") == "POST" and line.get("url") == endpoint and isinstance(body, dict)
            except (ValueError, KeyError, TypeError, AssertionError):
                return [], f"line {number}: not a valid batch request line for {endpoint}"
            if custom_id in seen:
                return [], f"line {number}: duplicate custom_id {custom_id!r}"
            if body.get("stream"):
                return [], f"line {number}: streaming is not supported in a batch"
            seen.add(custom_id)
            models.add(body.get("model"))
            lines.append((custom_id, body))
        if not lines:
            return [], "the input file is empty"
        if len(models) > 1:
            return [], "every line of a batch must use the same model"
        if len(lines) > self.max_requests[provider]:
            return [], f"a batch holds at most {self.max_requests[provider]} requests, got {len(lines)}"
        return lines, None

    def _openai_status(self, batch: _Batch) -> str:
        if batch.failure is not None:
            return "failed"
        if not batch.done:
            return "in_progress"
        if batch.cancelled_at is not None:
            return "cancelled"
        if batch.expire_after is not None and batch.expire_after < len(batch.lines):
            return "expired"
        return "completed"

    def _openai_view(self, batch: _Batch) -> dict[str, Any]:
        status = self._openai_status(batch)
        total = len(batch.lines)
        if batch.done:
            failed = sum(1 for outcome in batch.outcomes.values() if not _openai_ok(outcome))
            completed = total - failed
        else:
            failed, completed = 0, self._share_done(batch)
        stamp = int(batch.ended_at) if batch.ended_at else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": {
                "object": "list",
                "data": [{"code": "invalid_request", "message": batch.failure, "param": None, "line": None}],
            }
            if batch.failure
            else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created),
            "in_progress_at": None if batch.failure else int(batch.created),
            "expires_at": int(batch.created) + 86400,
            "finalizing_at": stamp if status == "completed" else None,
            "completed_at": stamp if status == "completed" else None,
            "failed_at": int(batch.created) if batch.failure else None,
            "expired_at": stamp if status == "expired" else None,
            "cancelling_at": int(batch.cancelled_at) if batch.cancelled_at else None,
            "cancelled_at": stamp if status == "cancelled" else None,
            "request_counts": {"total": total, "completed": completed, "failed": failed},
            "metadata": None,
        }

    # ------------------------------------------------------------------ Anthropic batches

    async def _create_anthropic(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        body = rec.json if isinstance(rec.json, dict) else {}
        requests = body.get("requests")
        if self.fail_batches:
            return self._error(provider, 400, self.fail_batches)
        if not isinstance(requests, list) or not requests:
            return self._error(provider, 400, "requests: at least one request is required")
        if len(requests) > self.max_requests[provider]:
            return self._error(provider, 400, f"requests: at most {self.max_requests[provider]} requests per batch")
        if request.content_length and request.content_length > self.max_bytes[provider]:
            return self._error(provider, 413, f"a batch is at most {self.max_bytes[provider]} bytes")
        lines: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            params = item.get("params") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not isinstance(params, dict) or params.get("stream"):
                return self._error(provider, 400, f"requests.{i}: needs custom_id and non-streaming params")
            if custom_id in seen:
                return self._error(provider, 400, f"requests.{i}.custom_id: duplicate {custom_id!r}")
            seen.add(custom_id)
            lines.append((custom_id, params))
        return _json(self._anthropic_view(self._add(provider, lines, None)))

    async def _results_anthropic(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        batch = self._batch(request, provider)
        if batch is None:
            return self._error(provider, 404, "message batch not found")
        await self._advance(batch)
        if not batch.done:
            return self._error(provider, 400, "the batch has not ended yet")
        self.downloads[provider] += 1
        body = "".join(_dumps({"custom_id": cid, "result": batch.outcomes[cid]}) + "\n" for cid, _ in batch.lines)
        return web.Response(body=body.encode(), content_type="application/binary")

    def _anthropic_view(self, batch: _Batch) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.done:
            for outcome in batch.outcomes.values():
                counts[outcome["type"]] += 1
        else:
            counts["processing"] = len(batch.lines)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if batch.done else ("canceling" if batch.cancelled_at else "in_progress"),
            "request_counts": counts,
            "created_at": _rfc3339(batch.created),
            "expires_at": _rfc3339(batch.created + 86400),
            "ended_at": _rfc3339(batch.ended_at) if batch.ended_at else None,
            "cancel_initiated_at": _rfc3339(batch.cancelled_at) if batch.cancelled_at else None,
            "archived_at": None,
            "results_url": f"{self.server.url}/v1/messages/batches/{batch.id}/results" if batch.done else None,
        }

    # ------------------------------------------------------------------ retrieve, cancel (both providers)

    def _batch(self, request: web.Request, provider: str) -> _Batch | None:
        batch = self.batches.get(request.match_info["batch_id"])
        return batch if batch is not None and batch.provider == provider else None

    async def _retrieve(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        batch = self._batch(request, provider)
        if batch is None:
            return self._error(provider, 404, f"no such batch: {request.match_info['batch_id']}")
        await self._advance(batch)
        return _json(self._anthropic_view(batch) if provider == "anthropic" else self._openai_view(batch))

    async def _cancel(self, request: web.Request, rec: RecordedRequest, provider: str) -> web.Response:
        batch = self._batch(request, provider)
        if batch is not None:
            await self._advance(batch)
            if not batch.done:
                batch.cancelled_at = time.time()
                await self._finish(batch)
        return await self._retrieve(request, rec, provider)

    # ------------------------------------------------------------------ processing

    def _add(self, provider: str, lines: list[tuple[str, dict[str, Any]]], failure: str | None) -> _Batch:
        now = time.time()
        prefix = "msgbatch_" if provider == "anthropic" else "batch_"
        batch = _Batch(self._new_id(prefix), provider, lines, now, now + self.completion_delay, self.expire_after,
                       failure=failure)  # fmt: skip
        self.batches[batch.id] = batch
        self.created[provider] += 1
        self.submitted[provider] += len(lines)
        return batch

    def _share_done(self, batch: _Batch) -> int:
        if self.completion_delay <= 0:
            return 0
        share = min(1.0, (time.time() - batch.created) / max(batch.due - batch.created, 1e-9))
        return int(len(batch.lines) * share * 0.99)

    async def _advance(self, batch: _Batch) -> None:
        """End ``batch`` if its time has come (once, even with concurrent polls)."""
        if batch.done or batch.failure is not None or time.time() < batch.due:
            return
        await self._finish(batch)

    async def _finish(self, batch: _Batch) -> None:
        if batch.work is None:
            batch.work = asyncio.ensure_future(self._process(batch))
        await asyncio.shield(batch.work)

    async def _process(self, batch: _Batch) -> None:
        limit = len(batch.lines) if batch.expire_after is None else batch.expire_after
        run = [] if batch.cancelled_at is not None else batch.lines[:limit]
        answers = await asyncio.gather(*(self._answer(batch.provider, body) for _, body in run))
        anthropic = batch.provider == "anthropic"
        unrun = "canceled" if batch.cancelled_at is not None else "expired"
        for index, (custom_id, _) in enumerate(batch.lines):
            if index < len(run):
                status, body = answers[index]
                outcome = _anthropic_outcome(status, body) if anthropic else self._openai_outcome(status, body)
            elif anthropic:
                outcome = {"type": unrun}
            else:
                outcome = {"response": None, "error": _NOT_RUN[unrun]}
            batch.outcomes[custom_id] = outcome
        if not anthropic:
            self._write_outputs(batch)
        batch.ended_at = time.time()

    async def _answer(self, provider: str, body: dict[str, Any]) -> tuple[int, Any]:
        """HTTP status and decoded body of the live reply to ``body`` (a non-JSON body stays text)."""
        path = "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"
        rec = RecordedRequest("POST", path, {}, Headers(), body, time.time())
        deployment = body.get("model") if provider == "azure" else None
        live = "openai" if provider == "azure" else provider  # an Azure batch line answers like OpenAI's
        response = await self.server.chat_response(_NoTransport(), rec, False, live, deployment, None)  # type: ignore[arg-type]
        raw = response.body if isinstance(response, web.Response) else b""
        try:
            decoded: Any = json.loads(raw) if raw else ""
        except ValueError:
            decoded = bytes(raw).decode("utf-8", "replace")
        return response.status, decoded

    def _openai_outcome(self, status: int, body: Any) -> dict[str, Any]:
        request_id = f"req_{next(self._ids):024x}"
        return {"response": {"status_code": status, "request_id": request_id, "body": body}, "error": None}

    def _write_outputs(self, batch: _Batch) -> None:
        out: list[str] = []
        err: list[str] = []
        for custom_id, _ in batch.lines:
            outcome = batch.outcomes[custom_id]
            line = _dumps({"id": f"batch_req_{next(self._ids):024x}", "custom_id": custom_id, **outcome}) + "\n"
            (out if _openai_ok(outcome) else err).append(line)
        now = int(time.time())
        for lines, attr in ((out, "output_file_id"), (err, "error_file_id")):
            if lines:
                file = _File(self._new_id("file-"), f"{batch.id}_{attr[:-8]}.jsonl", "batch_output",
                             "".join(lines).encode(), now)  # fmt: skip
                self.files[file.id] = file
                setattr(batch, attr, file.id)


def _openai_ok(outcome: dict[str, Any]) -> bool:
    """Whether an OpenAI batch line belongs in the output file (else in the error file)."""
    return outcome["error"] is None and outcome["response"]["status_code"] == 200


def _anthropic_outcome(status: int, body: Any) -> dict[str, Any]:
    if status == 200 and isinstance(body, dict):
        return {"type": "succeeded", "message": body}
    if isinstance(body, dict) and body.get("type") == "error":
        return {"type": "errored", "error": body}
    error = {"type": "api_error", "message": f"HTTP {status}: {str(body)[:200]}"}
    return {"type": "errored", "error": {"type": "error", "error": error}}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj).encode(), status=status, content_type="application/json")


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")

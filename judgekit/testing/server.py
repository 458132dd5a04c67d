"""A real local HTTP server speaking the OpenAI, Azure OpenAI and Anthropic chat APIs.

`FakeLLMServer` runs an aiohttp server in a daemon thread (with its own event loop) and answers
chat requests from a FIFO queue of scripted `Reply`/`Fault` items, falling back to a default reply.
It records every request, counts concurrency and can add latency (per request and per prompt token), so
tests and benchmarks can drive real clients (official SDKs, aiohttp, httpx) over 127.0.0.1.

The per-request path is kept small (no logging, one JSON encode, one socket write per response) so
the server can sustain benchmark loads of thousands of requests at high concurrency.

The other endpoint families are modules of their own (`judgekit.testing.batches`, ``decisions``, ``rewards``)
registered here; they and this module share `judgekit.testing.wire` and never import this one.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from aiohttp import web

from judgekit.testing import decisions, rewards
from judgekit.testing.batches import FakeBatches
from judgekit.testing.wire import (
    Fault,
    Headers,
    Provider,
    RecordedRequest,
    Reply,
    ReplyItem,
    ReplySource,
    dumps,
    error_response,
    json_response,
    resolve,
)

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply", "ReplySource"]

_Handler: TypeAlias = Callable[[web.Request, RecordedRequest, bool], Awaitable[web.StreamResponse]]

_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_GARBAGE = b"<html><body>502 Bad Gateway</body></html> {not json"


def _words(text: Any) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def _content_words(content: Any) -> int:
    """Whitespace words in a message content: a string or a list of text/other blocks."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(_words(part.get("text")) for part in content if isinstance(part, dict))
    return 0


def _prompt_words(payload: dict[str, Any]) -> int:
    """Whitespace words in all message text (plus the Anthropic `system` prompt)."""
    total = _content_words(payload.get("system"))
    messages = payload.get("messages")
    if isinstance(messages, list):
        total += sum(_content_words(m.get("content")) for m in messages if isinstance(m, dict))
    return total


def _chunks(text: str, size: int) -> list[str]:
    if not text:
        return []
    if size <= 0:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeLLMServer:
    """A scripted OpenAI / Azure OpenAI / Anthropic compatible HTTP server running in a background thread.

    Chat requests (`POST /v1/chat/completions`, `POST /openai/deployments/{d}/chat/completions`,
    `POST /v1/messages`) take the next item of one shared FIFO queue (see `enqueue`), or `default_reply`
    when it is empty. A callable `default_reply` is called with the `RecordedRequest`.
    """

    def __init__(
        self,
        model_name: str = "fake-judge",
        latency: float = 0.0,
        default_reply: ReplySource = "Yes",
        api_key: str | None = None,
        stream_only: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_per_token: float = 0.0,
    ) -> None:
        self.model_name = model_name
        self.latency = latency
        self.latency_per_token = latency_per_token
        """Seconds added per prompt token (whitespace word) of a chat request, as prefill would take."""
        self.default_reply = default_reply
        self.api_key = api_key
        self.stream_only = stream_only
        self.host = host
        self._port = port
        self.max_in_flight = 0
        self._in_flight = 0
        self._hold: tuple[int, float] | None = None
        self._queue: collections.deque[ReplySource] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.batches = FakeBatches(self)
        """The provider batch APIs (files, batches, message batches) and their counters."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The TCP port (the bound one once started, so a restart re-binds it)."""
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. `http://127.0.0.1:8000` (Anthropic / Azure endpoint)."""
        if not self._port:
            raise RuntimeError("FakeLLMServer has no port yet; call start() first")
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. `http://127.0.0.1:8000/v1`."""
        return self.url + "/v1"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._thread is not None

    def start(self) -> FakeLLMServer:
        """Start listening (blocks until bound). After `stop()`, re-binds the same port."""
        if self._thread is not None:
            raise RuntimeError("FakeLLMServer is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="FakeLLMServer", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=30)
        except BaseException:
            self._shutdown_loop(loop, thread)
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop(self, grace: float = 0.05) -> None:
        """Stop listening and close all connections; in-flight requests get `grace` seconds, then are cut."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(grace), loop).result(timeout=30)
        finally:
            self._loop = self._thread = None
            self._shutdown_loop(loop, thread)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    @staticmethod
    def _shutdown_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(cancel_rest(), loop).result(timeout=10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    async def _astart(self) -> None:
        app = web.Application(client_max_size=256 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._wrap(self._openai_chat))
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._wrap(self._azure_chat))
        app.router.add_post("/v1/messages", self._wrap(self._anthropic_messages))
        app.router.add_post("/v1/decisions", self._wrap(functools.partial(decisions.openai_decisions, self)))
        app.router.add_post("/v1/systemone", self._wrap(functools.partial(decisions.systemone, self)))
        app.router.add_get("/v1/models", self._wrap(self._models))
        app.router.add_get("/health", self._wrap(self._health))
        self.batches.add_routes(app.router, self._wrap)
        rewards.add_routes(self, app.router, self._wrap)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.05, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, backlog=4096, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if runner.addresses:
            self._port = runner.addresses[0][1]
        self._runner, self._site = runner, site

    async def _astop(self, grace: float) -> None:
        runner, site = self._runner, self._site
        self._runner = self._site = None
        if site is not None:
            await site.stop()  # stop accepting; in-flight requests carry on for up to `grace`
        deadline = time.monotonic() + grace
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------------ scripting & counters

    def enqueue(self, *items: ReplySource) -> None:
        """Queue replies/faults (FIFO), shared by all chat endpoints; callables are called per request."""
        self._queue.extend(items)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        return self._requests

    def count(self, path_prefix: str | None = None) -> int:
        """Number of requests received, optionally only those whose path starts with `path_prefix`."""
        with self._lock:
            if path_prefix is None:
                return len(self._requests)
            return sum(1 for r in self._requests if r.path.startswith(path_prefix))

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Scripted items not consumed yet."""
        return len(self._queue)

    def hold_until_in_flight(self, n: int, timeout: float = 30.0) -> None:
        """Chat replies wait until `n` requests have been in flight at once (each waits at most `timeout`
        seconds from its arrival): a client's concurrency shows however slowly a busy machine sends.
        `reset()` lifts the hold."""
        self._hold = (n, timeout)

    def reset(self) -> None:
        """Clear the queue, the recorded requests, `max_in_flight` and a hold."""
        self._queue.clear()
        with self._lock:
            self._requests.clear()
        self.max_in_flight = self._in_flight
        self._hold = None

    def next_item(self, rec: RecordedRequest) -> ReplyItem:
        """The item that answers ``rec``: the next one queued, else `default_reply` (a callable is called)."""
        try:
            item = self._queue.popleft()
        except IndexError:
            item = self.default_reply
        return resolve(item, rec)

    # ------------------------------------------------------------------ request plumbing

    def _wrap(self, handler: _Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self._in_flight += 1
            if self._in_flight > self.max_in_flight:
                self.max_in_flight = self._in_flight
            try:
                payload: Any = None
                bad_json = False
                if request.body_exists:
                    raw = await request.read()
                    if raw:
                        try:
                            payload = json.loads(raw)
                        except ValueError:
                            bad_json = True
                rec = RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=Headers((k.lower(), v) for k, v in request.headers.items()),
                    json=payload,
                    time=time.time(),
                )
                with self._lock:
                    self._requests.append(rec)
                return await handler(request, rec, bad_json)
            finally:
                self._in_flight -= 1

        return wrapped

    async def _health(self, request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.Response:
        return json_response({"status": "ok"})

    async def _models(self, request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.Response:
        model = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "judgekit"}
        return json_response({"object": "list", "data": [model]})

    async def _openai_chat(self, request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        error = None
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            error = error_response("openai", 401, "Incorrect API key provided.")
        return await self.chat_response(request, rec, bad_json, "openai", None, error)

    async def _azure_chat(self, request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        error = None
        if self.api_key is not None and rec.headers.get("api-key") != self.api_key:
            error = error_response(
                "azure",
                401,
                "Access denied due to invalid subscription key or wrong API endpoint.",
            )
        elif "api-version" not in rec.query:
            error = error_response("azure", 400, "Missing required query parameter 'api-version'.")
        deployment = request.match_info["deployment"]
        return await self.chat_response(request, rec, bad_json, "azure", deployment, error)

    async def _anthropic_messages(
        self, request: web.Request, rec: RecordedRequest, bad_json: bool
    ) -> web.StreamResponse:
        error = None
        if self.api_key is not None and (
            rec.headers.get("x-api-key") != self.api_key
            and rec.headers.get("authorization") != f"Bearer {self.api_key}"
        ):  # Anthropic takes `x-api-key`; recent SDKs send the key as a Bearer token instead
            error = error_response("anthropic", 401, "invalid x-api-key")
        return await self.chat_response(request, rec, bad_json, "anthropic", None, error)

    async def chat_response(
        self,
        request: web.Request,
        rec: RecordedRequest,
        bad_json: bool,
        provider: Provider,
        deployment: str | None,
        error: web.Response | None,
    ) -> web.StreamResponse:
        """The chat reply to ``rec`` in ``provider``'s shape (``error`` instead, when given): the next scripted
        item after the server's latency, streamed when the payload asks (a provider batch's lines come here)."""
        payload = rec.json
        if error is None and (bad_json or not isinstance(payload, dict)):
            error = error_response(provider, 400, "Request body must be a JSON object.")
        stream = error is None and payload.get("stream") is True
        if error is None and self.stream_only and not stream:
            error = error_response(provider, 400, "This model only supports stream mode")
        item = self.next_item(rec) if error is None else None  # picked on arrival: FIFO by arrival
        if self._hold is not None:
            n, timeout = self._hold
            deadline = time.monotonic() + timeout
            while self.max_in_flight < n and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        delay = self.latency
        if self.latency_per_token > 0 and isinstance(payload, dict):
            delay += self.latency_per_token * _prompt_words(payload)
        if delay > 0:
            await asyncio.sleep(delay)
        if error is not None:
            return error
        while isinstance(item, Fault) and item.kind == "slow":
            await asyncio.sleep(item.seconds)
            item = resolve(self.default_reply, rec)
        if isinstance(item, Fault):
            return self.fault_response(request, item, provider, payload, stream, deployment)
        reply = item if isinstance(item, Reply) else Reply(content=str(item))
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        if provider == "anthropic":
            return await self._anthropic_reply(request, reply, payload, stream)
        return await self._openai_reply(request, reply, payload, stream, deployment)

    def fault_response(
        self,
        request: web.Request,
        fault: Fault,
        provider: Provider,
        payload: dict[str, Any],
        stream: bool,
        deployment: str | None,
    ) -> web.Response:
        """What a scripted `Fault` answers with, in ``provider``'s shape (``drop`` closes the connection)."""
        if fault.kind == "drop":
            transport = request.transport
            if transport is not None:
                transport.close()
            return web.Response(status=500)  # never sent: the write fails on the closed transport
        if fault.kind == "garbage":
            return web.Response(body=_GARBAGE, status=200, headers={"Content-Type": "application/json"})
        if fault.kind == "empty":
            model = self._model_for(None, payload, deployment)
            if provider == "anthropic":
                return self._anthropic_empty(model, payload, stream)
            return self._openai_empty(model, payload, stream)
        message = {429: "Rate limit reached. Please try again later.", 401: "Unauthorized."}.get(
            fault.status, f"Simulated error {fault.status}."
        )
        return error_response(provider, fault.status, message, fault.body, fault.retry_after)

    def _model_for(self, reply: Reply | None, payload: dict[str, Any], deployment: str | None) -> str:
        if reply is not None and reply.model:
            return reply.model
        if deployment is not None:
            return deployment
        model = payload.get("model")
        return model if isinstance(model, str) and model else self.model_name

    @staticmethod
    def _token_counts(reply: Reply, payload: dict[str, Any]) -> tuple[int, int]:
        prompt = _prompt_words(payload)
        completion = len(reply.content.split()) + _words(reply.reasoning_content)
        if reply.usage:
            prompt = int(reply.usage.get("prompt_tokens", reply.usage.get("input_tokens", prompt)))
            completion = int(reply.usage.get("completion_tokens", reply.usage.get("output_tokens", completion)))
        return prompt, completion

    # ------------------------------------------------------------------ OpenAI / Azure

    def _openai_usage(self, reply: Reply, payload: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = self._token_counts(reply, payload)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if reply.usage:
            usage.update(reply.usage)
        return usage

    @staticmethod
    def _openai_logprobs(reply: Reply, payload: dict[str, Any]) -> list[dict[str, Any]] | None:
        if reply.logprobs is not None:
            return reply.logprobs
        if payload.get("logprobs"):
            return [{"token": t, "logprob": 0.0, "top_logprobs": []} for t in reply.content.split()]
        return None

    async def _openai_reply(
        self,
        request: web.Request,
        reply: Reply,
        payload: dict[str, Any],
        stream: bool,
        deployment: str | None,
    ) -> web.StreamResponse:
        n = payload.get("n")
        n = n if isinstance(n, int) and n > 1 else 1
        model = self._model_for(reply, payload, deployment)
        logprobs = self._openai_logprobs(reply, payload)
        ident = f"chatcmpl-{next(self._ids):012x}"
        created = int(time.time())
        if stream:
            body = self._openai_stream(ident, created, model, reply, payload, n, logprobs)
            return await self._send_stream(request, body)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        lp = {"content": logprobs} if logprobs is not None else None
        choices = [
            {"index": i, "message": message, "logprobs": lp, "finish_reason": reply.finish_reason} for i in range(n)
        ]
        return json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": self._openai_usage(reply, payload),
            }
        )

    def _openai_stream(
        self,
        ident: str,
        created: int,
        model: str,
        reply: Reply,
        payload: dict[str, Any],
        n: int,
        logprobs: list[dict[str, Any]] | None,
    ) -> bytes:
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        head = dumps({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model})[:-1]
        tail = ',"usage":null}' if include_usage else "}"
        parts: list[str] = []

        def emit(choice: dict[str, Any]) -> None:
            parts.append(f'data: {head},"choices":[{dumps(choice)}]{tail}\n\n')

        reasoning = _chunks(reply.reasoning_content or "", reply.chunk_size)
        content = _chunks(reply.content, reply.chunk_size)
        for i in range(n):
            first = {"role": "assistant", "content": ""}
            emit({"index": i, "delta": first, "logprobs": None, "finish_reason": None})
            for piece in reasoning:
                emit(
                    {
                        "index": i,
                        "delta": {"reasoning_content": piece},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                )
            for j, piece in enumerate(content):
                lp = {"content": logprobs} if j == 0 and logprobs is not None else None
                emit({"index": i, "delta": {"content": piece}, "logprobs": lp, "finish_reason": None})
            emit({"index": i, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason})
        if include_usage:
            usage = dumps(self._openai_usage(reply, payload))
            parts.append(f'data: {head},"choices":[],"usage":{usage}}}\n\n')
        parts.append("data: [DONE]\n\n")
        return "".join(parts).encode()

    def _openai_empty(self, model: str, payload: dict[str, Any], stream: bool) -> web.Response:
        usage = {"prompt_tokens": _prompt_words(payload), "completion_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"]
        obj = {
            "id": f"chatcmpl-{next(self._ids):012x}",
            "object": "chat.completion.chunk" if stream else "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": usage,
        }
        if stream:
            return web.Response(body=f"data: {dumps(obj)}\n\ndata: [DONE]\n\n".encode(), headers=_SSE_HEADERS)
        return json_response(obj)

    # ------------------------------------------------------------------ Anthropic

    def _anthropic_blocks(self, reply: Reply) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if reply.reasoning_content is not None:
            blocks.append({"type": "thinking", "thinking": reply.reasoning_content, "signature": ""})
        blocks.append({"type": "text", "text": reply.content})
        return blocks

    async def _anthropic_reply(
        self, request: web.Request, reply: Reply, payload: dict[str, Any], stream: bool
    ) -> web.StreamResponse:
        model = self._model_for(reply, payload, None)
        prompt, completion = self._token_counts(reply, payload)
        stop_reason = _ANTHROPIC_STOP.get(reply.finish_reason, reply.finish_reason)
        message: dict[str, Any] = {
            "id": f"msg_{next(self._ids):024x}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": self._anthropic_blocks(reply),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }
        if not stream:
            return json_response(message)
        return await self._send_stream(request, self._anthropic_stream(message, reply.chunk_size))

    @staticmethod
    def _anthropic_stream(message: dict[str, Any], chunk_size: int) -> bytes:
        parts: list[str] = []

        def ev(name: str, data: dict[str, Any]) -> None:
            parts.append(f"event: {name}\ndata: {dumps(data)}\n\n")

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
        }
        ev("message_start", {"type": "message_start", "message": start})
        ev("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block["type"] == "thinking":
                ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
                for piece in _chunks(block["thinking"], chunk_size):
                    delta = {"type": "thinking_delta", "thinking": piece}
                    ev("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            else:
                ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for piece in _chunks(block["text"], chunk_size):
                    delta = {"type": "text_delta", "text": piece}
                    ev("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            ev("content_block_stop", {"type": "content_block_stop", "index": index})
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        ev("message_stop", {"type": "message_stop"})
        return "".join(parts).encode()

    def _anthropic_empty(self, model: str, payload: dict[str, Any], stream: bool) -> web.Response:
        message = {
            "id": f"msg_{next(self._ids):024x}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _prompt_words(payload), "output_tokens": 0},
        }
        if stream:
            return web.Response(body=self._anthropic_stream(message, 8), headers=_SSE_HEADERS)
        return json_response(message)

    # ------------------------------------------------------------------ streaming

    @staticmethod
    async def _send_stream(request: web.Request, body: bytes) -> web.StreamResponse:
        """Send a pre-rendered SSE body as a chunked `text/event-stream` response in one write."""
        resp = web.StreamResponse(headers=_SSE_HEADERS)
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
        return resp

"""What every route of `~judgekit.testing.FakeLLMServer` shares: the scripted items (`Reply`, `Fault`), the
`RecordedRequest`, JSON and error responses in each provider's shape, and `ScriptedServer`, the server as a
route module (`judgekit.testing.batches`, ``decisions``, ``rewards``) sees it. Knows no route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from aiohttp import web

__all__ = [
    "Fault",
    "Headers",
    "Provider",
    "RecordedRequest",
    "Reply",
    "ReplyItem",
    "ReplySource",
    "ScriptedServer",
    "dumps",
    "error_response",
    "json_response",
    "resolve",
    "scripted_item",
]

Provider: TypeAlias = Literal["openai", "azure", "anthropic"]


@dataclass
class Reply:
    """A scripted successful reply."""

    content: str = ""
    reasoning_content: str | None = None
    finish_reason: str = "stop"
    logprobs: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    delay: float = 0.0
    chunk_size: int = 8


@dataclass
class Fault:
    """A scripted failure: an HTTP error status, a dropped connection, a bad body, a stall or no choices."""

    kind: Literal["status", "drop", "garbage", "slow", "empty"]
    status: int = 500
    retry_after: float | None = None
    body: dict[str, Any] | str | None = None
    seconds: float = 0.0

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        """HTTP 429 with a `Retry-After` header (seconds) unless `retry_after` is None."""
        return cls(kind="status", status=429, retry_after=retry_after)

    @classmethod
    def status_code(
        cls, status: int, body: dict[str, Any] | str | None = None, retry_after: float | None = None
    ) -> Fault:
        """HTTP `status`; a dict `body` is sent verbatim, a str is used as the error message."""
        return cls(kind="status", status=status, body=body, retry_after=retry_after)

    @classmethod
    def drop(cls) -> Fault:
        """Close the TCP connection without sending any response."""
        return cls(kind="drop")

    @classmethod
    def garbage(cls) -> Fault:
        """HTTP 200 whose body (labelled application/json) is not JSON."""
        return cls(kind="garbage", status=200)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Sleep `seconds`, then answer with the default reply (for client timeouts)."""
        return cls(kind="slow", seconds=seconds)

    @classmethod
    def empty(cls) -> Fault:
        """HTTP 200 with a well-formed response without choices (Anthropic: `content: []`)."""
        return cls(kind="empty", status=200)


class Headers(dict[str, str]):
    """A plain dict of request headers with lower-cased keys and case-insensitive lookups."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the server saw it (`headers` lookups are case-insensitive; `time` is epoch seconds)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    time: float


ReplyItem: TypeAlias = str | Reply | Fault
ReplySource: TypeAlias = str | Reply | Fault | Callable[[RecordedRequest], ReplyItem]


def resolve(item: ReplySource, rec: RecordedRequest) -> ReplyItem:
    """The item a request gets from ``item``: a callable is called with the request."""
    return item(rec) if callable(item) else item


class ScriptedServer(Protocol):
    """`~judgekit.testing.FakeLLMServer` as a route module sees it: its settings, its queue of scripted items,
    and the chat and fault replies a route may hand on."""

    model_name: str
    api_key: str | None
    latency: float
    default_reply: ReplySource

    @property
    def url(self) -> str: ...

    def next_item(self, rec: RecordedRequest) -> ReplyItem: ...

    def fault_response(
        self,
        request: web.Request,
        fault: Fault,
        provider: Provider,
        payload: dict[str, Any],
        stream: bool,
        deployment: str | None,
    ) -> web.Response: ...

    async def chat_response(
        self,
        request: web.Request,
        rec: RecordedRequest,
        bad_json: bool,
        provider: Provider,
        deployment: str | None,
        error: web.Response | None,
    ) -> web.StreamResponse: ...


_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def dumps(obj: Any) -> str:
    """Compact JSON text."""
    return json.dumps(obj, separators=(",", ":"))


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """``obj`` as an ``application/json`` response."""
    return web.Response(body=dumps(obj).encode(), status=status, headers=headers, content_type="application/json")


def _retry_after_value(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def error_response(
    provider: Provider,
    status: int,
    message: str,
    body: dict[str, Any] | str | None = None,
    retry_after: float | None = None,
) -> web.Response:
    """An error response in ``provider``'s shape (a dict ``body`` is sent as it is, a str one is the message),
    with a ``Retry-After`` header when ``retry_after`` is given."""
    headers = {"Retry-After": _retry_after_value(retry_after)} if retry_after is not None else None
    if isinstance(body, dict):
        return json_response(body, status, headers)
    if isinstance(body, str):
        message = body
    if provider == "anthropic":
        etype = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        obj: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": message}}
    else:
        etype, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", "server_error"))
        obj = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return json_response(obj, status, headers)


async def scripted_item(server: ScriptedServer, rec: RecordedRequest) -> ReplyItem:
    """The item that answers ``rec`` on a non-chat route: the next one, after the server's ``latency``, with a
    `Fault.slow` waited out (the default reply follows it)."""
    item = server.next_item(rec)
    if server.latency > 0:
        await asyncio.sleep(server.latency)
    while isinstance(item, Fault) and item.kind == "slow":
        await asyncio.sleep(item.seconds)
        item = resolve(server.default_reply, rec)
    return item

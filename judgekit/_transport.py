"""HTTP for the HTTP-speaking providers: one aiohttp session per event loop, status -> exception mapping.

aiohttp is used directly rather than through an SDK: on a 2-core machine at 128 requests in flight,
judgekit's whole batch path (prompt, request, parse) costs about 0.2 ms of client CPU per call against
1.6 ms for the openai SDK's default client (benchmarks/throughput.py, docs/performance.md). Bodies are
encoded and decoded with pydantic-core's JSON (``to_json``, ``from_json``: Rust, already a dependency through
pydantic), about 3x faster than the standard library's ``json`` on a judging request and reply.

Proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) are honoured, but looked up once per
origin: aiohttp's own ``trust_env=True`` does that lookup (and a ``.netrc`` read) in a worker thread on
every request, which cost more client CPU than the whole rest of the request path.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from pydantic_core import from_json, to_json
from yarl import URL

from judgekit._sync import LoopLocal, on_private_loop_exit
from judgekit.errors import (
    AuthenticationError,
    JudgeTimeoutError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    RateLimitError,
)

__all__ = ["HTTPTransport", "parse_retry_after", "status_error"]

_BODY_SNIPPET = 300


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _error_text(body: str) -> str:
    """The server's error message out of an OpenAI / Anthropic style error body, else a snippet."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:_BODY_SNIPPET].strip()
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            return str(err.get("message") or err.get("msg") or err)[:_BODY_SNIPPET]
        return str(err)[:_BODY_SNIPPET]
    return str(data)[:_BODY_SNIPPET]


def status_error(status: int, body: str, headers: Any = None, *, provider: str, model: str | None) -> ProviderError:
    """The one place that maps an HTTP status to a judgekit exception."""
    detail = _error_text(body)
    kw: dict[str, Any] = {"provider": provider, "model": model, "status_code": status, "body": body[:2000]}
    if status == 429:
        return RateLimitError(f"rate limited: {detail}", retry_after=parse_retry_after(headers), **kw)
    if status in (401, 403):
        return AuthenticationError(f"authentication failed (check the API key): {detail}", **kw)
    if status in (408, 409) or status >= 500:
        return ProviderError(f"server error: {detail}", retryable=True, retry_after=parse_retry_after(headers), **kw)
    return ProviderError(f"request rejected: {detail}", retryable=False, **kw)


class HTTPTransport:
    """A pooled aiohttp client bound to the running loop; raises judgekit exceptions only."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._sessions: LoopLocal[aiohttp.ClientSession] = LoopLocal(self._new_session, _close_session)
        self._urls: dict[str, tuple[URL, URL | None, aiohttp.BasicAuth | None]] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        session = aiohttp.ClientSession(connector=connector, trust_env=False, raise_for_status=False)
        on_private_loop_exit(session.close)
        return session

    def _target(self, url: str) -> tuple[URL, URL | None, aiohttp.BasicAuth | None]:
        """The parsed URL and the environment's proxy for it, computed once per URL."""
        target = self._urls.get(url)
        if target is None:
            parsed = URL(url)
            try:
                proxy, proxy_auth = get_env_proxy_for_url(parsed)
            except LookupError:
                proxy, proxy_auth = None, None
            if len(self._urls) > 1024:
                self._urls.clear()
            target = self._urls[url] = (parsed, proxy, proxy_auth)
        return target

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    def _session(self) -> aiohttp.ClientSession:
        session = self._sessions.get()
        if session.closed:
            self._sessions.pop_current()
            session = self._sessions.get()
        return session

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float,
        model: str | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; non-2xx raises a `ProviderError`."""
        target, proxy, proxy_auth = self._target(url)
        try:
            async with self._session().request(
                method,
                target,
                data=None if payload is None else to_json(payload),
                headers=_with_json(headers),
                timeout=self._timeout(timeout),
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    text = body.decode("utf-8", "replace")
                    raise status_error(resp.status, text, resp.headers, provider=self.provider, model=model)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._connection_error(exc, timeout, model) from None
        try:
            return from_json(body)
        except ValueError:
            pass
        try:  # what pydantic-core refuses and the standard library reads: a byte-order mark, UTF-16
            return json.loads(body)
        except ValueError:
            raise ProviderResponseError(
                f"unreadable response body (not JSON): {body[:120]!r}",
                provider=self.provider,
                model=model,
                status_code=resp.status,
                retryable=True,
            ) from None

    async def stream_sse(
        self,
        url: str,
        *,
        payload: Any,
        headers: dict[str, str] | None = None,
        timeout: float,
        model: str | None = None,
    ) -> AsyncIterator[tuple[str | None, Any]]:
        """POST and yield ``(event, data)`` for each server-sent event; data is decoded JSON.

        Stops at ``data: [DONE]`` or the end of the stream.
        """
        target, proxy, proxy_auth = self._target(url)
        try:
            async with self._session().post(
                target,
                data=to_json(payload),
                headers={**_with_json(headers), "Accept": "text/event-stream"},
                timeout=self._timeout(timeout),
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as resp:
                if resp.status >= 400:
                    text = (await resp.read()).decode("utf-8", "replace")
                    raise status_error(resp.status, text, resp.headers, provider=self.provider, model=model)
                event: str | None = None
                async for raw in resp.content:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if not line:
                        event = None
                        continue
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        try:
                            yield event, from_json(data)
                        except ValueError:
                            raise ProviderResponseError(
                                f"unreadable stream chunk: {data[:120]!r}",
                                provider=self.provider,
                                model=model,
                                retryable=True,
                            ) from None
        except ProviderError:
            raise
        except Exception as exc:
            raise self._connection_error(exc, timeout, model) from None

    async def is_alive(self, url: str, *, headers: dict[str, str] | None = None, timeout: float = 5.0) -> bool:
        """Whether a server answers ``GET url`` at all: any reply below HTTP 500 counts (a health probe)."""
        try:
            await self.request_json("GET", url, headers=headers, timeout=timeout)
        except ProviderConnectionError:
            return False
        except ProviderError as exc:
            return exc.status_code is not None and exc.status_code < 500
        return True

    def _connection_error(self, exc: BaseException, timeout: float, model: str | None) -> ProviderError:
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return JudgeTimeoutError(f"no reply within {timeout:g}s", provider=self.provider, model=model)
        return ProviderConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}",
            provider=self.provider,
            model=model,
            unreachable=isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(exc, aiohttp.ClientSSLError),
        )

    async def aclose(self) -> None:
        """Close this loop's session (other loops' sessions close with the private loop at exit)."""
        session = self._sessions.pop_current()
        if session is not None:
            await _close_session(session)


async def _close_session(session: aiohttp.ClientSession) -> None:
    if not session.closed:
        await session.close()


def _with_json(headers: dict[str, str] | None) -> dict[str, str]:
    return {"Content-Type": "application/json", **(headers or {})}

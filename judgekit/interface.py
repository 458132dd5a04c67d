"""`JudgeInterface`: the abstract provider and the one request path (retry, timeout, concurrency)."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from judgekit._batch import gather_ordered
from judgekit._sync import LoopLocal, run_sync
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeTimeoutError, ProviderError
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["JudgeInterface"]

if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _deadline(seconds: float):  # type: ignore[no-redef]
        task = asyncio.current_task()
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel)  # type: ignore[union-attr]
        try:
            yield
        except asyncio.CancelledError:
            raise TimeoutError from None
        finally:
            handle.cancel()


class JudgeInterface:
    """A judge backend. Subclasses implement ``async _send(request, config) -> JudgeResponse``.

    `aevaluate` is the one request path: it bounds concurrency (``max_concurrent``), applies the
    per-attempt ``timeout``, retries what `should_retry` allows with exponential backoff and jitter
    (honouring ``Retry-After``), measures latency, and turns every `ProviderError` into
    ``JudgeResponse(success=False, error_message=...)``. `evaluate` is its synchronous twin.

    A subclass written the seed's way, overriding only the synchronous ``evaluate``, also works: its
    ``aevaluate`` runs ``evaluate`` in a worker thread.
    """

    provider_name: ClassVar[str] = "base"
    _sync_only: ClassVar[bool] = False

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config if config is not None else JudgeConfig.from_env(api_type=self.provider_name)
        self._semaphores: LoopLocal[asyncio.Semaphore] = LoopLocal(
            lambda: asyncio.Semaphore(self.config.max_concurrent)
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        sync_override = cls.evaluate is not JudgeInterface.evaluate
        async_override = cls.aevaluate is not JudgeInterface.aevaluate or cls._send is not JudgeInterface._send
        cls._sync_only = sync_override and not async_override

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model_name!r}, base_url={self.config.base_url!r})"

    # -- what providers implement -------------------------------------------------------------

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        """Send one attempt to the backend. Raise `ProviderError` subclasses on failure."""
        raise NotImplementedError(f"{type(self).__name__} must implement _send() or evaluate()")

    def should_retry(self, exc: ProviderError) -> bool:
        """Whether a failed attempt is worth retrying. Default: the exception's ``retryable`` flag."""
        return exc.retryable

    def is_available(self) -> bool:
        """Whether this judge is configured well enough to be called (e.g. it has a key)."""
        return True

    async def aclose(self) -> None:
        """Release connections held on the running loop."""

    # -- the request path ----------------------------------------------------------------------

    async def aevaluate(self, request: JudgeRequest) -> JudgeResponse:
        """Judge one request. Never raises for a backend failure; a `ConfigError` propagates."""
        if self._sync_only:
            return await self._evaluate_in_thread(request)
        config = request.config or self.config
        started = time.perf_counter()
        attempts = 0

        async def attempt() -> JudgeResponse:
            nonlocal attempts
            attempts += 1
            async with self._semaphores.get():
                try:
                    async with _deadline(config.timeout):
                        return await self._send(request, config)
                except TimeoutError:
                    raise JudgeTimeoutError(
                        f"no reply within {config.timeout:g}s",
                        provider=self.provider_name,
                        model=config.model_name,
                    ) from None

        try:
            try:
                response = await attempt()  # fast path: no retry machinery for the common success
            except ProviderError as first:
                if config.num_retries == 0 or not self.should_retry(first):
                    raise
                self._log_retry(first, 1, config)
                response = await self._retry(attempt, config, first)
        except ProviderError as exc:
            return self._failure(exc, config, started, attempts)
        except ConfigError:
            raise
        except Exception as exc:  # a bug or an unforeseen reply shape: still an honest failure
            logger.opt(exception=exc).error("judgekit: unexpected error in {}", type(self).__name__)
            return self._failure(exc, config, started, attempts)
        response.latency_s = time.perf_counter() - started
        response.attempts = attempts
        response.provider = response.provider or self.provider_name
        return response

    async def _retry(self, attempt: Any, config: JudgeConfig, first: ProviderError) -> JudgeResponse:
        delay = _Backoff(config)
        await asyncio.sleep(delay(first, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(config.num_retries),
            wait=lambda state: delay(state.outcome.exception(), state.attempt_number + 1),  # type: ignore[union-attr]
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and self.should_retry(e)),
            before_sleep=lambda state: self._log_retry(
                state.outcome.exception(),
                state.attempt_number + 1,
                config,  # type: ignore[union-attr]
            ),
            reraise=True,
        )
        return await retrying(attempt)

    def _log_retry(self, exc: BaseException | None, attempt: int, config: JudgeConfig) -> None:
        logger.warning(
            "judgekit: {} attempt {}/{} failed: {}; retrying",
            self.provider_name,
            attempt,
            config.num_retries + 1,
            exc,
        )

    def _failure(self, exc: Exception, config: JudgeConfig, started: float, attempts: int) -> JudgeResponse:
        message = str(exc) if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
        if attempts > 1:
            message = f"{message} (after {attempts} attempts)"
        return JudgeResponse(
            success=False,
            error_message=config.redact(message),
            error_type=type(exc).__name__,
            status_code=getattr(exc, "status_code", None),
            model_used=config.model_name or "",
            provider=self.provider_name,
            latency_s=time.perf_counter() - started,
            attempts=attempts,
        )

    async def _evaluate_in_thread(self, request: JudgeRequest) -> JudgeResponse:
        config = request.config or self.config
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(self.evaluate, request)
        except ConfigError:
            raise
        except Exception as exc:
            return self._failure(exc, config, started, 1)

    def evaluate(self, request: JudgeRequest) -> JudgeResponse:
        """Synchronous twin of `aevaluate`; also works inside a running event loop (Jupyter)."""
        return run_sync(self.aevaluate(request))

    async def aevaluate_batch(
        self,
        requests: Sequence[JudgeRequest],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
    ) -> list[JudgeResponse]:
        """Judge many requests concurrently; one response per request, in input order."""
        return await gather_ordered(
            requests,
            self.aevaluate,
            concurrency=max_concurrency or self.config.max_concurrent,
            progress=progress,
            failed=lambda r: not r.success,
        )

    def evaluate_batch(
        self,
        requests: Sequence[JudgeRequest],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
    ) -> list[JudgeResponse]:
        """Synchronous twin of `aevaluate_batch`."""
        return run_sync(self.aevaluate_batch(requests, max_concurrency=max_concurrency, progress=progress))

    def close(self) -> None:
        """Synchronous twin of `aclose` (closes what the synchronous calls opened)."""
        run_sync(self.aclose())

    def __enter__(self) -> JudgeInterface:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> JudgeInterface:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Backoff:
    """Exponential backoff with jitter; a server's ``Retry-After`` wins (up to a minute, or
    ``max_retry_delay`` if that is longer)."""

    def __init__(self, config: JudgeConfig) -> None:
        self.base = config.retry_delay
        self.cap = config.max_retry_delay

    def __call__(self, exc: BaseException | None, attempt: int) -> float:
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return min(float(hint), max(self.cap, 60.0))
        delay = min(self.cap, self.base * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

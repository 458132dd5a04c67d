"""`JudgeInterface`: the abstract provider and the one request path (retry, timeout, concurrency)."""

from __future__ import annotations

import asyncio
import importlib
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from loguru import logger
from pydantic import BaseModel

from judgekit._logtally import RETRY_WARNINGS
from judgekit._ratelimit import AdaptiveLimit, ConcurrencyGate, RateLimiter, current_batch, estimate_prompt_tokens
from judgekit._sync import LoopLocal, run_sync
from judgekit.batching.engine import BUDGET_EXCEEDED, BatchStats, gather_ordered, run_batch
from judgekit.cache import JudgeCache, cache_from_config, cache_key, request_key_data
from judgekit.circuit import FailFast
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeTimeoutError, ProviderError, ProviderResponseError, RateLimitError
from judgekit.parsing import split_reasoning
from judgekit.pricing import cost_usd, price_for
from judgekit.types import JudgeRequest, JudgeResponse

if TYPE_CHECKING:
    from judgekit.batching.batch_api import BatchAPIOptions, BatchBackend

__all__ = ["JudgeInterface", "ScoreType"]

T = TypeVar("T")

ScoreType = Literal["probability", "unbounded"]
"""What `JudgeResponse.score` means: a bounded probability in [0, 1], or an unbounded reward-model scalar."""

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

    `aevaluate` answers from the cache when one is configured, then sends through `_call`, the one request
    path: it bounds concurrency (``max_concurrent``, halved on a 429 and grown back: `judgekit._ratelimit`),
    keeps to the client-side rate limits, applies the per-attempt ``timeout`` and retries what `should_retry`
    allows with exponential backoff and jitter (honouring ``Retry-After``). `aevaluate` measures latency and
    cost and turns every `ProviderError` into ``JudgeResponse(success=False, error_message=...)``;
    `evaluate` is its synchronous twin. `aevaluate_batch` runs many through it (`judgekit.batching.engine`), with a
    budget and a progress bar. A request's own ``config`` overrides only the fields it sets (`config_for`).

    Capabilities generic code may ask any judge about (override them in a provider): `model_for`,
    `native_score_type`, `warm_up`, `aevaluate_many`, `batch_backend` (a provider batch API).

    A subclass that overrides only the synchronous ``evaluate`` also works: its ``aevaluate`` runs
    ``evaluate`` in a worker thread.
    """

    provider_name: ClassVar[str] = "base"
    batch_backend_class: ClassVar[str | None] = None
    """``"module:Class"`` of the provider's batch API backend (`judgekit.batching.batch_api`); None: none."""
    thinking_off_hint: ClassVar[str] = ""
    """How to turn a model's thinking off on this backend, appended to the "ended inside its reasoning" error."""
    _sync_only: ClassVar[bool] = False
    # class-level defaults, so a subclass whose __init__ skips ours (overriding only evaluate) still works
    last_batch_stats: BatchStats | None = None
    _flow_settings: tuple[Any, ...] | None = None
    _limit: AdaptiveLimit
    _gates: LoopLocal[ConcurrencyGate]
    _limiter: RateLimiter | None = None
    _cache_setting: tuple[Any, ...] | None = None
    _cache: JudgeCache | None = None

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config if config is not None else JudgeConfig.from_env(api_type=self.provider_name)
        self.last_batch_stats = None
        """What the most recent `aevaluate_batch` / `evaluate_batch` on this judge did (a `BatchStats`)."""
        self._flow()  # the concurrency limit, its per-loop gates and the rate limiter

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

    def base_urls(self, config: JudgeConfig) -> list[str]:
        """Where requests with ``config`` go (none: an in-process backend). `fail_fast` watches these."""
        return config.base_urls

    async def preflight(self) -> None:
        """Before a batch: check that the endpoint can be reached at all (a TCP connect). When it cannot, the
        batch's requests wait for it and fail at once with "cannot reach" if it does not come back within
        ``fail_fast_after`` seconds (`judgekit.circuit.FailFast`). A no-op without ``fail_fast``."""
        await self._fail_fast().preflight(self.config)

    # -- capabilities (hooks generic code calls; providers override) --------------------------------

    def model_for(self, config: JudgeConfig) -> str | None:
        """The model a call with ``config`` will use (None: not known before the call)."""
        return config.model_name

    def native_score_type(self) -> ScoreType | None:
        """What `JudgeResponse.score` holds for this judge: ``"probability"`` (in [0, 1]), ``"unbounded"``
        (a reward-model scalar), or None (no native score; the reply text is parsed)."""
        return None

    def supports_kind(self, kind: str) -> bool:
        """Whether this backend can judge ``kind`` (a `judgekit.kinds` name). Generic code asks before sending
        work a backend cannot do, e.g. the reward adapter fails a sample without a reference answer instead
        of raising when the backend only checks answers."""
        return True

    def warm_up(self) -> None:
        """Load models / open what the first request needs, ahead of it (a server calls it before serving)."""

    def serving_defaults(self, *, max_batch_size: int) -> dict[str, Any]:
        """Config fields a judge server sets on this judge unless the user set them (default: none). An
        in-process model, say, matches its own batch size to the server's."""
        return {}

    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """A backend's native batch call: one response per request, in order, whatever fails.

        Default: `aevaluate` on each, concurrently within ``max_concurrent``. A backend with a batch endpoint
        (the judge server's ``/batch_judge``) sends them in fewer round trips.
        """
        return await gather_ordered(requests, self.aevaluate, concurrency=self.config.max_concurrent)

    @property
    def supports_batch_api(self) -> bool:
        """Whether ``batch_api=`` works with this judge (OpenAI Batch, Azure batch, Anthropic Message Batches)."""
        return self.batch_backend_class is not None

    def batch_backend(self, config: JudgeConfig) -> BatchBackend | None:
        """The provider's batch API backend for ``config`` (None: the provider has no batch API)."""
        if self.batch_backend_class is None:
            return None
        module, name = self.batch_backend_class.split(":")
        return getattr(importlib.import_module(module), name)(self, config)  # type: ignore[no-any-return]

    def config_for(self, request: JudgeRequest) -> JudgeConfig:
        """The config a request runs with: the judge's, with the fields ``request.config`` sets laid over it.

        Fields the request's config leaves unset (its key, URL, model, ...) come from the judge, so a request
        that only changes ``temperature`` still finds the judge's key. Nested option models are laid over the
        same way, field by field.
        """
        own = request.config
        if own is None or own is self.config:
            return self.config
        return self.config.merged(**_set_fields(own, self.config))

    # -- cache, flow control, price --------------------------------------------------------------

    @property
    def cache(self) -> JudgeCache | None:
        """The reply cache (from ``config.cache``), or None. Assign any `JudgeCache` to share one between
        judges; assign None to turn caching off."""
        config = self.config
        setting = (config.cache, config.cache_size)
        if setting != self._cache_setting:
            self._cache_setting, self._cache = setting, cache_from_config(config)
        return self._cache

    @cache.setter
    def cache(self, value: JudgeCache | None) -> None:
        if value is not None and not (callable(getattr(value, "get", None)) and callable(getattr(value, "put", None))):
            raise ConfigError(f"cache must have get(key) and put(key, response), got {type(value).__name__}", "cache")
        self._cache_setting = (self.config.cache, self.config.cache_size)  # an explicit cache wins over config
        self._cache = value

    def cache_key(self, request: JudgeRequest, config: JudgeConfig | None = None) -> str | None:
        """The cache key of ``request`` (None: not cacheable). Providers adjust `cache_key_data`."""
        data = self.cache_key_data(request, config or self.config_for(request))
        return None if data is None else cache_key(data)

    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
        """What identifies the reply to ``request``; see `judgekit.cache`. Backends that judge the prompt text
        and ignore ``request.task`` drop it here."""
        return request_key_data(self.provider_name, request, config)

    @property
    def concurrency_limit(self) -> AdaptiveLimit:
        """The concurrency this judge allows now (``.allowed``; at most ``max_concurrent``)."""
        self._flow()
        return self._limit

    def _flow(self) -> tuple[LoopLocal[ConcurrencyGate], RateLimiter | None]:
        config = self.config
        settings = (
            config.max_concurrent,
            config.adaptive_concurrency,
            config.requests_per_minute,
            config.tokens_per_minute,
        )
        if settings != self._flow_settings:
            if self._flow_settings is None or settings[:2] != self._flow_settings[:2]:
                limit = AdaptiveLimit(config.max_concurrent, adaptive=config.adaptive_concurrency)
                self._limit = limit
                self._gates = LoopLocal(lambda: ConcurrencyGate(limit))
            if self._flow_settings is None or settings[2:] != self._flow_settings[2:]:
                rpm, tpm = settings[2:]
                self._limiter = RateLimiter(rpm, tpm) if rpm or tpm else None
            self._flow_settings = settings
        return self._gates, self._limiter

    def price(self, model: str | None = None) -> tuple[float, float] | None:
        """USD per million (input, output) tokens: ``config.price_per_million``, else `judgekit.pricing`."""
        if self.config.price_per_million is not None:
            return self.config.price_per_million
        if model is None:
            try:
                model = self.model_for(self.config)
            except ConfigError:
                model = None
        return price_for(model)

    def _cost(self, response: JudgeResponse, config: JudgeConfig) -> float | None:
        price = config.price_per_million or price_for(response.model_used) or price_for(config.model_name)
        return cost_usd(response.usage, price)

    # -- the request path ----------------------------------------------------------------------

    async def aevaluate(self, request: JudgeRequest) -> JudgeResponse:
        """Judge one request. Never raises for a backend failure; a `ConfigError` propagates."""
        config = self.config_for(request)
        cache = self.cache if config.cache is not False else None  # a request may opt out (cache=False)
        key = None
        if cache is not None:
            key = self.cache_key(request, config)
            if key is not None:
                hit = _cache_call(cache.get, key)
                if hit is not None:
                    return hit
        if self._sync_only:
            response = await self._evaluate_in_thread(request)
        else:
            response = await self._request(request, config)
        if response.success:
            if response.cost_usd is None:
                response.cost_usd = self._cost(response, config)
            if key is not None:
                _cache_call(cache.put, key, response)  # type: ignore[union-attr]
        return response

    async def _request(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        """Send ``request`` through `_call`; a failure becomes ``success=False``."""
        started = time.perf_counter()
        tries = _Tries()
        estimate = estimate_prompt_tokens(request.messages) if self._flow()[1] is not None else 0

        async def send() -> JudgeResponse:
            return self._final_answer(await self._send(request, config), config)

        try:
            response = await self._call(send, config, estimate_tokens=estimate, tries=tries)
        except ProviderError as exc:
            return self._failure(exc, config, started, tries.count)
        except ConfigError:
            raise
        except Exception as exc:  # a bug or an unforeseen reply shape: still an honest failure
            logger.opt(exception=exc).error("judgekit: unexpected error in {}", type(self).__name__)
            return self._failure(exc, config, started, tries.count)
        response.latency_s = time.perf_counter() - started
        response.attempts = tries.count
        response.provider = response.provider or self.provider_name
        return response

    def _final_answer(self, response: JudgeResponse, config: JudgeConfig) -> JudgeResponse:
        """The reply with its reasoning split off, the same way for every backend: ``content`` is the final
        answer, ``reasoning`` the ``<think>``/``<thinking>``/``<reasoning>`` blocks and the backend's own
        reasoning (``reasoning_content``, Claude's thinking). A reply that ended inside its reasoning is a
        `ProviderResponseError` (not retried: the same request would be cut off again)."""
        if not response.success or "<" not in response.content:
            return response
        answer, reasoning = split_reasoning(response.content, response.reasoning)
        if not answer and reasoning:
            raise ProviderResponseError(
                f"the reply ended inside its reasoning (finish_reason={response.finish_reason}), with no answer "
                f"after it; raise max_tokens or turn the model's thinking off{self.thinking_off_hint}",
                provider=self.provider_name,
                model=response.model_used or config.model_name,
                retryable=False,
            )
        response.content, response.reasoning = answer, reasoning
        return response

    async def _call(
        self,
        send: Callable[[], Awaitable[T]],
        config: JudgeConfig,
        *,
        estimate_tokens: int = 0,
        tries: _Tries | None = None,
    ) -> T:
        """The one request path: run ``send()`` inside a concurrency slot and the rate limits, with the
        per-attempt ``timeout``, retrying what `should_retry` allows (``num_retries`` times, backoff with jitter,
        ``Retry-After`` honoured). Returns what ``send`` returns; raises the last `ProviderError`.

        ``estimate_tokens`` is the prompt's size for the tokens-per-minute limit; ``tries`` counts attempts.
        """
        tries = tries or _Tries()
        backoff: _Backoff | None = None
        fail_fast = self._fail_fast()
        while True:
            tries.count += 1
            try:
                return await fail_fast.attempt(lambda: self._attempt(send, config, estimate_tokens), config)
            except ProviderError as exc:
                if tries.count > config.num_retries or not self.should_retry(exc):
                    raise
                self._log_retry(exc, tries.count, config)
                backoff = backoff or _Backoff(config)
                await asyncio.sleep(backoff(exc, tries.count))

    async def _attempt(self, send: Callable[[], Awaitable[T]], config: JudgeConfig, estimate_tokens: int) -> T:
        """One attempt: a concurrency slot, a rate-limit slot, then ``send()`` under the timeout."""
        gate, limit, limiter = self._gate()
        async with gate:
            booked = await limiter.wait(estimate_tokens) if limiter is not None else 0.0
            sent = time.monotonic()
            result: Any = None
            try:
                async with _deadline(config.timeout):
                    result = await send()
            except TimeoutError:
                raise JudgeTimeoutError(
                    f"no reply within {config.timeout:g}s", provider=self.provider_name, model=config.model_name
                ) from None
            except RateLimitError:
                limit.on_rate_limit(sent)
                raise
            finally:
                if limiter is not None:
                    limiter.settle(booked, getattr(result, "usage", None), estimate_tokens)
        limit.on_success()
        return result  # type: ignore[no-any-return]

    def _gate(self) -> tuple[ConcurrencyGate, AdaptiveLimit, RateLimiter | None]:
        """The concurrency slot to take: the running batch's own when it set another bound, else the judge's."""
        gates, limiter = self._flow()
        scope = current_batch()
        if scope is None or scope.concurrency == self.config.max_concurrent:
            return gates.get(), self._limit, limiter
        gate, limit = scope.gate_for(self, self.config.adaptive_concurrency)
        return gate, limit, limiter

    def _fail_fast(self) -> FailFast:
        """The attempt stage of ``fail_fast`` (`judgekit.circuit.FailFast`): one circuit per endpoint."""
        stage = self.__dict__.get("_fail_fast_stage")  # not made in __init__: a subclass may skip ours
        if stage is None:
            stage = self.__dict__["_fail_fast_stage"] = FailFast(self)
        return stage  # type: ignore[no-any-return]

    def _log_retry(self, exc: BaseException | None, attempt: int, config: JudgeConfig) -> None:
        status = getattr(exc, "status_code", None)
        RETRY_WARNINGS.warn(
            f"{self.provider_name} retries after {type(exc).__name__}{f' (HTTP {status})' if status else ''}",
            f"judgekit: {self.provider_name} attempt {attempt}/{config.num_retries + 1} failed: {exc}; retrying",
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
        config = self.config_for(request)
        started = time.perf_counter()
        try:
            return self._final_answer(await asyncio.to_thread(self.evaluate, request), config)
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
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
        batch_api: bool | BatchAPIOptions | dict[str, Any] | None = False,
    ) -> list[JudgeResponse]:
        """Judge many requests concurrently; one response per request, in input order, whatever fails.

        ``max_concurrency`` is the number of this batch's requests in flight: when it differs from the judge's
        ``max_concurrent`` the batch gets its own limit of that size (above or below ``max_concurrent``, and
        halved on a 429 like the judge's); when not given the batch shares ``max_concurrent`` with every other
        call on the judge. ``progress`` shows a tqdm bar with failures, cache hits and cost. Once ``max_cost``
        (USD) or ``max_tokens_total`` is spent, the remaining requests are not sent: they come back as failures
        with ``error_type`` ``"BudgetExceeded"``. `last_batch_stats` then holds the batch's `BatchStats`.

        ``batch_api`` (True, a dict or `~judgekit.BatchAPIOptions`) sends them through the provider's batch API
        instead: half the price, answers within 24 hours, resumable with a state file; the budget is then checked
        from an estimate before submitting (`judgekit.batching.batch_api`, docs/batch-api.md).
        """
        self.check_budget(max_cost, max_tokens_total)
        if batch_api:
            from judgekit.batching.batch_api import batch_api_options, run_batch_api

            results, stats = await run_batch_api(
                self, requests, batch_api_options(batch_api), progress=progress, max_cost=max_cost,
                max_tokens_total=max_tokens_total,
            )  # fmt: skip
            self.last_batch_stats = stats
            return results
        await self.preflight()
        results, stats = await run_batch(
            requests,
            self.aevaluate,
            concurrency=max_concurrency or self.config.max_concurrent,
            progress=progress,
            skipped=lambda request, reason: self.budget_failure(reason, self.config_for(request)),
            max_cost=max_cost,
            max_tokens_total=max_tokens_total,
        )
        self.last_batch_stats = stats
        return results

    def evaluate_batch(
        self,
        requests: Sequence[JudgeRequest],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
        batch_api: bool | BatchAPIOptions | dict[str, Any] | None = False,
    ) -> list[JudgeResponse]:
        """Synchronous twin of `aevaluate_batch`."""
        return run_sync(
            self.aevaluate_batch(
                requests,
                max_concurrency=max_concurrency,
                progress=progress,
                max_cost=max_cost,
                max_tokens_total=max_tokens_total,
                batch_api=batch_api,
            )
        )

    def check_budget(self, max_cost: float | None, max_tokens_total: int | None) -> None:
        """Validate a batch budget: raises `ConfigError` naming the argument."""
        if max_cost is not None:
            if not max_cost >= 0:
                raise ConfigError(f"max_cost must be a non-negative amount of USD, got {max_cost!r}", "max_cost")
            if self.price() is None:
                raise ConfigError(
                    f"max_cost: no price is known for model {self.config.model_name!r}; "
                    "set price_per_million=(input, output) USD per million tokens",
                    "max_cost",
                )
        if max_tokens_total is not None and not max_tokens_total >= 1:
            raise ConfigError(f"max_tokens_total must be at least 1, got {max_tokens_total!r}", "max_tokens_total")

    def budget_failure(self, reason: str, config: JudgeConfig | None = None) -> JudgeResponse:
        """The response of a batch item not sent because the batch's budget was spent."""
        config = config or self.config
        return JudgeResponse(
            success=False,
            error_message=f"{reason}; not sent",
            error_type=BUDGET_EXCEEDED,
            model_used=config.model_name or "",
            provider=self.provider_name,
        )

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


def _cache_call(method: Any, *args: Any) -> Any:
    """A cache that fails (a locked or full disk) costs a hit or a store, never the judgement."""
    try:
        return method(*args)
    except Exception as exc:
        logger.warning("judgekit: cache {} failed: {}: {}", method.__name__, type(exc).__name__, exc)
        return None


def _set_fields(own: BaseModel, base: BaseModel) -> dict[str, Any]:
    """The fields ``own`` sets, nested models laid over ``base``'s (so ``torch_mode`` alone keeps the rest)."""
    update: dict[str, Any] = {}
    for name in own.model_fields_set:
        value, current = getattr(own, name), getattr(base, name, None)
        if isinstance(value, BaseModel) and type(value) is type(current):
            value = current.model_copy(update=_set_fields(value, current))  # type: ignore[union-attr]
        update[name] = value
    return update


class _Tries:
    """How many attempts `JudgeInterface._call` made."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


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

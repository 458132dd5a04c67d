"""`Pipeline`: the one request path between a judging request and a provider's single attempt.

A provider (a `judgekit.JudgeInterface`) sends one attempt on the wire and answers capability questions. The
pipeline composed around it does everything else, in this order for `Pipeline.aevaluate`:

1. the request's config (`config_for`: the judge's, with the fields the request sets laid over it);
2. the cache (``config.cache``): a hit is the answer;
3. the retry loop (`call`): ``num_retries`` more tries of what the provider's ``should_retry`` allows, with
   exponential backoff and jitter (``Retry-After`` honoured);
4. each attempt runs through the attempt policies (`AttemptPolicy`, e.g. a circuit breaker), then takes a
   concurrency slot (the judge's adaptive limit, or the batch's own: `BatchScope`), a rate-limit slot, and
   sends under the per-attempt ``timeout``;
5. the reply's reasoning is split off its answer (`final_answer`);
6. a `ProviderError` becomes ``JudgeResponse(success=False, error_message=...)`` (`failure`); latency, attempts
   and cost are filled in, and a success is stored in the cache.

Per-batch settings travel with the call as a `BatchScope`, never through a context variable. Cross-cutting
behaviours wrap a pipeline (`judgekit.wrappers`); assign the result to ``judge.pipeline`` and every path
(``judge.evaluate``, `SimplifiedJudge`, batches, the CLI) goes through it.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from loguru import logger
from pydantic import BaseModel

from judgekit._deadline import deadline
from judgekit._logtally import RETRY_WARNINGS
from judgekit._ratelimit import AdaptiveLimit, BatchScope, ConcurrencyGate, RateLimiter, estimate_prompt_tokens
from judgekit._sync import LoopLocal, run_sync
from judgekit.cache import JudgeCache, cache_from_config, cache_key
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeTimeoutError, ProviderError, ProviderResponseError, RateLimitError
from judgekit.parsers import split_reasoning
from judgekit.pricing import cost_usd, price_for
from judgekit.stages import AttemptPolicy, Provider
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["BUDGET_EXCEEDED", "AttemptPolicy", "BatchScope", "Pipeline", "Provider", "Tries"]

T = TypeVar("T")

BUDGET_EXCEEDED = "BudgetExceeded"
"""``error_type`` of the items a batch did not send because its budget was spent."""


class Tries:
    """How many attempts `Pipeline.call` made (pass one in to read it after a failure)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class Pipeline:
    """The request path around one provider: cache, limits, retries, timeouts, reasoning split, failures, cost.

    ``Pipeline(provider)``; a `judgekit.JudgeInterface` makes its own on first use (``judge.pipeline``). The
    provider's ``config`` is read at every call, so a judge whose config is replaced follows it.
    """

    def __init__(self, provider: Provider, *, policies: Sequence[AttemptPolicy] = ()) -> None:
        from judgekit.circuit import FailFast  # it is an AttemptPolicy: imported here, not in a cycle

        self.provider = provider
        self.policies: list[AttemptPolicy] = list(policies)
        """Attempt-level stages (`AttemptPolicy`), outermost first."""
        self.fail_fast = FailFast(provider)
        """The innermost attempt stage, next to the endpoint: ``config.fail_fast``'s circuit of each endpoint
        (`judgekit.circuit.FailFast`)."""
        self._flow_settings: tuple[Any, ...] | None = None
        self._limit: AdaptiveLimit
        self._gates: LoopLocal[ConcurrencyGate]
        self._limiter: RateLimiter | None = None
        self._cache_setting: tuple[Any, ...] | None = None
        self._cache: JudgeCache | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.provider!r})"

    @property
    def config(self) -> JudgeConfig:
        return self.provider.config

    @property
    def provider_name(self) -> str:
        return self.provider.provider_name

    def config_for(self, request: JudgeRequest) -> JudgeConfig:
        """The config a request runs with: the judge's, with the fields ``request.config`` sets laid over it.

        Fields the request's config leaves unset (its key, URL, model, ...) come from the judge, so a request
        that only changes ``temperature`` still finds the judge's key. Nested option models are laid over the
        same way, field by field.
        """
        own, base = request.config, self.config
        if own is None or own is base:
            return base
        return base.merged(**_set_fields(own, base))

    # -- one request ---------------------------------------------------------------------------

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        """Judge one request. Never raises for a backend failure; a `ConfigError` propagates. ``scope``: the
        batch this request belongs to (its own concurrency bound), if any."""
        config = self.config_for(request)
        cached = config.cache is not False and self.cache is not None  # a request may opt out (cache=False)
        key = self.cache_key(request, config) if cached else None
        if key is not None:
            hit = self.cache_get(key)
            if hit is not None:
                return hit
        response = await self.request(request, config, scope=scope)
        if response.success:
            if response.cost_usd is None:
                _fill(response, cost_usd=self.cost(response, config))
            if key is not None:
                self.cache_put(key, response)
        return response

    def evaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        """Synchronous twin of `aevaluate`."""
        return run_sync(self.aevaluate(request, scope=scope))

    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """The provider's native batch call (`judgekit.JudgeInterface.aevaluate_many`): one response per
        request, in order."""
        return await self.provider.aevaluate_many(requests)

    async def request(
        self, request: JudgeRequest, config: JudgeConfig, *, scope: BatchScope | None = None
    ) -> JudgeResponse:
        """Send ``request`` with ``config`` through `call` (no cache); a failure becomes ``success=False``."""
        started = time.perf_counter()
        tries = Tries()
        estimate = estimate_prompt_tokens(request.messages) if self._flow()[1] is not None else 0
        send = functools.partial(self.provider.send, request, config)
        try:
            reply = await self.call(send, config, estimate_tokens=estimate, tries=tries, scope=scope)
            if not isinstance(reply, JudgeResponse):  # checked after the attempt: neither is worth a retry
                raise ProviderResponseError(
                    f"{type(self.provider).__name__} returned {type(reply).__name__}, not a JudgeResponse",
                    provider=self.provider_name,
                    retryable=False,
                )
            response = self.final_answer(reply, config)
        except ProviderError as exc:
            return self.failure(exc, config, started, tries.count)
        except ConfigError:
            raise
        except Exception as exc:  # a bug or an unforeseen reply shape: still an honest failure
            logger.opt(exception=exc).error("judgekit: unexpected error in {}", type(self.provider).__name__)
            return self.failure(exc, config, started, tries.count)
        _fill(
            response,
            latency_s=time.perf_counter() - started,
            attempts=tries.count,
            provider=response.provider or self.provider_name,
        )
        return response

    def final_answer(self, response: JudgeResponse, config: JudgeConfig) -> JudgeResponse:
        """The reply with its reasoning split off, the same way for every backend: ``content`` is the final
        answer, ``reasoning`` the ``<think>``/``<thinking>``/``<reasoning>`` blocks and the backend's own
        reasoning (``reasoning_content``, Claude's thinking). A reply that ended inside its reasoning is a
        `ProviderResponseError` (not retried: the same request would end there again)."""
        if not response.success or "<" not in response.content:
            return response
        answer, reasoning = split_reasoning(response.content, response.reasoning)
        if not answer and reasoning:
            hint = self.provider.thinking_off_hint
            if response.finish_reason == "length":
                advice = f"it ran out of tokens: raise max_tokens or turn the model's thinking off{hint}"
            else:  # the model ended its turn mid-thought: more tokens would end it at the same place
                advice = (
                    "the model stopped inside its reasoning, so a larger max_tokens will not help: turn the "
                    f"model's thinking off{hint}, or check the chat template and the stop sequences (a stop "
                    "sequence or end-of-turn token inside the reasoning ends the reply there)"
                )
            raise ProviderResponseError(
                f"the reply ended inside its reasoning (finish_reason={response.finish_reason}), with no answer "
                f"after it; {advice}",
                provider=self.provider_name,
                model=response.model_used or config.model_name,
                retryable=False,
            )
        response.content, response.reasoning = answer, reasoning
        return response

    def failure(self, exc: Exception, config: JudgeConfig, started: float, attempts: int) -> JudgeResponse:
        """The ``success=False`` response for ``exc`` (the message redacted of secrets)."""
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

    # -- the retry loop and one attempt ---------------------------------------------------------

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        config: JudgeConfig,
        *,
        estimate_tokens: int = 0,
        tries: Tries | None = None,
        scope: BatchScope | None = None,
    ) -> T:
        """Run ``send()`` as attempts: each through the `policies` and `fail_fast`, inside a concurrency slot
        and the rate limits, under the per-attempt ``timeout``; retrying what ``should_retry`` allows (``num_retries``
        times, backoff with jitter, ``Retry-After`` honoured). Returns what ``send`` returns; raises the last
        `ProviderError`. For any round trip that should share the judge's limits (a batch API upload, a
        native batch call); ``estimate_tokens`` is the prompt's size for the tokens-per-minute limit."""
        tries = tries or Tries()
        backoff: _Backoff | None = None
        attempt = functools.partial(self._attempt, send, config, estimate_tokens, scope)
        attempt = functools.partial(self.fail_fast.attempt, attempt, config)
        for policy in reversed(self.policies):
            attempt = functools.partial(policy.attempt, attempt, config)
        while True:
            tries.count += 1
            try:
                return await attempt()
            except ProviderError as exc:
                if tries.count > config.num_retries or not self.provider.should_retry(exc):
                    raise
                status = f" (HTTP {exc.status_code})" if exc.status_code else ""
                RETRY_WARNINGS.warn(  # the first of a kind is logged, the repeats counted
                    f"{self.provider_name} retries after {type(exc).__name__}{status}",
                    f"judgekit: {self.provider_name} attempt {tries.count}/{config.num_retries + 1} failed: {exc}; "
                    "retrying",
                )
                backoff = backoff or _Backoff(config)
                await asyncio.sleep(backoff(exc, tries.count))

    async def _attempt(
        self, send: Callable[[], Awaitable[T]], config: JudgeConfig, estimate_tokens: int, scope: BatchScope | None
    ) -> T:
        """One attempt: a concurrency slot, a rate-limit slot, then ``send()`` under the timeout."""
        gates, limiter = self._flow()
        if scope is None or scope.concurrency == self.config.max_concurrent:
            gate, limit = gates.get(), self._limit
        else:  # the batch asked for another bound: its own gate
            gate, limit = scope.gate_for(self, self.config.adaptive_concurrency)
        async with gate:
            booked = await limiter.wait(estimate_tokens) if limiter is not None else 0.0
            sent = time.monotonic()
            result: Any = None
            try:
                async with deadline(self.provider.attempt_timeout(config)):
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

    # -- flow control ---------------------------------------------------------------------------

    @property
    def concurrency_limit(self) -> AdaptiveLimit:
        """The concurrency allowed now (``.allowed``; at most ``max_concurrent``)."""
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

    # -- cache ----------------------------------------------------------------------------------

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
        """The cache key of ``request`` (None: not cacheable). Providers adjust ``cache_key_data``."""
        data = self.provider.cache_key_data(request, config or self.config_for(request))
        return None if data is None else cache_key(data)

    def cache_get(self, key: str) -> JudgeResponse | None:
        """The cached reply under ``key``, or None. A cache that fails (a locked or full disk) costs a hit,
        never the judgement."""
        return _guarded(self.cache, "get", key)

    def cache_put(self, key: str, response: JudgeResponse) -> None:
        """Store ``response`` under ``key``; a failing cache costs the store only."""
        _guarded(self.cache, "put", key, response)

    # -- price and budgets ------------------------------------------------------------------------

    def price(self, model: str | None = None) -> tuple[float, float] | None:
        """USD per million (input, output) tokens: ``config.price_per_million``, else `judgekit.pricing`."""
        if self.config.price_per_million is not None:
            return self.config.price_per_million
        if model is None:
            try:
                model = self.provider.model_for(self.config)
            except ConfigError:
                model = None
        return price_for(model)

    def cost(self, response: JudgeResponse, config: JudgeConfig) -> float | None:
        """What ``response`` cost in USD (None: no price known)."""
        price = config.price_per_million or price_for(response.model_used) or price_for(config.model_name)
        return cost_usd(response.usage, price)

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

    async def preflight(self) -> None:
        """Before a batch: each policy's cheap check (`FailFast`: a TCP connect to the endpoint; when it fails,
        the batch's requests wait for it and fail at once with "cannot reach" after ``fail_fast_after``). A
        provider that is not configured (no key) is not probed: its own error ("no API key; set ...") comes at
        once on the first request, not a "cannot reach" after ``fail_fast_after``."""
        if not self.provider.is_available():
            return
        for policy in (*self.policies, self.fail_fast):
            await policy.preflight(self.config)

    def scope(self, max_concurrency: int | None) -> BatchScope | None:
        """The `BatchScope` of a batch asking for ``max_concurrency`` requests in flight (None: the judge's
        own ``max_concurrent`` holds, shared with every other call)."""
        return None if max_concurrency is None else BatchScope(max_concurrency)

    async def aclose(self) -> None:
        """Release the provider's connections on the running loop."""
        await self.provider.aclose()


def _fill(response: JudgeResponse, **values: Any) -> None:
    """Set fields the pipeline computed (a float, an int, a str) on ``response`` at once: what pydantic's
    ``__setattr__`` does for a model without ``validate_assignment``, without its per-attribute cost."""
    response.__dict__.update(values)
    response.__pydantic_fields_set__.update(values)


def _guarded(cache: Any, method: str, *args: Any) -> Any:
    """A cache that fails (a locked or full disk) costs a hit or a store, never the judgement."""
    if cache is None:
        return None
    try:
        return getattr(cache, method)(*args)
    except Exception as exc:
        logger.warning("judgekit: cache {} failed: {}: {}", method, type(exc).__name__, exc)
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

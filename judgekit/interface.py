"""`JudgeInterface`: the provider contract (one attempt on the wire, and the capability hooks generic code asks).

Everything around the attempt (cache, limits, retries, timeouts, the reasoning split, failures, cost) is the
`judgekit.pipeline.Pipeline` each judge makes on first use (``judge.pipeline``); the request methods here
(`aevaluate`, `evaluate_batch`, ``cache``, ...) are thin delegates to it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from judgekit._ratelimit import AdaptiveLimit
from judgekit._sync import run_sync
from judgekit.batching.engine import BatchStats, gather_ordered
from judgekit.batching.requests import evaluate_requests
from judgekit.cache import JudgeCache, request_key_data
from judgekit.config import JudgeConfig
from judgekit.errors import ProviderError
from judgekit.pipeline import Pipeline
from judgekit.provider_registry import ProviderEnv
from judgekit.types import JudgeRequest, JudgeResponse

if TYPE_CHECKING:
    from judgekit.batching.batch_api import BatchAPIOptions, BatchBackend

__all__ = ["JudgeInterface", "ScoreType"]

ScoreType = Literal["probability", "unbounded"]
"""What `JudgeResponse.score` means: a bounded probability in [0, 1], or an unbounded reward-model scalar."""


class JudgeInterface:
    """A judge backend: the provider contract. Subclasses implement ``async _send(request, config)`` (also
    reachable as `send`): one attempt on the wire, raising `ProviderError` subclasses on failure.

    The request path around that attempt is the judge's `pipeline` (`judgekit.pipeline.Pipeline`): cache,
    concurrency and rate limits, per-attempt ``timeout``, retries of what `should_retry` allows (backoff with
    jitter, ``Retry-After`` honoured), the reasoning split, failures as ``JudgeResponse(success=False)`` and
    cost. `aevaluate`, `evaluate`, `aevaluate_batch`, `evaluate_batch`, ``cache`` and `concurrency_limit`
    delegate to it; assign a wrapped pipeline (`judgekit.wrappers`) to ``judge.pipeline`` to change them all.

    Capabilities generic code may ask any judge about (override them in a provider): `should_retry`,
    `attempt_timeout`, `model_for`, `native_score_type`, `supports_kind`, `warm_up`, `serving_defaults`,
    `aevaluate_many`, `batch_backend` (a provider batch API), `cache_key_data`, ``thinking_off_hint``.

    A subclass that overrides only the synchronous ``evaluate`` (the design documents' example) also works:
    its ``evaluate`` becomes its one attempt (run in a worker thread), and ``judge.evaluate`` goes through the
    pipeline, so it gains the retries (raise a retryable `ProviderError`), limits and cache.
    """

    provider_name: ClassVar[str] = "base"
    env: ClassVar[ProviderEnv | None] = None
    """The environment variables the provider reads (key, URL, API version, model) and its defaults, read by
    `JudgeConfig.from_env` for its ``api_type`` (`judgekit.provider_registry`); built-ins declare theirs in
    the registry, so that declaring imports no SDK."""
    batch_backend_class: ClassVar[str | None] = None
    """``"module:Class"`` of the provider's batch API backend (`judgekit.batching.batch_api`); None: none."""
    thinking_off_hint: ClassVar[str] = ""
    """How to turn a model's thinking off on this backend, appended to the "ended inside its reasoning" error."""
    _evaluate_attempt: ClassVar[Any] = None  # a sync-only subclass's own evaluate: its one attempt
    # class-level default, so a subclass whose __init__ skips ours (overriding only evaluate) still works
    last_batch_stats: BatchStats | None = None

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config if config is not None else JudgeConfig.from_env(api_type=self.provider_name)
        self.last_batch_stats = None
        """What the most recent `aevaluate_batch` / `evaluate_batch` on this judge did (a `BatchStats`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("evaluate")
        if own is not None and cls._send is JudgeInterface._send and cls.aevaluate is JudgeInterface.aevaluate:
            cls._evaluate_attempt = own  # the subclass's evaluate is one attempt; evaluate runs the pipeline
            cls.evaluate = JudgeInterface.evaluate  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model_name!r}, base_url={self.config.base_url!r})"

    # -- what providers implement -------------------------------------------------------------

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        """Send one attempt to the backend. Raise `ProviderError` subclasses on failure."""
        if self._evaluate_attempt is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _send() or evaluate()")
        return await asyncio.to_thread(self._evaluate_attempt, request)  # type: ignore[no-any-return]

    def send(self, request: JudgeRequest, config: JudgeConfig) -> Awaitable[JudgeResponse]:
        """One attempt on the wire (`_send`), no retry, cache or limit: what the pipeline calls."""
        return self._send(request, config)

    def should_retry(self, exc: ProviderError) -> bool:
        """Whether a failed attempt is worth retrying. Default: the exception's ``retryable`` flag."""
        return exc.retryable

    def attempt_timeout(self, config: JudgeConfig) -> float | None:
        """The seconds the pipeline gives one attempt (``config.timeout``); None: the provider keeps the time
        itself (an in-process model counts from the start of the batch that runs the request, not its queueing;
        it raises `TimeoutError`, which the pipeline reports as a `JudgeTimeoutError`)."""
        return config.timeout

    def is_available(self) -> bool:
        """Whether this judge is configured well enough to be called (e.g. it has a key)."""
        return True

    async def aclose(self) -> None:
        """Release connections held on the running loop."""

    def base_urls(self, config: JudgeConfig) -> list[str]:
        """Where requests with ``config`` go (none: an in-process backend): the endpoints ``fail_fast``
        watches (`judgekit.circuit.FailFast`)."""
        return config.base_urls

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

        Default: the pipeline on each, concurrently within ``max_concurrent``. A backend with a batch endpoint
        (the judge server's ``/batch_judge``) sends them in fewer round trips.
        """
        return await gather_ordered(requests, self.pipeline.aevaluate, concurrency=self.config.max_concurrent)

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

    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
        """What identifies the reply to ``request``; see `judgekit.cache`. Backends that judge the prompt text
        and ignore ``request.task`` drop it here."""
        return request_key_data(self.provider_name, request, config)

    # -- the pipeline, and the request methods that delegate to it ------------------------------------

    @property
    def pipeline(self) -> Pipeline:
        """This judge's request path (made on first use). Assign a wrapper (`judgekit.wrappers`) to change
        every call on the judge."""
        pipeline = self.__dict__.get("_pipeline")
        if pipeline is None:
            pipeline = self.__dict__["_pipeline"] = Pipeline(self)
        return pipeline  # type: ignore[no-any-return]

    @pipeline.setter
    def pipeline(self, value: Pipeline) -> None:
        self.__dict__["_pipeline"] = value

    def config_for(self, request: JudgeRequest) -> JudgeConfig:
        """The config a request runs with (`Pipeline.config_for`)."""
        return self.pipeline.config_for(request)

    @property
    def cache(self) -> JudgeCache | None:
        """The reply cache (from ``config.cache``), or None. Assign any `JudgeCache` to share one between
        judges; assign None to turn caching off."""
        return self.pipeline.cache

    @cache.setter
    def cache(self, value: JudgeCache | None) -> None:
        self.pipeline.cache = value

    def cache_key(self, request: JudgeRequest, config: JudgeConfig | None = None) -> str | None:
        """The cache key of ``request`` (None: not cacheable). Providers adjust `cache_key_data`."""
        return self.pipeline.cache_key(request, config)

    @property
    def concurrency_limit(self) -> AdaptiveLimit:
        """The concurrency this judge allows now (``.allowed``; at most ``max_concurrent``)."""
        return self.pipeline.concurrency_limit

    def price(self, model: str | None = None) -> tuple[float, float] | None:
        """USD per million (input, output) tokens: ``config.price_per_million``, else `judgekit.pricing`."""
        return self.pipeline.price(model)

    def check_budget(self, max_cost: float | None, max_tokens_total: int | None) -> None:
        """Validate a batch budget: raises `ConfigError` naming the argument."""
        self.pipeline.check_budget(max_cost, max_tokens_total)

    def budget_failure(self, reason: str, config: JudgeConfig | None = None) -> JudgeResponse:
        """The response of a batch item not sent because the batch's budget was spent."""
        return self.pipeline.budget_failure(reason, config)

    async def aevaluate(self, request: JudgeRequest) -> JudgeResponse:
        """Judge one request through the pipeline. Never raises for a backend failure; a `ConfigError`
        propagates."""
        return await self.pipeline.aevaluate(request)

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
        (`judgekit.batching.requests.evaluate_requests` over the judge's pipeline.)
        """
        results, stats = await evaluate_requests(
            self.pipeline,
            requests,
            max_concurrency=max_concurrency,
            progress=progress,
            max_cost=max_cost,
            max_tokens_total=max_tokens_total,
            batch_api=batch_api,
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

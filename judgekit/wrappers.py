"""Cross-cutting behaviours as wrappers around a `judgekit.pipeline.Pipeline` (as pydantic-ai wraps models).

A wrapper is a pipeline that holds another (``inner``) and passes every call on, changing the ones it is about.
Install one on a judge and every path (``judge.evaluate``, `judgekit.SimplifiedJudge`, batches, the CLI)
goes through it::

    judge.pipeline = FallbackPipeline(judge.pipeline, backup.pipeline)

- `PipelineWrapper`: the base; subclass it and override `aevaluate` (and `aevaluate_many` if it matters).
- `FallbackPipeline`: a failed request is sent to the next judge.
- `SharedConcurrency`: several judges share one bound on requests in flight (`SharedLimit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from judgekit._ratelimit import AdaptiveLimit, ConcurrencyGate
from judgekit._sync import LoopLocal
from judgekit.cache import JudgeCache
from judgekit.circuit import FailFast
from judgekit.config import JudgeConfig
from judgekit.pipeline import BUDGET_EXCEEDED, AttemptPolicy, BatchScope, Pipeline, Provider, Tries
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["FallbackPipeline", "PipelineWrapper", "SharedConcurrency", "SharedLimit"]

T = TypeVar("T")


class PipelineWrapper(Pipeline):
    """A pipeline that passes everything on to ``inner``; subclasses override what they change.

    The inner pipeline keeps the state (cache, limits, policies); the wrapper adds behaviour around its calls.
    Wrappers nest: ``Outer(Inner(judge.pipeline))``.
    """

    def __init__(self, inner: Pipeline) -> None:  # no super().__init__: ``inner`` holds the state
        self.inner = inner

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    @property  # type: ignore[override]
    def provider(self) -> Provider:
        return self.inner.provider

    @property  # type: ignore[override]
    def policies(self) -> list[AttemptPolicy]:
        return self.inner.policies

    @property  # type: ignore[override]
    def fail_fast(self) -> FailFast:
        return self.inner.fail_fast

    async def preflight(self) -> None:
        await self.inner.preflight()

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        return await self.inner.aevaluate(request, scope=scope)

    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        return await self.inner.aevaluate_many(requests)

    async def request(
        self, request: JudgeRequest, config: JudgeConfig, *, scope: BatchScope | None = None
    ) -> JudgeResponse:
        return await self.inner.request(request, config, scope=scope)

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        config: JudgeConfig,
        *,
        estimate_tokens: int = 0,
        tries: Tries | None = None,
        scope: BatchScope | None = None,
    ) -> T:
        return await self.inner.call(send, config, estimate_tokens=estimate_tokens, tries=tries, scope=scope)

    def final_answer(self, response: JudgeResponse, config: JudgeConfig) -> JudgeResponse:
        return self.inner.final_answer(response, config)

    def failure(self, exc: Exception, config: JudgeConfig, started: float, attempts: int) -> JudgeResponse:
        return self.inner.failure(exc, config, started, attempts)

    @property
    def concurrency_limit(self) -> AdaptiveLimit:
        return self.inner.concurrency_limit

    @property
    def cache(self) -> JudgeCache | None:
        return self.inner.cache

    @cache.setter
    def cache(self, value: JudgeCache | None) -> None:
        self.inner.cache = value

    def cache_key(self, request: JudgeRequest, config: JudgeConfig | None = None) -> str | None:
        return self.inner.cache_key(request, config)

    def cache_get(self, key: str) -> JudgeResponse | None:
        return self.inner.cache_get(key)

    def cache_put(self, key: str, response: JudgeResponse) -> None:
        self.inner.cache_put(key, response)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _worth_another(response: JudgeResponse) -> bool:
    """The default fallback rule: a failure, except a batch's spent budget (another judge would spend more)."""
    return not response.success and response.error_type != BUDGET_EXCEEDED


class FallbackPipeline(PipelineWrapper):
    """Send a request to ``fallbacks`` in turn while the answer is a failure (after the inner pipeline's own
    retries). ``when(response)`` decides whether a response calls for the next judge (default: it failed, and
    not for a spent budget). When every judge fails, the last failure is returned, its message naming each.

    A request's own config keeps only the call's changes (temperature, max_tokens, ...) on the next judge;
    its key, URL and model are that judge's own. A provider's native batch call (`aevaluate_many`) is passed
    on as it is.
    """

    def __init__(
        self, inner: Pipeline, *fallbacks: Pipeline, when: Callable[[JudgeResponse], bool] = _worth_another
    ) -> None:
        super().__init__(inner)
        if not fallbacks:
            raise ValueError("FallbackPipeline needs at least one fallback pipeline")
        self.fallbacks = fallbacks
        self.when = when

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        response = await self.inner.aevaluate(request, scope=scope)
        failures: list[str] = []
        for fallback in self.fallbacks:
            if not self.when(response):
                return response
            failures.append(f"{response.provider or self.provider_name}: {response.error_message}")
            response = await fallback.aevaluate(_for_judge(request, self.config, fallback.config), scope=scope)
        if not response.success and failures:
            response.error_message = "; ".join([*failures, f"{response.provider}: {response.error_message}"])
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
        for fallback in self.fallbacks:
            await fallback.aclose()


def _for_judge(request: JudgeRequest, primary: JudgeConfig, other: JudgeConfig) -> JudgeRequest:
    """``request`` for another judge: its config reduced to what the call changed from ``primary``."""
    own = request.config
    if own is None or own is primary:
        return request if own is None else request.model_copy(update={"config": None})
    changed = {
        name: getattr(own, name) for name in own.model_fields_set if getattr(own, name) != getattr(primary, name)
    }
    return request.model_copy(update={"config": other.merged(**changed) if changed else None})


class SharedLimit:
    """A bound on requests in flight shared by every `SharedConcurrency` wrapper given it (judges on one
    endpoint, or one account's quota)."""

    def __init__(self, max_concurrent: int) -> None:
        self.limit = AdaptiveLimit(max_concurrent, adaptive=False)
        self._gates: LoopLocal[ConcurrencyGate] = LoopLocal(lambda: ConcurrencyGate(self.limit))

    def gate(self) -> ConcurrencyGate:
        """This event loop's gate."""
        return self._gates.get()

    def __repr__(self) -> str:
        return f"SharedLimit({self.limit.maximum})"


class SharedConcurrency(PipelineWrapper):
    """Hold a slot of a `SharedLimit` for every call, on top of the judge's own ``max_concurrent``.

    ``SharedConcurrency(judge.pipeline, limit)`` with the same ``limit`` on several judges keeps their
    requests in flight together at most ``limit``'s size. An ``int`` makes a limit of its own.
    """

    def __init__(self, inner: Pipeline, limit: SharedLimit | int) -> None:
        super().__init__(inner)
        self.shared = limit if isinstance(limit, SharedLimit) else SharedLimit(limit)

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        async with self.shared.gate():
            return await self.inner.aevaluate(request, scope=scope)

    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        async with self.shared.gate():
            return await self.inner.aevaluate_many(requests)

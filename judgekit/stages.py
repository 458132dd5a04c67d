"""The two contracts around a pipeline's attempt path: `Provider`, what the pipeline asks of a provider, and
`AttemptPolicy`, a stage around every attempt (the endpoint circuit of `judgekit.circuit`, tracing, ...).

They live below both `judgekit.pipeline` and the stages it runs, so a stage never imports the pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from judgekit.config import JudgeConfig
    from judgekit.errors import ProviderError
    from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["AttemptPolicy", "Provider"]

T = TypeVar("T")


class Provider(Protocol):
    """What the pipeline asks of a provider: the `judgekit.JudgeInterface` methods it calls."""

    provider_name: str
    thinking_off_hint: str
    config: JudgeConfig

    def send(self, request: JudgeRequest, config: JudgeConfig) -> Awaitable[JudgeResponse]: ...
    def should_retry(self, exc: ProviderError) -> bool: ...
    def attempt_timeout(self, config: JudgeConfig) -> float | None: ...
    def base_urls(self, config: JudgeConfig) -> list[str]: ...
    def model_for(self, config: JudgeConfig) -> str | None: ...
    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None: ...
    async def aevaluate_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]: ...
    def batch_backend(self, config: JudgeConfig) -> Any: ...
    async def aclose(self) -> None: ...


class AttemptPolicy:
    """A stage around every attempt, inside the retry loop and outside the concurrency slot.

    Subclass and override `attempt`; add an instance to ``pipeline.policies`` (first in the list is outermost).
    A policy may raise a `ProviderError` instead of sending (a circuit breaker failing fast: make it
    ``retryable=False``) and sees every attempt's outcome (``await send()`` returns or raises).
    """

    async def attempt(self, send: Callable[[], Awaitable[T]], config: JudgeConfig) -> T:
        return await send()

    async def preflight(self, config: JudgeConfig) -> None:
        """Before a batch (`Pipeline.preflight`): a cheap check, e.g. that the endpoint can be reached."""

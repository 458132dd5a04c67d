"""The hook judgekit's judging layer offers to tracing: off (None) unless something installs a `Tracer`.

`judgekit.integrations.otel` installs one (OpenTelemetry spans, events and metrics). With none installed a
judgement costs one attribute read. A tracer wraps the run of each judgement and of each batch; it must
return what ``run()`` returns and must not change it. This is the judging layer's side, where the kind and the
parsed verdict are known; each request's side is a pipeline wrapper (`judgekit.integrations.otel.TracedPipeline`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from judgekit.interface import JudgeInterface
    from judgekit.types import JudgeResult

__all__ = ["BatchInfo", "JudgementInfo", "Tracer", "active", "install"]


@dataclass(frozen=True)
class JudgementInfo:
    """What a tracer may report about one judgement before it runs (no key, no URL, no prompt text)."""

    kind: str
    judge: JudgeInterface
    """The provider; a tracer may wrap its pipeline (``judge.pipeline``) to see each request."""
    provider: str
    model: str | None
    template: str | None
    """The template the prompt was filled from (built-in or ``custom_prompt``); None for the caller's own prompt."""
    calibrator: str | None
    """Where the judge's calibrator came from (``JudgeConfig.calibrator``), if it has one."""


@dataclass(frozen=True)
class BatchInfo:
    """What a tracer may report about one batch before it runs."""

    kind: str
    provider: str
    model: str | None
    size: int


class Tracer(Protocol):
    async def judgement(self, info: JudgementInfo, run: Callable[[], Awaitable[JudgeResult]]) -> JudgeResult: ...

    async def batch(
        self, info: BatchInfo, run: Callable[[], Awaitable[Sequence[JudgeResult]]]
    ) -> Sequence[JudgeResult]: ...


_active: Tracer | None = None


def active() -> Tracer | None:
    """The installed tracer, or None (tracing off)."""
    return _active


def install(tracer: Tracer | None) -> Tracer | None:
    """Install ``tracer`` (None: turn tracing off); returns the one it replaces."""
    global _active
    previous, _active = _active, tracer
    return previous

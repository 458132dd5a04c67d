"""Client-side flow control for one judge: an adaptive concurrency limit and request / token rate limits.

- `AdaptiveLimit`: the number of requests a judge may have in flight. It starts at ``max_concurrent``; a 429
  halves it (once per window: 429s of requests sent before the last cut are ignored), and each success adds
  ``1 / limit``, so it grows back by one per window of successes (AIMD, as TCP does).
- `ConcurrencyGate`: the per-event-loop gate that enforces it (a semaphore whose size can change).
- `RateLimiter`: requests per minute and tokens per minute, as GCRA buckets holding one second's worth of
  burst. Tokens are estimated before a call (prompt characters / 4, plus the mean completion seen so far)
  and settled from the reply's usage after it, so the long-run rate follows what the provider counts.

- `BatchScope`: a batch's own concurrency bound (``max_concurrency``), passed with each of the batch's requests
  to `judgekit.pipeline.Pipeline.aevaluate` (``scope=``).

Waiting for a rate slot happens inside the concurrency slot and outside the request timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from typing import Any

__all__ = ["AdaptiveLimit", "BatchScope", "ConcurrencyGate", "RateLimiter", "estimate_prompt_tokens"]


class AdaptiveLimit:
    """The allowed concurrency of one judge (shared by every event loop the judge runs on)."""

    def __init__(self, maximum: int, *, adaptive: bool = True) -> None:
        self.maximum = max(1, int(maximum))
        self.adaptive = adaptive
        self.limit = float(self.maximum)
        self.allowed = self.maximum
        self.cuts = 0
        self._last_cut = float("-inf")

    def on_success(self) -> None:
        """Additive increase: one more slot per ``allowed`` successes, up to ``maximum``."""
        if self.allowed < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self.allowed = int(self.limit)

    def on_rate_limit(self, sent_at: float) -> bool:
        """Multiplicative decrease on a 429 of a request sent at ``sent_at`` (`time.monotonic`).

        Returns whether the limit was cut: 429s of requests sent before the previous cut belong to the same
        window and are ignored.
        """
        if not self.adaptive or sent_at < self._last_cut:
            return False
        self.limit = max(1.0, self.limit / 2)
        self.allowed = int(self.limit)
        self._last_cut = time.monotonic()
        self.cuts += 1
        return True

    def __repr__(self) -> str:
        return f"AdaptiveLimit(allowed={self.allowed}, maximum={self.maximum}, cuts={self.cuts})"


class ConcurrencyGate:
    """An `asyncio.Semaphore` whose size is ``limit.allowed``, read at every acquire and release."""

    __slots__ = ("_in_flight", "_limit", "_waiters")

    def __init__(self, limit: AdaptiveLimit) -> None:
        self._limit = limit
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def __aenter__(self) -> None:
        if self._in_flight < self._limit.allowed and not self._waiters:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled: give it back
                self._release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self._in_flight -= 1
        waiters, allowed = self._waiters, self._limit.allowed
        while waiters and self._in_flight < allowed:
            waiter = waiters.popleft()
            if not waiter.done():
                self._in_flight += 1  # the slot passes straight to the waiter
                waiter.set_result(None)


class BatchScope:
    """The concurrency bound of one running batch: an adaptive limit and gate per judge it calls."""

    __slots__ = ("_gates", "concurrency")

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, int(concurrency))
        self._gates: dict[int, tuple[ConcurrencyGate, AdaptiveLimit]] = {}

    def gate_for(self, owner: object, adaptive: bool) -> tuple[ConcurrencyGate, AdaptiveLimit]:
        """This batch's gate for ``owner`` (a pipeline; made on first use)."""
        pair = self._gates.get(id(owner))
        if pair is None:
            limit = AdaptiveLimit(self.concurrency, adaptive=adaptive)
            pair = self._gates[id(owner)] = (ConcurrencyGate(limit), limit)
        return pair


class _Bucket:
    """GCRA: ``rate`` units per second with a burst of ``burst`` units; `reserve` says how long to wait."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = max(0.0, per_minute / 60.0 - 1.0) * self.interval  # one second's worth of burst
        self.tat = float("-inf")  # theoretical arrival time

    def reserve(self, amount: float, now: float) -> float:
        tat = max(self.tat, now)
        start = max(now, tat - self.tolerance)
        self.tat = tat + amount * self.interval
        return start - now

    def refund(self, amount: float) -> None:
        self.tat -= amount * self.interval


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits of one judge (thread-safe, loop-agnostic).

    A request books ``estimate * scale + mean completion`` tokens, where ``scale`` (reported prompt tokens
    over estimated ones) and the mean completion are learnt from the replies; `settle` then replaces the
    booking with what the reply reports, so the long-run rate follows the provider's own count.
    """

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        self.requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = threading.Lock()
        self._prompt_scale = 1.0
        self._completion_mean = 0.0
        self._replies = 0

    def reserve(self, prompt_estimate: int) -> tuple[float, float]:
        """Book one request of about ``prompt_estimate`` input tokens: ``(seconds to wait, tokens booked)``."""
        now = time.monotonic()
        with self._lock:
            wait = self.requests.reserve(1.0, now) if self.requests else 0.0
            booked = 0.0
            if self.tokens:
                booked = prompt_estimate * self._prompt_scale + self._completion_mean
                wait += self.tokens.reserve(booked, now + wait)  # booked from when the request may go
            return wait, booked

    def settle(self, booked: float, usage: Any | None, prompt_estimate: int = 0) -> None:
        """Replace the booked tokens with those the reply used (none for a failed call), and learn from it."""
        if not self.tokens:
            return
        used = float(getattr(usage, "total_tokens", 0) or 0)
        with self._lock:
            self.tokens.refund(booked - used)
            if usage is None or not used:
                return
            self._replies += 1
            weight = 1.0 / min(self._replies, 100)
            completion = float(getattr(usage, "completion_tokens", 0) or 0)
            self._completion_mean += (completion - self._completion_mean) * weight
            prompt = float(getattr(usage, "prompt_tokens", 0) or 0)
            if prompt_estimate > 0 and prompt > 0:
                self._prompt_scale += (prompt / prompt_estimate - self._prompt_scale) * weight

    async def wait(self, prompt_estimate: int) -> float:
        """`reserve`, then sleep until the slot; returns the tokens booked (for `settle`)."""
        delay, booked = self.reserve(prompt_estimate)
        if delay > 0:
            await asyncio.sleep(delay)
        return booked


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """About four characters per token over the text of chat messages (images count as 800 tokens)."""
    chars = 0
    tokens = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    if isinstance(part.get("text"), str):
                        chars += len(part["text"])
                    else:
                        tokens += 800
    return tokens + chars // 4 + 4 * len(messages)

"""Circuit breakers: stop calling what keeps failing, and try it again after a rest.

`CircuitBreaker` is the state machine (closed, open, half-open) on an injectable clock; the reward adapter
keeps one around its judge. `EndpointCircuit` keeps one per endpoint of a judge (`JudgeConfig.fail_fast`):

- after ``threshold`` connection failures in a row (no connection at all: refused, unknown host, no route;
  not an HTTP error, not a timeout), or a failed pre-flight (`preflight`: a TCP connect before a batch),
  it holds every request to the endpoint instead of sending it;
- it probes the endpoint every ``probe_interval`` seconds (a TCP connect; without one, a real request goes
  as the probe) and lets the held requests go as soon as it answers;
- once the endpoint has not answered for ``patience`` seconds, every held and later request fails at once
  with one "cannot reach <url>" error (`ProviderConnectionError`, not retried), with a probe now and then
  so that an endpoint that comes back is used again.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from loguru import logger

from judgekit.errors import JudgeTimeoutError, ProviderConnectionError, ProviderError
from judgekit.stages import AttemptPolicy, Provider

if TYPE_CHECKING:
    from judgekit.config import JudgeConfig

__all__ = ["CircuitBreaker", "EndpointCircuit", "FailFast", "tcp_probe"]

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]
Probe = Callable[[], Awaitable[str | None]]
"""A cheap check of an endpoint: None when it answers, else why not."""


class CircuitBreaker:
    """Closed: calls pass. ``threshold`` failures in a row open it: calls are refused for ``reset_timeout``
    seconds. Then it is half-open: one probe call passes; its success closes the circuit, its failure opens
    it again. Thread-safe; ``clock`` is injectable (tests)."""

    def __init__(self, threshold: int = 5, reset_timeout: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.times_opened = 0

    @property
    def state(self) -> State:
        with self._lock:
            return self._current()

    @property
    def closed(self) -> bool:
        """Whether calls pass, read without the lock (the hot path of every call): a closed circuit changes
        only in `record_failure` / `trip`, so a stale answer is that of a call that started a moment earlier."""
        return self._state == "closed"

    def _current(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_timeout:
            self._state, self._probing = "half_open", False
        return self._state

    def allow(self) -> bool:
        """Whether a call may go to the judge now (in half-open state: only the one probe)."""
        with self._lock:
            state = self._current()
            if state == "closed":
                return True
            if state == "half_open" and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        if self._state == "closed" and not self._failures:  # nothing to reset: no lock on the hot path
            return
        with self._lock:
            self._state, self._failures, self._probing = "closed", 0, False

    def record_failure(self) -> bool:
        """Count a failure; True when it opened the circuit (from closed: the threshold was reached)."""
        with self._lock:
            state = self._current()
            self._failures += 1
            if state == "half_open" or (state == "closed" and self._failures >= self.threshold):
                self._open()
                return state == "closed"
            return False

    def trip(self) -> None:
        """Open the circuit now, whatever the count."""
        with self._lock:
            if self._current() != "open":
                self._failures = max(self._failures, self.threshold)
                self._open()

    def _open(self) -> None:
        self._state, self._opened_at, self._probing = "open", self._clock(), False
        self.times_opened += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self._current()
            retry_in = max(0.0, self.reset_timeout - (self._clock() - self._opened_at)) if state == "open" else 0.0
            return {
                "state": state,
                "consecutive_failures": self._failures,
                "times_opened": self.times_opened,
                "retry_in_s": round(retry_in, 3),
            }


class EndpointCircuit:
    """Fail fast on an endpoint that cannot be reached (see the module docstring). `call` is the one place
    a request passes through; `preflight` checks the endpoint before a batch."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        threshold: int = 3,
        patience: float = 20.0,
        probe_interval: float = 0.5,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        poll: float = 0.1,
    ) -> None:
        self.url = urls[0] if len(urls) == 1 else f"any of {', '.join(urls)}"
        self.patience = patience
        self.probe = probe
        self.breaker = CircuitBreaker(threshold, probe_interval, clock)
        self._clock, self._sleep, self._poll = clock, sleep, poll
        self._down_since: float | None = None
        self._reason = ""
        self._gave_up = False
        self._checked_at: float | None = None
        self._checking = False

    @property
    def unreachable(self) -> bool:
        """Whether the endpoint has not answered for ``patience`` seconds: requests now fail at once."""
        return self._down_since is not None and self._clock() - self._down_since >= self.patience

    async def preflight(self) -> None:
        """Probe the endpoint before a batch (at most once per ``patience`` seconds while it answers); a
        failed probe opens the circuit at once, so the batch's requests wait for it instead of failing."""
        now = self._clock()
        while self._checking:  # another batch's pre-flight is under way: its verdict holds for this one
            await self._sleep(self._poll)
        if self.probe is None or self.breaker.state != "closed":
            return
        if self._checked_at is not None and now - self._checked_at < self.patience:
            return
        self._checked_at, self._checking = now, True
        try:
            reason = await self._run_probe()
        finally:
            self._checking = False
        if reason is not None:
            self.breaker.trip()
            self._went_down(f"pre-flight: {reason}")

    async def call(
        self, send: Callable[[], Awaitable[T]], *, provider: str | None = None, model: str | None = None
    ) -> T:
        """``await send()`` when the endpoint is reachable; wait while it is being probed; raise a
        ``cannot reach`` `ProviderConnectionError` (not retried) once it has been down for ``patience``."""
        if self.breaker.closed:  # the hot path: the endpoint answers (`_send` without probing, inlined: one
            try:  # coroutine less on every request in flight)
                result = await send()
            except ProviderError as exc:
                self._settle(exc, probing=False)
                raise
            self._came_back()
            return result
        while True:
            closed = self.breaker.state == "closed"
            if self.breaker.allow():
                if closed or self.probe is None:
                    return await self._send(send, probing=not closed)
                reason = await self._run_probe()
                if reason is None:
                    self._came_back()
                else:
                    self.breaker.record_failure()
                    self._reason = reason
                continue
            if self.unreachable:
                self._give_up()
                raise ProviderConnectionError(
                    f"cannot reach {self.url}: {self._reason} (no connection for {self.patience:g}s; "
                    "fail_fast=False, or --keep-retrying, keeps retrying instead)",
                    provider=provider,
                    model=model,
                    retryable=False,
                    unreachable=True,
                )
            await self._sleep(self._poll)

    async def _send(self, send: Callable[[], Awaitable[T]], *, probing: bool) -> T:
        settled = False
        try:
            result = await send()
            settled = True
        except ProviderError as exc:
            settled = self._settle(exc, probing=probing)
            raise
        finally:
            if probing and not settled:  # cancelled, a timeout, a bug: the probe ended without a verdict
                self.breaker.record_failure()
        self._came_back()
        return result

    def _settle(self, exc: ProviderError, *, probing: bool) -> bool:
        """Record a failed attempt: an unreachable endpoint (or a probe's timeout) counts against the circuit;
        any other answer (an HTTP error, a dropped connection) shows it is up. False: no verdict (a timeout)."""
        unreachable = isinstance(exc, ProviderConnectionError) and exc.unreachable
        if unreachable or (probing and isinstance(exc, JudgeTimeoutError)):
            self._reason = exc.message
            if self.breaker.record_failure():
                self._went_down(exc.message)
            return True
        if isinstance(exc, JudgeTimeoutError):
            return False
        self._came_back()
        return True

    async def _run_probe(self) -> str | None:
        try:
            return await self.probe()  # type: ignore[misc]
        except Exception as exc:  # a probe that breaks is a failed probe
            return f"{type(exc).__name__}: {exc}"

    def _went_down(self, reason: str) -> None:
        self._reason = reason
        if self._down_since is None:
            self._down_since = self._clock()
            logger.warning(
                "judgekit: cannot reach {}: {}; holding its requests and probing it for up to {:g}s",
                self.url,
                reason,
                self.patience,
            )

    def _came_back(self) -> None:
        self._checked_at = self._clock()
        was_down = self._down_since is not None
        self.breaker.record_success()
        self._down_since, self._gave_up = None, False
        if was_down:
            logger.info("judgekit: {} answers again; sending the held requests", self.url)

    def _give_up(self) -> None:
        if not self._gave_up:
            self._gave_up = True
            logger.error(
                "judgekit: cannot reach {} for {:g}s ({}): failing its requests at once "
                "(fail_fast=False, or --keep-retrying, keeps retrying instead)",
                self.url,
                self.patience,
                self._reason,
            )


class FailFast(AttemptPolicy):
    """The attempt stage of ``JudgeConfig.fail_fast``: each attempt of ``provider`` passes through the
    `EndpointCircuit` of its endpoint (``provider.base_urls(config)``; none for in-process backends), made on
    first use with ``config.fail_fast_after`` as its patience and a TCP probe."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._circuits: dict[tuple[Any, ...], EndpointCircuit] = {}

    def circuit(self, config: JudgeConfig) -> EndpointCircuit | None:
        """The circuit of ``config``'s endpoint (None: ``fail_fast`` is off, or there is no endpoint)."""
        base_urls = getattr(self.provider, "base_urls", None)  # a duck-typed provider may have none
        urls = base_urls(config) if config.fail_fast and base_urls is not None else []
        if not urls:
            return None
        key = (tuple(urls), config.fail_fast_after)
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = EndpointCircuit(
                urls, patience=config.fail_fast_after, probe=tcp_probe(urls)
            )
        return circuit

    def attempt(self, send: Callable[[], Awaitable[T]], config: JudgeConfig) -> Awaitable[T]:  # type: ignore[override]
        """``send()`` through the endpoint's circuit: an awaitable (not a coroutine of its own, so a request in
        flight holds one frame less)."""
        circuit = self.circuit(config)
        if circuit is None:
            return send()
        return circuit.call(send, provider=self.provider.provider_name, model=config.model_name)

    async def preflight(self, config: JudgeConfig) -> None:
        """Check the endpoint before a batch (`EndpointCircuit.preflight`)."""
        circuit = self.circuit(config)
        if circuit is not None:
            await circuit.preflight()


def tcp_probe(urls: Sequence[str], timeout: float = 3.0) -> Probe | None:
    """A probe that opens (and closes) a TCP connection to each URL's host and port: None when any
    answers, else the reason. None (no probe) when a URL is not http(s) or goes through a proxy."""
    targets: list[tuple[str, int]] = []
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname):
            return None
        targets.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))

    async def probe() -> str | None:
        reason = "no address"
        for host, port in targets:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                reason = f"cannot connect to {host}:{port}: {type(exc).__name__}: {exc}".rstrip(": ")
                continue
            writer.close()
            return None
        return reason

    return probe

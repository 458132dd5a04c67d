"""`CircuitBreaker`: stop calling a judge that keeps failing, and probe it again after a rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed: calls pass. ``threshold`` failures in a row open it: calls are refused for ``reset_timeout``
    seconds. Then it is half-open: one probe call passes; its success closes the circuit, its failure opens
    it again. Thread-safe."""

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
        with self._lock:
            self._state, self._failures, self._probing = "closed", 0, False

    def record_failure(self) -> None:
        with self._lock:
            state = self._current()
            self._failures += 1
            if state == "half_open" or (state == "closed" and self._failures >= self.threshold):
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

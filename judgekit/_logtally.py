"""`WarningTally`: a warning that repeats is logged once, then counted: one line per kind with its count."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from loguru import logger

__all__ = ["RETRY_WARNINGS", "WarningTally"]


@dataclass
class _Kind:
    last_message: str
    repeats: int = 0
    reported_at: float = 0.0


class WarningTally:
    """The first warning of each kind is logged at once; repeats are counted and reported as one line per
    kind (``"judgekit: 199 more openai retries after ProviderConnectionError ..."``) every ``interval``
    seconds and when the outermost `batch` ends. ``clock`` is injectable (tests)."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()
        self._depth = 0

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """A unit of work (a batch, a command): when the outermost one ends, the repeats are reported."""
        with self._lock:
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                last = self._depth == 0
            if last:
                self.flush()

    def warn(self, kind: str, message: str) -> None:
        """Log ``message`` if it is the first of ``kind`` (since the last `flush`), else count it."""
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is None:
                self._kinds[kind] = _Kind(message, reported_at=now)
            else:
                seen.repeats += 1
                seen.last_message = message
                if now - seen.reported_at < self.interval:
                    return
                message, seen.repeats, seen.reported_at = self._summary(kind, seen), 0, now
        logger.warning(message)

    def flush(self) -> None:
        """Report the repeats not reported yet, and start afresh (the next warning of a kind is logged)."""
        with self._lock:
            lines = [self._summary(kind, seen) for kind, seen in self._kinds.items() if seen.repeats]
            self._kinds.clear()
        for line in lines:
            logger.warning(line)

    @staticmethod
    def _summary(kind: str, seen: _Kind) -> str:
        return f"judgekit: {seen.repeats} more {kind} (the last: {seen.last_message.removeprefix('judgekit: ')})"


RETRY_WARNINGS = WarningTally()
"""The retry warnings of every judge (`JudgeInterface`); a batch flushes it when it ends."""

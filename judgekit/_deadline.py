"""`deadline(seconds)`: ``asyncio.timeout(seconds)`` for the pipeline's per-attempt timeout, at a fraction of its cost.

``asyncio.timeout`` schedules one timer per use. The loop keeps timers in a heap whose comparisons run in
Python, so at 128 requests in flight each attempt paid several microseconds to push, cancel and later pop
its own timer (benchmarks/throughput.py). Attempts that share a timeout length on one loop end in the order
they started, so here they wait in one first-in-first-out queue behind a single timer, armed for the oldest
deadline still open: entering costs an append, leaving a flag.

Semantics are those of ``asyncio.timeout``: at the deadline the task is cancelled and the block raises
`TimeoutError`; a cancellation from elsewhere stays a `asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from typing import Any

from judgekit._sync import LoopLocal

__all__ = ["deadline"]

_OPEN, _EXPIRING, _DONE = 0, 1, 2


class _Queue:
    """The open deadlines of one timeout length on one loop, oldest first (so soonest first)."""

    __slots__ = ("entries", "handle", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.entries: collections.deque[_Deadline] = collections.deque()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, entry: _Deadline) -> None:
        entries = self.entries
        while entries and entries[0].state == _DONE:  # finished ones at the front go now, not at their deadline
            entries.popleft()
        entries.append(entry)
        if self.handle is None:
            self.handle = self.loop.call_at(entry.when, self.fire)

    def fire(self) -> None:
        """Expire every open deadline that has passed; arm the timer for the next one still open."""
        self.handle = None
        entries, now = self.entries, self.loop.time()
        while entries:
            entry = entries[0]
            if entry.state == _OPEN and entry.when > now:
                self.handle = self.loop.call_at(entry.when, self.fire)
                return
            entries.popleft()
            if entry.state == _OPEN:
                entry.expire()


_queues: LoopLocal[dict[float, _Queue]] = LoopLocal(dict)


class _Deadline:
    __slots__ = ("cancelling", "state", "task", "when")

    def __init__(self, seconds: float) -> None:
        self.when = seconds
        self.state = _OPEN
        self.task: asyncio.Task[Any] | None = None
        self.cancelling = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("deadline() should be used inside a task")
        self.task, self.cancelling = task, task.cancelling()
        queues = _queues.get()
        seconds = self.when
        queue = queues.get(seconds)
        if queue is None:
            queue = queues[seconds] = _Queue(asyncio.get_running_loop())
        self.when = queue.loop.time() + seconds
        queue.add(self)

    def expire(self) -> None:
        self.state = _EXPIRING
        self.task.cancel()  # type: ignore[union-attr]

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        task, self.task = self.task, None  # a finished entry waits in its queue without holding the task
        if self.state == _EXPIRING:
            self.state = _DONE
            if task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:  # type: ignore[union-attr]
                raise TimeoutError from exc
        self.state = _DONE


if sys.version_info >= (3, 11):

    def deadline(seconds: float | None) -> _Deadline | contextlib.nullcontext[None]:
        """An async context manager that raises `TimeoutError` when its block runs past ``seconds`` (None: never)."""
        return _Deadline(seconds) if seconds is not None else contextlib.nullcontext()

else:  # pragma: no cover - Python 3.10: no Task.uncancel, so the plain timer
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def deadline(seconds: float | None):  # type: ignore[no-untyped-def]
        if seconds is None:
            yield
            return
        task = asyncio.current_task()
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel)  # type: ignore[union-attr]
        try:
            yield
        except asyncio.CancelledError:
            raise TimeoutError from None
        finally:
            handle.cancel()

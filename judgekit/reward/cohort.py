"""`CohortBarrier`: hold each sample's coroutine until its whole group has arrived, judge the group once,
release every member.

verl 0.9's reward loop awaits one sample's reward at a time (all of a batch's samples concurrently on one
event loop). A group reward needs the whole group: the barrier keeps one open cohort per group key; the
member that completes it (``size`` members) closes it and the group is judged once. A cohort that is not
complete ``timeout`` seconds after its first member arrived is closed anyway and the members that arrived
are judged as a smaller group (``complete=False``). ``sleep`` is the clock (an ``async`` sleep), injectable
for tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from judgekit.errors import ConfigError

__all__ = ["CohortBarrier"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Cohort(Generic[T, R]):
    members: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[R]] = field(default_factory=list)
    timer: asyncio.Task[None] | None = None


class CohortBarrier(Generic[T, R]):
    """``await barrier.submit(key, member)`` returns that member's result once its group has been judged.

    ``judge(members, complete)`` judges one group and returns one result per member, in arrival order;
    raising fails every member of that group with the exception. Use one barrier per event loop.
    """

    def __init__(
        self,
        judge: Callable[[list[T], bool], Awaitable[list[R]]],
        size: int,
        timeout: float,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"group_size must be a whole number >= 1, got {size!r}", "group_size")
        if timeout <= 0:
            raise ConfigError(f"group_timeout must be > 0 seconds, got {timeout!r}", "group_timeout")
        self.judge, self.size, self.timeout, self.sleep = judge, size, timeout, sleep
        self._open: dict[Hashable, _Cohort[T, R]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.groups_judged = 0
        self.groups_timed_out = 0

    @property
    def waiting(self) -> int:
        """Members held in cohorts that are not complete yet."""
        return sum(len(c.members) for c in self._open.values())

    async def submit(self, key: Hashable, member: T) -> R:
        """Wait for ``member``'s group (``key``) to be judged; return its result."""
        cohort = self._open.get(key)
        if cohort is None:
            cohort = self._open[key] = _Cohort()
            cohort.timer = self._spawn(self._expire(key, cohort))
        waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        cohort.members.append(member)
        cohort.waiters.append(waiter)
        if len(cohort.members) >= self.size:
            self._close(key, cohort, complete=True)
        return await waiter

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)
        return task

    def _close(self, key: Hashable, cohort: _Cohort[T, R], *, complete: bool) -> None:
        if self._open.get(key) is cohort:
            del self._open[key]
        if complete and cohort.timer is not None:
            cohort.timer.cancel()
        self._spawn(self._judge(cohort, complete))

    async def _expire(self, key: Hashable, cohort: _Cohort[T, R]) -> None:
        await self.sleep(self.timeout)
        if self._open.get(key) is cohort:
            self.groups_timed_out += 1
            self._close(key, cohort, complete=False)

    async def _judge(self, cohort: _Cohort[T, R], complete: bool) -> None:
        try:
            results = list(await self.judge(list(cohort.members), complete))
            if len(results) != len(cohort.members):
                raise RuntimeError(f"the group judge returned {len(results)} results for {len(cohort.members)}")
        except Exception as exc:
            for waiter in cohort.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        self.groups_judged += 1
        for waiter, result in zip(cohort.waiters, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)

"""`DynamicBatcher`: gathers items submitted concurrently from any thread or event loop into batches.

One batcher is shared by everything that feeds a batched backend: the in-process torch judge (one model,
one worker), the judge server (concurrent HTTP requests into one model call) and the reward adapter
(completions into ``/batch_judge`` calls). Items wait at most ``max_wait_s`` for a batch to fill up to
``max_batch_size``; ``concurrency`` batches may be in flight at once (1 for a model, more for HTTP).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import inspect
import queue
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from loguru import logger

from judgekit._deadline import deadline
from judgekit._sync import run_sync
from judgekit.errors import JudgeError

__all__ = ["BatcherStats", "DynamicBatcher", "QueueFullError"]

T = TypeVar("T")
R = TypeVar("R")

ProcessFn = Callable[[list[T]], "Sequence[R] | Awaitable[Sequence[R]]"]
_Entry = tuple[T, Future[R], "Callable[[], None] | None"]  # an item, its result, what to call when it starts


class QueueFullError(JudgeError):
    """The batcher's queue is full: callers are producing work faster than the backend can judge it."""


class BatcherStats:
    """Counters of what a batcher did (thread-safe snapshots via `as_dict`)."""

    def __init__(self) -> None:
        self.batches = 0
        self.items = 0
        self.batched_items = 0  # items that shared their batch with at least one other
        self.sizes: collections.Counter[int] = collections.Counter()
        self.busy_s = 0.0

    def record(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.batched_items += size if size > 1 else 0
        self.sizes[size] += 1
        self.busy_s += seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "items": self.items,
            "mean_batch_size": self.items / self.batches if self.batches else 0.0,
            "max_batch_size": max(self.sizes, default=0),
            "batched_fraction": self.batched_items / self.items if self.items else 0.0,
            "batch_sizes": dict(sorted(self.sizes.items())),
        }


class DynamicBatcher(Generic[T, R]):
    """Collects submitted items into batches and hands each batch to ``process``.

    ``process(batch) -> results`` returns one result per item, in order; it may be a plain function
    (run in the batcher's worker thread: right for a model) or a coroutine function (run on judgekit's
    event loop: right for HTTP). If it raises, every item of that batch gets the exception.
    ``max_queue`` bounds the waiting items (0 = unbounded); beyond it `submit` raises `QueueFullError`.
    """

    def __init__(
        self,
        process: ProcessFn[T, R],
        *,
        max_batch_size: int = 16,
        max_wait_s: float = 0.01,
        concurrency: int = 1,
        max_queue: int = 0,
        name: str = "batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self._process = process
        self._is_async = inspect.iscoroutinefunction(process)
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.name = name
        self.stats = BatcherStats()
        self._queue: queue.Queue[_Entry[T, R] | None] = queue.Queue()
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def queue_size(self) -> int:
        """Items waiting for a batch."""
        return self._queue.qsize()

    def submit(self, item: T, *, on_start: Callable[[], None] | None = None) -> Future[R]:
        """Queue ``item``; the returned future resolves to its result. ``on_start`` is called (in the worker
        thread) when the batch holding ``item`` starts."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        if self.max_queue and self._queue.qsize() >= self.max_queue:
            raise QueueFullError(f"{self.name}: queue full ({self.max_queue} items waiting); try again later")
        self._ensure_worker()
        future: Future[R] = Future()
        self._queue.put((item, future, on_start))
        return future

    async def asubmit(self, item: T, *, timeout: float | None = None) -> R:
        """Queue ``item`` and await its result (from any event loop). ``timeout``: the seconds its batch may run,
        counted from the batch's start (time waiting in the queue does not count); past it, `TimeoutError`."""
        if timeout is None:
            return await asyncio.wrap_future(self.submit(item))
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        result = asyncio.wrap_future(self.submit(item, on_start=lambda: loop.call_soon_threadsafe(started.set)))
        waiting = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait((result, waiting), return_when=asyncio.FIRST_COMPLETED)
            async with deadline(timeout):
                return await result
        finally:
            waiting.cancel()
            result.cancel()  # nothing once done; a still-queued item is dropped

    def _ensure_worker(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
                    _with_workers.add(self)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(entry)
            self._slots.acquire()
            if self._is_async:
                threading.Thread(target=self._run_batch, args=(batch,), daemon=True).start()
            else:
                self._run_batch(batch)

    def _run_batch(self, batch: list[_Entry[T, R]]) -> None:
        live = [(item, fut) for item, fut, _ in batch if fut.set_running_or_notify_cancel()]
        for _, fut, on_start in batch:
            if on_start is not None and fut.running():
                on_start()
        try:
            if live:
                self._finish(live)
        finally:
            self._slots.release()

    def _finish(self, live: list[tuple[T, Future[R]]]) -> None:
        items = [item for item, _ in live]
        started = time.perf_counter()
        try:
            results = run_sync(self._process(items)) if self._is_async else self._process(items)  # type: ignore[arg-type]
            results = list(results)  # type: ignore[arg-type]
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: process returned {len(results)} results for {len(items)} items")
        except BaseException as exc:
            outcome: BaseException | list[R] = exc
        else:
            outcome = results
        with self._lock:
            self.stats.record(len(items), time.perf_counter() - started)
        for i, (_, fut) in enumerate(live):
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome[i])

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        self._stop(wait_s=30)

    def _stop(self, *, wait_s: float, drop_queued: bool = False) -> bool:
        """Stop taking items and let the worker end, waiting up to ``wait_s`` (False if it still runs). With
        ``drop_queued``, the items not yet in a batch are cancelled instead of judged."""
        self._closed = True
        if self._thread is None:
            return True
        while drop_queued:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is not None:
                entry[1].cancel()
        self._queue.put(None)
        self._thread.join(timeout=wait_s)
        return not self._thread.is_alive()


_with_workers: weakref.WeakSet[DynamicBatcher[Any, Any]] = weakref.WeakSet()
_EXIT_WAIT_S = 60.0


@atexit.register
def _stop_at_exit() -> None:
    """Stop every batcher's worker before the interpreter finalizes, in the exiting thread.

    A daemon thread that runs while Python finalizes is stopped where it stands: inside a model's native code that
    aborts the whole process after the user's program has finished ("terminate called without an active
    exception"), and merely waking then can crash it (CPython gh-110052). So at exit each batcher cancels the items
    still waiting and its worker ends; a model's running batch (a plain ``process``, run by the worker) is given up
    to a minute to finish. A coroutine ``process`` runs its batches on the event loop, not in the worker.
    """
    for batcher in list(_with_workers):
        if not batcher._stop(wait_s=5.0 if batcher._is_async else _EXIT_WAIT_S, drop_queued=True):
            logger.warning(
                f"judgekit: {batcher.name} was still running a batch when the program ended; "
                "the interpreter may abort when it stops that thread"
            )

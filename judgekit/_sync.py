"""Run coroutines from synchronous code, and keep async resources per event loop.

Every sync twin (`evaluate`, `evaluate_batch`, ...) calls `run_sync`, which submits the coroutine to
one private daemon event loop and waits for it. That works the same in a script, in a thread, inside a
Jupyter cell (whose own loop is already running) and under FastAPI, without nest_asyncio.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["LoopLocal", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_closers: list[Callable[[], Awaitable[None]]] = []


def _private_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=loop.run_forever, name="judgekit-loop", daemon=True)
            _thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on judgekit's private loop and return its result.

    Ctrl-C (KeyboardInterrupt) cancels the coroutine and waits (up to 10 s) for its clean-up, so an
    interrupted batch leaves no tasks behind on the private loop.
    """
    loop = _private_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError(
            "a synchronous judgekit call was made from inside judgekit's own event loop; "
            "await the async twin (the `a`-prefixed method) instead"
        )
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    finished = threading.Event()
    tasks: list[asyncio.Task[T]] = []

    def start() -> None:
        if outcome.cancelled():  # interrupted before it began
            coro.close()
            finished.set()
            return
        task = loop.create_task(coro)
        tasks.append(task)
        task.add_done_callback(lambda t: _settle(t, outcome, finished))

    def cancel() -> None:
        for task in tasks:
            task.cancel()

    loop.call_soon_threadsafe(start)
    try:
        return outcome.result()
    except BaseException:
        if outcome.cancel():  # still pending: interrupted (Ctrl-C) while waiting
            loop.call_soon_threadsafe(cancel)
            finished.wait(_CANCEL_WAIT_S)  # let the task's own clean-up (cancelling in-flight requests) run
        raise


_CANCEL_WAIT_S = 10.0


def _settle(task: asyncio.Task[T], outcome: concurrent.futures.Future[T], finished: threading.Event) -> None:
    """Pass a finished task's result to the waiting thread."""
    try:
        if outcome.done():
            return
        if task.cancelled():
            outcome.set_exception(concurrent.futures.CancelledError())
        elif (exc := task.exception()) is not None:
            outcome.set_exception(exc)
        else:
            outcome.set_result(task.result())
    finally:
        finished.set()


def on_private_loop_exit(closer: Callable[[], Awaitable[None]]) -> None:
    """Register an async clean-up to run at interpreter exit, when called from the private loop."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is _loop:
        _closers.append(closer)


@atexit.register
def _shutdown() -> None:
    """At exit: run the registered clean-ups on the private loop, then stop it and let its thread end. A daemon
    thread that wakes while Python finalizes (the loop's timers would wake it) can crash the interpreter (CPython
    gh-110052, gh-87135). Requests that threads the program abandoned still have in flight are left unfinished."""
    loop, thread = _loop, _thread
    if loop is None or thread is None or loop.is_closed() or not loop.is_running():
        return

    async def close_all() -> None:
        for closer in _closers:
            with contextlib.suppress(Exception):
                await closer()

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()


class LoopLocal(Generic[T]):
    """One lazily made object per running event loop (an aiohttp session, a semaphore, ...).

    Async objects are bound to the loop they were made on; this keeps each loop's own copy. With
    ``closer``, the object is closed when its loop shuts down through ``asyncio.run`` (or anything else
    that calls ``loop.shutdown_asyncgens()``), so a script that never closes its judge leaks nothing.
    """

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], Awaitable[None]] | None = None) -> None:
        self._factory = factory
        self._closer = closer
        self._items: dict[asyncio.AbstractEventLoop, tuple[T, Any]] = {}

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        entry = self._items.get(loop)
        if entry is None:
            for old in [lp for lp in self._items if lp.is_closed()]:
                del self._items[old]
            item = self._factory()
            entry = self._items[loop] = (item, self._watch(loop, item))
        return entry[0]

    def _watch(self, loop: asyncio.AbstractEventLoop, item: T) -> Any:
        """Start an async generator that the loop finalises at shutdown; its ``finally`` closes ``item``."""
        if self._closer is None:
            return None
        closer, items = self._closer, self._items

        async def sentinel() -> Any:
            try:
                yield
            finally:
                if items.get(loop, (None,))[0] is item:
                    del items[loop]
                await closer(item)

        agen = sentinel()
        step = agen.__anext__()  # registers agen with the loop's asyncgen hooks
        with contextlib.suppress(StopIteration):
            step.send(None)  # runs it up to the yield, inside the try
        return agen

    def pop_current(self) -> T | None:
        """Forget and return the running loop's object."""
        entry = self._items.pop(asyncio.get_running_loop(), None)
        return None if entry is None else entry[0]

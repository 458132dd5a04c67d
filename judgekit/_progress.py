"""A batch's progress: a tqdm bar on a terminal or in a notebook, else a plain line every few seconds
(a log file, a CI job, ``2> log``), so a long run is never silent."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["PlainProgress", "progress_bar"]


def progress_bar(
    total: int, *, desc: str = "judging", initial: int = 0, file: TextIO | None = None, **tqdm_options: Any
) -> Any:
    """A tqdm bar when stderr is a terminal, in a notebook, or when the caller names the ``file`` to draw it
    on; else (stderr to a file or a pipe) a `PlainProgress`. Both have ``update``, ``set_postfix`` and
    ``close``."""
    from tqdm.auto import tqdm

    notebook = any("notebook" in cls.__module__ for cls in tqdm.__mro__)
    if file is None and not notebook and not _is_terminal(sys.stderr):
        return PlainProgress(total, desc=desc, initial=initial)
    return tqdm(total=total, desc=desc, initial=initial, file=file, **{"unit": "item", **tqdm_options})


def _is_terminal(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


class PlainProgress:
    """Progress as plain lines: ``judging (binary): 120/240 (50%), 12.3 items/s, 41s, failed=3`` every
    ``interval`` seconds while items finish or not (a background thread), and once at `close`.
    ``clock`` is injectable; ``background=False`` leaves the ticking to the caller (`tick`)."""

    def __init__(
        self,
        total: int,
        *,
        desc: str = "judging",
        initial: int = 0,
        file: TextIO | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.total, self.desc, self.n, self.initial = total, desc, initial, initial
        self.file = file if file is not None else sys.stderr
        self.interval = interval
        self._clock = clock
        self._started = self._last = clock()
        self._postfix: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if background:
            threading.Thread(target=self._tick_until_closed, name="judgekit-progress", daemon=True).start()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n
        self.tick()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **fields: Any) -> None:
        with self._lock:
            self._postfix = {**(ordered_dict or {}), **fields}

    def tick(self) -> None:
        """Print a line if ``interval`` seconds have passed since the last one."""
        now = self._clock()
        with self._lock:
            if now - self._last < self.interval:
                return
            self._last = now
        self._print(now)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._print(self._clock())

    def line(self, now: float | None = None) -> str:
        elapsed = (self._clock() if now is None else now) - self._started
        with self._lock:
            done, postfix = self.n, dict(self._postfix)
        share = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        rate = (done - self.initial) / elapsed if elapsed > 0 else 0.0
        extra = "".join(f", {k}={v}" for k, v in postfix.items())
        return f"{self.desc}: {done}/{self.total}{share}, {rate:.1f} items/s, {elapsed:.0f}s{extra}"

    def _print(self, now: float) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: progress is not worth a crash
            print(self.line(now), file=self.file, flush=True)

    def _tick_until_closed(self) -> None:
        while not self._closed.wait(self.interval / 2):
            self.tick()

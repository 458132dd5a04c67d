"""Bounded, ordered, cancellation-safe concurrent map: the one batch loop every batch API uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

__all__ = ["gather_ordered"]

T = TypeVar("T")
R = TypeVar("R")


async def gather_ordered(
    items: Sequence[T],
    fn: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    progress: bool | dict[str, Any] = False,
    failed: Callable[[R], bool] | None = None,
    postfix: Callable[[], dict[str, Any]] | None = None,
) -> list[R]:
    """Apply ``fn`` to every item with at most ``concurrency`` in flight; results keep input order.

    ``fn`` should not raise for per-item failures (return a failed result instead). If it raises, or
    the caller is cancelled (Ctrl-C in a notebook), every in-flight call is cancelled and awaited
    before the exception propagates: nothing is left running.

    ``progress`` shows a tqdm bar (notebook-aware); a dict is passed to tqdm as keyword arguments.
    ``failed`` counts failures for the bar; ``postfix`` adds fields (cost, ...) to it.
    """
    n = len(items)
    results: list[Any] = [None] * n
    if n == 0:
        return results
    bar = _make_bar(n, progress)
    failures = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, failures
        while next_index < n:
            i = next_index
            next_index += 1
            result = await fn(items[i])
            results[i] = result
            if bar is not None:
                if failed is not None and failed(result):
                    failures += 1
                fields = {"failed": failures, **(postfix() if postfix else {})}
                bar.set_postfix(fields, refresh=False)
                bar.update(1)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(concurrency, n)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return results


def _make_bar(total: int, progress: bool | dict[str, Any]) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    options = progress if isinstance(progress, dict) else {}
    return tqdm(total=total, **{"desc": "judging", "unit": "item", **options})

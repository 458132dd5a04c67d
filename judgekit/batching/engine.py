"""The batch engine: a bounded, ordered, cancellation-safe concurrent map, and the bookkeeping of a judging
batch on top of it (usage, cost, cache hits, budgets, progress bar).

`gather_ordered` is the one loop every batch API uses. `run_batch` adds a `BatchStats` tally, a budget
(``max_cost`` / ``max_tokens_total``) and the bar's postfix; `summarize` tallies a finished list.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loguru import logger

from judgekit._logtally import RETRY_WARNINGS
from judgekit.errors import ConfigError
from judgekit.pipeline import BUDGET_EXCEEDED

__all__ = [
    "BACKEND_FIELDS",
    "BUDGET_EXCEEDED",
    "BatchStats",
    "config_failure",
    "gather_ordered",
    "item_failure",
    "run_batch",
    "summarize",
]

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
    on_result: Callable[[R], None] | None = None,
    stop: Callable[[], str | None] | None = None,
    skip: Callable[[T, str], R] | None = None,
) -> list[R]:
    """Apply ``fn`` to every item with at most ``concurrency`` in flight; results keep input order.

    ``fn`` should not raise for per-item failures (return a failed result instead). If it raises, or
    the caller is cancelled (Ctrl-C in a notebook), every in-flight call is cancelled and awaited
    before the exception propagates: nothing is left running.

    ``progress`` shows a tqdm bar (notebook-aware; plain lines every few seconds when stderr is not a
    terminal); a dict is passed to tqdm as keyword arguments.
    ``failed`` counts failures for the bar; ``postfix`` adds fields (cost, ...) to it. ``on_result`` sees
    every result as it lands. Before each item starts, ``stop`` may return a reason: that item and every
    later one is then not run but filled in with ``skip(item, reason)``.
    """
    n = len(items)
    results: list[Any] = [None] * n
    if n == 0:
        return results
    bar = make_bar(n, progress)
    failures = 0
    next_index = 0
    stopped: str | None = None

    async def worker() -> None:
        nonlocal next_index, failures, stopped
        while next_index < n:
            i = next_index
            next_index += 1
            if stop is not None and stopped is None:
                stopped = stop()
            if stopped is not None and skip is not None:
                result = skip(items[i], stopped)
            else:
                result = await fn(items[i])
            results[i] = result
            if on_result is not None:
                on_result(result)
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


def make_bar(total: int, progress: bool | dict[str, Any]) -> Any:
    """A tqdm bar on a terminal or in a notebook, else plain lines every few seconds (`judgekit._progress`)."""
    if not progress:
        return None
    from judgekit._progress import progress_bar

    return progress_bar(total, **(progress if isinstance(progress, dict) else {}))


# ------------------------------------------------------------------------------------------------ stats


@dataclass
class BatchStats:
    """What a batch did. Tokens and cost count only what was spent: cache hits and unsent items add nothing.

    ``cost_usd`` is None when no reply had a known price. ``stopped`` names the budget that stopped the
    batch early, if one did; its unsent items are the ``skipped`` ones (failures of type ``BudgetExceeded``).
    """

    items: int = 0
    succeeded: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    wall_s: float = 0.0
    stopped: str | None = None
    error_types: dict[str, int] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        """Throughput over the batch's wall time."""
        return self.items / self.wall_s if self.wall_s > 0 else 0.0

    def add(self, result: Any) -> None:
        """Count one `JudgeResponse` or `JudgeResult`."""
        success, cached, usage, cost, error_type = _outcome(result)
        self.items += 1
        if success:
            self.succeeded += 1
        else:
            self.failed += 1
            key = error_type or "error"
            self.error_types[key] = self.error_types.get(key, 0) + 1
            if error_type == BUDGET_EXCEEDED:
                self.skipped += 1
        if cached:
            self.cached += 1
        else:
            self.prompt_tokens += usage[0]
            self.completion_tokens += usage[1]
            self.total_tokens += usage[2]
        if cost is not None:  # a cache hit's is 0.0
            self.cost_usd = (self.cost_usd or 0.0) + cost

    def postfix(self) -> dict[str, Any]:
        """The progress bar's extra fields."""
        fields: dict[str, Any] = {}
        if self.cached:
            fields["cached"] = self.cached
        if self.cost_usd is not None:
            fields["cost"] = f"${self.cost_usd:.4f}"
        return fields

    def __str__(self) -> str:
        cost = "" if self.cost_usd is None else f", ${self.cost_usd:.4f}"
        stop = f"; stopped: {self.stopped}" if self.stopped else ""
        return (
            f"{self.items} items in {self.wall_s:.2f}s ({self.items_per_s:.1f}/s): {self.succeeded} ok, "
            f"{self.failed} failed, {self.cached} cached; {self.total_tokens} tokens{cost}{stop}"
        )


def _outcome(result: Any) -> tuple[bool, bool, tuple[int, int, int], float | None, str | None]:
    """(success, cached, (prompt, completion, total tokens), cost, error_type) of a response or a result."""
    if isinstance(result, dict):  # a JudgeResult (a dict: cheaper to test than Mapping)
        usage = result.get("usage") or {}
        counts = (
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            int(usage.get("total_tokens", 0)),
        )
        return (
            bool(result.get("success")),
            bool(result.get("cached")),
            counts,
            result.get("cost_usd"),
            result.get("error_type"),
        )
    usage = result.usage
    counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
    return result.success, result.cached, counts, result.cost_usd, result.error_type


def summarize(results: Iterable[Any], wall_s: float = 0.0) -> BatchStats:
    """Tally a list of `JudgeResponse` or `JudgeResult` (a batch's output, or any collection of them)."""
    stats = BatchStats(wall_s=wall_s)
    for result in results:
        stats.add(result)
    return stats


# ------------------------------------------------------------------------------------------------ batches


class _Budget:
    def __init__(self, stats: BatchStats, max_cost: float | None, max_tokens_total: int | None) -> None:
        self.stats, self.max_cost, self.max_tokens_total = stats, max_cost, max_tokens_total

    def exceeded(self) -> str | None:
        stats = self.stats
        if self.max_cost is not None and (stats.cost_usd or 0.0) >= self.max_cost:
            return f"budget exceeded: max_cost=${self.max_cost:g} reached (${stats.cost_usd or 0.0:.4f} spent)"
        if self.max_tokens_total is not None and stats.total_tokens >= self.max_tokens_total:
            return (
                f"budget exceeded: max_tokens_total={self.max_tokens_total} reached ({stats.total_tokens} tokens spent)"
            )
        return None


async def run_batch(
    items: Sequence[T],
    fn: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    progress: bool | dict[str, Any] = False,
    skipped: Callable[[T, str], R],
    max_cost: float | None = None,
    max_tokens_total: int | None = None,
) -> tuple[list[R], BatchStats]:
    """`gather_ordered` over judging results with a `BatchStats` tally, a budget and a bar showing cost.

    ``concurrency`` bounds the items in flight; to bound the batch's requests too, ``fn`` passes the batch's
    `judgekit.pipeline.BatchScope` to ``Pipeline.aevaluate(request, scope=...)`` (as
    `judgekit.batching.requests.evaluate_requests` does), so ``max_concurrency=128`` means 128 even on a judge
    made with 32.

    Once the spent cost or tokens reach a budget, no further item is sent: each is filled in with
    ``skipped(item, reason)`` (a failure of type ``BudgetExceeded``). Items already in flight finish and are
    kept, so the spend can pass the budget by what was in flight.
    """
    stats = BatchStats()
    budget = _Budget(stats, max_cost, max_tokens_total)
    limited = max_cost is not None or max_tokens_total is not None
    started = time.perf_counter()
    with RETRY_WARNINGS.batch():  # repeated retry warnings: counted, reported when the batch ends
        results = await gather_ordered(
            items,
            fn,
            concurrency=concurrency,
            progress=progress,
            failed=lambda r: not _outcome(r)[0],
            postfix=stats.postfix,
            on_result=stats.add,
            stop=budget.exceeded if limited else None,
            skip=skipped,
        )
    stats.wall_s = time.perf_counter() - started
    if stats.skipped:
        stats.stopped = budget.exceeded()
        logger.warning(
            "judgekit: batch stopped early, {}: {} of {} items were not sent (error_type {})",
            stats.stopped,
            stats.skipped,
            len(items),
            BUDGET_EXCEEDED,
        )
    return results, stats


# ------------------------------------------------------------------------------------------ files, datasets

BACKEND_FIELDS = frozenset({"api_key", "base_url", "api_type", "model_name", "azure_deployment", "api_version", "task"})
"""`ConfigError` fields that mean the backend is misconfigured (every item would fail): those stop a run."""


_ITEM_PREFIX = re.compile(r"^items\[\d+\]: ")  # the position is the result's own


def item_failure(message: str, error_type: str = "ConfigError") -> dict[str, Any]:
    """The result of an item that could not be judged as given: a failure with its reason, never a score."""
    return {"success": False, "result": None, "scores": None, "error_message": message, "error_type": error_type}


def config_failure(exc: ConfigError) -> dict[str, Any]:
    """The result of an item a `ConfigError` rejected: a failure with its reason. A misconfigured backend
    (`BACKEND_FIELDS`: every item would fail) re-raises instead."""
    if exc.field in BACKEND_FIELDS:
        raise exc
    return item_failure(_ITEM_PREFIX.sub("", str(exc), count=1), type(exc).__name__)

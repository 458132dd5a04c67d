"""Batching, both sides: `engine` maps many requests through a judge concurrently (client side: order kept,
budgets, progress) and `requests` sends a batch of requests through a judge's pipeline (live or by the
provider's batch API), using only the pipeline's public methods; `dynamic` gathers concurrent submissions
into model-sized batches (server side: the judge server, the torch judge, the reward adapter)."""

from judgekit.batching.dynamic import BatcherStats, DynamicBatcher, QueueFullError
from judgekit.batching.engine import BUDGET_EXCEEDED, BatchStats, gather_ordered, run_batch, summarize

__all__ = [
    "BUDGET_EXCEEDED",
    "BatchStats",
    "BatcherStats",
    "DynamicBatcher",
    "QueueFullError",
    "gather_ordered",
    "run_batch",
    "summarize",
]

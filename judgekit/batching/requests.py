"""A batch of `JudgeRequest`s through a pipeline: live (`judgekit.batching.engine.run_batch`, with the batch's
concurrency as a `BatchScope`) or through the provider's batch API (`judgekit.batching.batch_api`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from judgekit.batching.batch_api import BatchAPIOptions, batch_api_options, run_batch_api
from judgekit.batching.engine import BatchStats, run_batch
from judgekit.pipeline import Pipeline
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["evaluate_requests"]


async def evaluate_requests(
    pipeline: Pipeline,
    requests: Sequence[JudgeRequest],
    *,
    max_concurrency: int | None = None,
    progress: bool | dict[str, Any] = False,
    max_cost: float | None = None,
    max_tokens_total: int | None = None,
    batch_api: bool | BatchAPIOptions | dict[str, Any] | None = False,
) -> tuple[list[JudgeResponse], BatchStats]:
    """Judge many requests through ``pipeline``; one response per request, in input order, whatever fails.

    ``max_concurrency`` is the number of this batch's requests in flight: when it differs from the judge's
    ``max_concurrent`` the batch gets its own limit of that size (`Pipeline.scope`); when not given the batch
    shares ``max_concurrent`` with every other call on the judge. Budgets as in `run_batch`. ``batch_api``
    sends them through the provider's batch API instead (`judgekit.batching.batch_api`).
    """
    pipeline.check_budget(max_cost, max_tokens_total)
    if batch_api:
        options = batch_api_options(batch_api)
        api_results, api_stats = await run_batch_api(
            pipeline, requests, options, progress=progress, max_cost=max_cost, max_tokens_total=max_tokens_total
        )
        return api_results, api_stats
    await pipeline.preflight()
    return await run_batch(
        requests,
        functools.partial(pipeline.aevaluate, scope=pipeline.scope(max_concurrency)),
        concurrency=max_concurrency or pipeline.config.max_concurrent,
        progress=progress,
        skipped=lambda request, reason: pipeline.budget_failure(reason, pipeline.config_for(request)),
        max_cost=max_cost,
        max_tokens_total=max_tokens_total,
    )

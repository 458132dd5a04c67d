"""Provider batch APIs (OpenAI Batch, Azure OpenAI batch deployments, Anthropic Message Batches): half-price
offline judging that survives a kill.

`run_batch_api` is the engine; it talks to a provider only through a `BatchBackend`, which each provider
module supplies (its wire format lives there). The engine:

1. answers what it can from the judge's cache: those items are never submitted;
2. turns the rest into the provider's request lines, one per distinct request (``custom_id`` is a digest of
   the request body, so identical requests are judged once and a re-run recognises its own items), and
   splits them into batches within the provider's limits on requests and bytes;
3. keeps the budget (``max_cost`` / ``max_tokens_total``) from an upper-bound estimate before submitting;
4. records every submitted batch id in a small state file (written atomically) as soon as the provider
   accepts the batch, so that a run killed later resumes polling the same batches when started again:
   nothing is submitted twice (only a kill inside that moment leaves a batch the next run does not know);
5. polls with backoff, downloads each finished batch, saves its raw results beside the state file (again
   atomically: results are kept even if the process dies while writing), and matches them back by
   ``custom_id`` into input order, parsed by the provider exactly as a live reply;
6. prices each reply at the batch rate (``price_factor`` times the live price: half by default) and keeps
   the live price beside it (`BatchAPIStats`).

Every input gets one `JudgeResponse`, in order: a failed item, expired or cancelled request, unreadable
line or a batch that failed as a whole gives ``success=False`` with the reason, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from loguru import logger

from judgekit._ratelimit import estimate_prompt_tokens
from judgekit.batching.engine import BatchStats, make_bar
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderError
from judgekit.pipeline import Pipeline
from judgekit.pricing import cost_usd
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = [
    "BATCH_FAILED",
    "BATCH_PENDING",
    "RESULT_MISSING",
    "TRANSFER_TIMEOUT",
    "BatchAPIOptions",
    "BatchAPIStats",
    "BatchBackend",
    "BatchStatus",
    "batch_api_options",
    "failed_response",
    "run_batch_api",
]

BATCH_FAILED = "BatchFailed"
"""``error_type`` of items whose whole batch failed (rejected, failed validation) or was lost."""
BATCH_PENDING = "BatchPending"
"""``error_type`` of items whose batch had not ended within ``max_wait``: run again to resume."""
RESULT_MISSING = "BatchResultMissing"
"""``error_type`` of items a finished batch returned no result for."""
T = TypeVar("T")
_STATE_VERSION = 1
TRANSFER_TIMEOUT = 600.0
"""Seconds allowed per batch API call at least (an upload or download may be hundreds of megabytes)."""


@dataclass(frozen=True)
class BatchAPIOptions:
    """How a run through a provider's batch API behaves.

    - ``state_path``: the state file (batch ids; raw results are saved beside it). Run again with the same
      path to resume after a kill. None keeps the state in memory only (not resumable).
    - ``poll_interval`` / ``max_poll_interval``: seconds between status checks; the interval grows by half
      after every check that finds a batch still running, up to the maximum.
    - ``max_wait``: stop polling after this many seconds (None: wait until the batches end, up to 24 h at
      the provider); unfinished items then fail with ``error_type="BatchPending"`` and a re-run resumes them.
    - ``price_factor``: the batch price as a share of the live price (both vendors: 0.5).
    - ``max_requests`` / ``max_bytes``: per-batch limits below the provider's own (None: the provider's).
    """

    state_path: str | os.PathLike[str] | None = None
    poll_interval: float = 30.0
    max_poll_interval: float = 600.0
    max_wait: float | None = None
    price_factor: float = 0.5
    max_requests: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("poll_interval", "max_poll_interval"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive seconds, got {getattr(self, name)!r}", name)
        if self.max_wait is not None and not self.max_wait >= 0:
            raise ConfigError(f"max_wait must be seconds >= 0 or None, got {self.max_wait!r}", "max_wait")
        if not 0 < self.price_factor <= 1:
            raise ConfigError(f"price_factor must be in (0, 1], got {self.price_factor!r}", "price_factor")
        for name in ("max_requests", "max_bytes"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}", name)


def batch_api_options(value: bool | BatchAPIOptions | dict[str, Any] | None) -> BatchAPIOptions:
    """``batch_api=`` as given to ``evaluate_batch``: True (the defaults), a dict of fields, or options."""
    if value is True:
        return BatchAPIOptions()
    if isinstance(value, BatchAPIOptions):
        return value
    if isinstance(value, dict):
        try:
            return BatchAPIOptions(**value)
        except TypeError as exc:
            raise ConfigError(f"batch_api: {exc}", "batch_api") from None
    raise ConfigError(f"batch_api must be True, a dict or BatchAPIOptions, got {type(value).__name__}", "batch_api")


@dataclass
class BatchStatus:
    """A provider batch as one poll saw it. ``state``: running, ended (results to download) or failed (as a
    whole: ``error`` says why; nothing to download)."""

    state: Literal["running", "ended", "failed"]
    provider_status: str
    done: int = 0
    failed: int = 0
    error: str | None = None


class BatchBackend(Protocol):
    """What a provider supplies for batch judging (`JudgeInterface.batch_backend`). It owns the wire format:
    the request body of one item, the batch calls, and reading one result line exactly as a live reply."""

    provider: str
    max_requests: int
    max_bytes: int

    def request_body(self, request: JudgeRequest) -> dict[str, Any]:
        """The body of one request (what a live call would send), without the ``custom_id``."""
        ...

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """One line of the provider's batch input."""
        ...

    async def submit(self, lines: Sequence[bytes]) -> str:
        """Create a batch of these JSON lines; returns its id. Raises `ProviderError`."""
        ...

    async def poll(self, batch_id: str) -> BatchStatus:
        """The batch's status. Raises `ProviderError`."""
        ...

    async def download(self, batch_id: str) -> list[dict[str, Any]]:
        """The raw result lines of an ended batch. Raises `ProviderError`."""
        ...

    def read(self, line: dict[str, Any]) -> tuple[str, JudgeResponse]:
        """``(custom_id, response)`` of one result line; a per-item failure is ``success=False``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass
class BatchAPIStats(BatchStats):
    """`BatchStats` of a batch-API run: ``cost_usd`` is at the batch rate, ``live_cost_usd`` what the same
    tokens would have cost live; ``batches`` were submitted by this run, ``resumed`` found in the state file.
    It counts requests (a swapped comparative or pairwise item is two)."""

    live_cost_usd: float | None = None
    batches: int = 0
    resumed: int = 0
    submitted_requests: int = 0
    batch_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        line = super().__str__()
        if self.cost_usd is not None and self.live_cost_usd is not None:
            line += f" at the batch rate (live rate: ${self.live_cost_usd:.4f})"
        return f"{line}; {self.batches} batches submitted ({self.submitted_requests} requests), {self.resumed} resumed"


def failed_response(
    pipeline: Pipeline, exc: ProviderError, config: JudgeConfig, error_type: str | None = None
) -> JudgeResponse:
    """The response of an item that failed in (or with) its batch: the pipeline's usual failure, with
    ``error_type`` naming what happened when given (``BatchExpired``, ``BatchFailed``, ...)."""
    response = pipeline.failure(exc, config, time.perf_counter(), 1)
    if error_type is not None:
        response.error_type = error_type
    return response


# ------------------------------------------------------------------------------------------------ state


class _State:
    """The state file: the batches submitted for a run, each with its ``custom_ids`` and, once downloaded, the
    file holding its raw results. Every change is written atomically (temp file, fsync, rename)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self.batches: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                assert data.get("version") == _STATE_VERSION and isinstance(data.get("batches"), list)
            except (ValueError, AssertionError, AttributeError):
                raise ConfigError(
                    f"batch_api.state_path: {self.path} is not a judgekit batch state file; move it away", "state_path"
                ) from None
            self.batches = data["batches"]

    def add(self, entry: dict[str, Any]) -> None:
        self.batches.append(entry)
        self.save()

    def save(self) -> None:
        if self.path is not None:
            _atomic_write(self.path, json.dumps({"version": _STATE_VERSION, "batches": self.batches}).encode())

    def results_path(self, batch_id: str) -> Path | None:
        return None if self.path is None else self.path.with_name(f"{self.path.name}.{batch_id}.jsonl")

    def store_results(self, entry: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        path = self.results_path(entry["id"])
        if path is not None:
            _atomic_write(path, "".join(json.dumps(line) + "\n" for line in lines).encode())
            entry["results"] = path.name
            self.save()

    def load_results(self, entry: dict[str, Any]) -> list[dict[str, Any]] | None:
        name = entry.get("results")
        if self.path is None or not name:
            return None
        path = self.path.with_name(name)
        try:
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            return None  # gone or damaged: download again


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------------------ engine


@dataclass
class _Item:
    """One distinct request: its line and the input positions it answers."""

    custom_id: str
    request: JudgeRequest
    line: bytes
    indices: list[int]


class _Run:
    def __init__(
        self,
        pipeline: Pipeline,
        backend: BatchBackend,
        options: BatchAPIOptions,
        progress: bool | dict[str, Any],
        total: int,
    ) -> None:
        self.pipeline, self.backend, self.options = pipeline, backend, options
        self.state = _State(options.state_path)
        self.stats = BatchAPIStats()
        self.results: list[JudgeResponse | None] = [None] * total
        self.running: dict[str, tuple[dict[str, Any], list[_Item]]] = {}  # batch id -> (state entry, items)
        self.provider_status: dict[str, str] = {}
        self.provider_done: dict[str, int] = {}  # batch id -> requests the provider reports finished
        self.covered: set[str] = set()  # custom_ids answered from saved results or in a resumed batch
        bar_options = {"desc": "batch API", **(progress if isinstance(progress, dict) else {})}
        self.bar = make_bar(total, bar_options if progress else False)

    async def call(self, send: Callable[[], Awaitable[T]]) -> T:
        """One batch API round trip through the pipeline (retries, backoff, concurrency), with a timeout fit
        for uploading or downloading a large file."""
        config = self.pipeline.config
        return await self.pipeline.call(send, config.merged(timeout=max(config.timeout, TRANSFER_TIMEOUT)))

    # -- results -----------------------------------------------------------------------------------

    def resolve(self, item: _Item, response: JudgeResponse) -> None:
        """Answer every input position of ``item``; a fresh success is priced and stored in the cache."""
        live = None
        if response.success and not response.cached:
            price = self.pipeline.price(response.model_used or None) or self.pipeline.price()
            live = cost_usd(response.usage, price)
            response.cost_usd = None if live is None else live * self.options.price_factor
            key = self.pipeline.cache_key(item.request) if self.pipeline.cache is not None else None
            if key is not None:
                self.pipeline.cache_put(key, response)
        for index in item.indices:
            self.settle(index, response, live)

    def settle(self, index: int, response: JudgeResponse, live_cost: float | None = None) -> None:
        """Answer input position ``index``; ``live_cost``: what the reply would have cost live."""
        self.results[index] = response
        self.stats.add(response)
        if live_cost is not None:
            self.stats.live_cost_usd = (self.stats.live_cost_usd or 0.0) + live_cost
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()

    def _postfix(self, refresh: bool = False) -> None:
        if self.bar is None:
            return
        in_progress = sum(len(items) for _, items in self.running.values())
        fields = {
            "submitted": str(self.stats.batches + self.stats.resumed),
            "in_progress": str(in_progress),
            "completed": str(self.stats.succeeded),
            "failed": str(self.stats.failed),
        }
        if statuses := sorted(set(self.provider_status.values())):
            done = sum(self.provider_done.values())
            fields["status"] = ",".join(statuses) + (f" ({done} done)" if done else "")
        if self.stats.cost_usd is not None:
            fields["cost"] = f"${self.stats.cost_usd:.4f}"
        self.bar.set_postfix(fields, refresh=refresh)

    def fail_items(self, items: list[_Item], message: str, error_type: str) -> None:
        config = self.pipeline.config
        exc = ProviderError(message, provider=self.backend.provider, model=config.model_name)
        for item in items:
            self.resolve(item, failed_response(self.pipeline, exc, config, error_type))

    # -- batches -----------------------------------------------------------------------------------

    def read(self, line: dict[str, Any]) -> tuple[str, JudgeResponse]:
        """One result line as the provider reads it, then finished as every live reply is (the reasoning split
        off the answer: `Pipeline.final_answer`). Raises when the line names no ``custom_id``."""
        custom_id, response = self.backend.read(line)
        config = self.pipeline.config
        try:
            return custom_id, self.pipeline.final_answer(response, config)
        except ProviderError as exc:
            return custom_id, failed_response(self.pipeline, exc, config)

    def deliver(self, entry: dict[str, Any], items: list[_Item], lines: list[dict[str, Any]]) -> None:
        by_id: dict[str, JudgeResponse] = {}
        unreadable = 0
        for line in lines:
            try:
                custom_id, response = self.read(line)
            except Exception as exc:  # a line we cannot even attribute
                unreadable += 1
                logger.warning(
                    "judgekit: unreadable batch result line in {}: {}: {}", entry["id"], type(exc).__name__, exc
                )
                continue
            by_id[custom_id] = response
        missing = []
        for item in items:
            response = by_id.get(item.custom_id)
            if response is None:
                missing.append(item)
            else:
                self.resolve(item, response)
        if missing:
            extra = f" ({unreadable} result lines were unreadable)" if unreadable else ""
            self.fail_items(missing, f"batch {entry['id']} returned no result for this item{extra}", RESULT_MISSING)

    async def submit(self, items: list[_Item]) -> None:
        lines = [item.line for item in items]
        try:
            batch_id = await self.call(lambda: _once(self.backend.submit(lines)))
        except ProviderError as exc:
            self.fail_items(items, f"the batch was not accepted: {exc}", BATCH_FAILED)
            return
        entry = {"id": batch_id, "provider": self.backend.provider, "custom_ids": [i.custom_id for i in items],
                 "created": time.time()}  # fmt: skip
        self.state.add(entry)  # before anything else: a kill from here on resumes this batch
        self.stats.batches += 1
        self.stats.submitted_requests += len(items)
        self.stats.batch_ids.append(batch_id)
        self.running[batch_id] = (entry, items)
        logger.info("judgekit: submitted {} batch {} ({} requests)", self.backend.provider, batch_id, len(items))
        self._postfix(refresh=True)

    async def check(self, batch_id: str) -> None:
        entry, items = self.running[batch_id]
        try:
            status = await self.call(lambda: self.backend.poll(batch_id))
        except ProviderError as exc:
            if exc.retryable:
                logger.warning("judgekit: polling batch {} failed: {}; will poll again", batch_id, exc)
                return
            del self.running[batch_id]
            if exc.status_code == 404:  # the provider does not know it (deleted, or another account): lost
                entry["failed"] = str(exc)
                self.state.save()
                self.fail_items(items, f"batch {batch_id} is gone: {exc}", BATCH_FAILED)
            else:  # a key or permission problem: the batch may well be fine, so a re-run resumes it
                self.fail_items(
                    items, f"batch {batch_id} could not be read: {exc}; run again to resume it", BATCH_PENDING
                )
            return
        self.provider_status[batch_id] = status.provider_status
        self.provider_done[batch_id] = status.done + status.failed
        if status.state == "running":
            return
        del self.running[batch_id]
        self.provider_status.pop(batch_id, None)
        self.provider_done.pop(batch_id, None)
        if status.state == "failed":
            entry["failed"] = status.error or status.provider_status
            self.state.save()
            self.fail_items(items, f"batch {batch_id} {status.provider_status}: {status.error}", BATCH_FAILED)
            return
        try:
            lines = await self.call(lambda: self.backend.download(batch_id))
        except ProviderError as exc:
            if exc.retryable:  # poll (and download) again next round
                self.running[batch_id] = (entry, items)
                logger.warning("judgekit: downloading batch {} failed: {}; will retry", batch_id, exc)
                return
            self.fail_items(items, f"the results of batch {batch_id} could not be downloaded: {exc}", BATCH_FAILED)
            return
        self.state.store_results(entry, lines)
        self.deliver(entry, items, lines)

    async def poll_all(self) -> None:
        interval = self.options.poll_interval
        started = time.monotonic()
        while self.running:
            await asyncio.gather(*(self.check(batch_id) for batch_id in list(self.running)))
            self._postfix(refresh=True)
            if not self.running:
                break
            waited = time.monotonic() - started
            if self.options.max_wait is not None and waited >= self.options.max_wait:
                for batch_id, (_, items) in list(self.running.items()):
                    status = self.provider_status.get(batch_id, "running")
                    self.fail_items(
                        items,
                        f"batch {batch_id} still {status} after {waited:.0f}s; run again with the same state file "
                        "to resume it",
                        BATCH_PENDING,
                    )
                self.running.clear()
                break
            await asyncio.sleep(interval)
            interval = min(self.options.max_poll_interval, interval * 1.5)


async def run_batch_api(
    pipeline: Pipeline,
    requests: Sequence[JudgeRequest],
    options: BatchAPIOptions,
    *,
    progress: bool | dict[str, Any] = False,
    max_cost: float | None = None,
    max_tokens_total: int | None = None,
) -> tuple[list[JudgeResponse], BatchAPIStats]:
    """Judge ``requests`` through the provider batch API of ``pipeline``'s provider; one response per request,
    in input order. The provider's ``batch_backend(config)`` supplies the `BatchBackend`.
    """
    config: JudgeConfig = pipeline.config
    backend: BatchBackend | None = pipeline.provider.batch_backend(config)
    if backend is None:
        raise ConfigError(
            f"{pipeline.provider_name} has no batch API; use api_type openai, azure or anthropic, or batch_api=False",
            "batch_api",
        )
    started = time.perf_counter()
    run = _Run(pipeline, backend, options, progress, len(requests))
    try:
        items = _cache_pass(run, requests)
        pending = _resume(run, items)
        new = [item for item in pending if item.custom_id not in run.covered]
        new = _within_budget(run, new, max_cost, max_tokens_total)
        for chunk in _split(new, options.max_requests or backend.max_requests, options.max_bytes or backend.max_bytes):
            await run.submit(chunk)
        await run.poll_all()
    finally:
        if run.bar is not None:
            run.bar.close()
        await backend.aclose()
    run.stats.wall_s = time.perf_counter() - started
    results = run.results
    assert all(r is not None for r in results), "batch API run left an item without a result"
    return results, run.stats  # type: ignore[return-value]


def _cache_pass(run: _Run, requests: Sequence[JudgeRequest]) -> list[_Item]:
    """Answer cache hits now; group the rest into distinct request lines (first appearance order)."""
    pipeline, backend = run.pipeline, run.backend
    items: dict[str, _Item] = {}
    for index, request in enumerate(requests):
        key = pipeline.cache_key(request) if pipeline.cache is not None else None
        hit = pipeline.cache_get(key) if key is not None else None
        if hit is not None:
            run.settle(index, hit)
            continue
        body = backend.request_body(request)
        custom_id = "jk-" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:40]
        item = items.get(custom_id)
        if item is None:
            line = json.dumps(backend.entry(custom_id, body), separators=(",", ":")).encode()
            items[custom_id] = _Item(custom_id, request, line, [index])
        else:
            item.indices.append(index)
    return list(items.values())


def _resume(run: _Run, items: list[_Item]) -> list[_Item]:
    """Pick up the batches of an earlier run that hold some of ``items``; returns the items still to judge.

    A batch with saved results answers its items from disk; an unfinished one is polled again. Items whose
    earlier batch failed as a whole, or that failed inside a finished batch, are judged again.
    """
    by_id = {item.custom_id: item for item in items}
    for entry in run.state.batches:
        if entry.get("provider") != run.backend.provider or entry.get("failed"):
            continue
        mine = [by_id[cid] for cid in entry["custom_ids"] if cid in by_id and cid not in run.covered]
        if not mine:
            continue
        saved = run.state.load_results(entry)
        if saved is None:
            run.running[entry["id"]] = (entry, mine)
            run.stats.resumed += 1
            run.covered.update(item.custom_id for item in mine)
            continue
        answers: dict[str, JudgeResponse] = {}
        for line in saved:
            with contextlib.suppress(Exception):
                custom_id, response = run.read(line)
                answers[custom_id] = response
        for item in mine:
            response = answers.get(item.custom_id)
            if response is not None and response.success:
                run.resolve(item, response)
                run.covered.add(item.custom_id)
    if run.stats.resumed:
        logger.info("judgekit: resuming {} {} batches from {}", run.stats.resumed, run.backend.provider, run.state.path)
    return [item for item in items if run.results[item.indices[0]] is None]


def _within_budget(run: _Run, items: list[_Item], max_cost: float | None, max_tokens_total: int | None) -> list[_Item]:
    """The items whose estimated cost fits the budget (in input order); the rest fail as not sent.

    The estimate is an upper bound: the prompt's estimated tokens plus ``max_tokens`` of reply each, at the
    batch rate. Batches resumed from the state file count first: they are spent already.
    """
    if max_cost is None and max_tokens_total is None:
        return items
    pipeline, factor = run.pipeline, run.options.price_factor
    price = pipeline.price()
    spent_tokens, spent_cost = 0, 0.0

    def estimate(item: _Item) -> tuple[int, float]:
        config = pipeline.config_for(item.request)
        prompt, reply = estimate_prompt_tokens(item.request.messages), config.max_tokens
        cost = 0.0 if price is None else (prompt * price[0] + reply * price[1]) / 1e6 * factor
        return prompt + reply, cost

    for _, resumed in run.running.values():
        for item in resumed:
            tokens, cost = estimate(item)
            spent_tokens, spent_cost = spent_tokens + tokens, spent_cost + cost
    fits: list[_Item] = []
    for position, item in enumerate(items):
        tokens, cost = estimate(item)
        over_tokens = max_tokens_total is not None and spent_tokens + tokens > max_tokens_total
        over_cost = max_cost is not None and spent_cost + cost > max_cost
        if over_tokens or over_cost:
            reason = (
                f"budget exceeded: max_tokens_total={max_tokens_total} (estimated {spent_tokens + tokens} tokens)"
                if over_tokens
                else f"budget exceeded: max_cost=${max_cost:g} (estimated ${spent_cost + cost:.4f} at the batch rate)"
            )
            for rest in items[position:]:
                for index in rest.indices:
                    run.settle(index, pipeline.budget_failure(reason, pipeline.config_for(rest.request)))
            run.stats.stopped = reason
            logger.warning("judgekit: {}: {} of {} requests not submitted", reason, len(items) - position, len(items))
            break
        spent_tokens, spent_cost = spent_tokens + tokens, spent_cost + cost
        fits.append(item)
    return fits


async def _once(submission: Awaitable[T]) -> T:
    """A submission is retried only when the provider answered no (an HTTP status): after a timeout or a
    dropped connection the batch may exist, and submitting again could judge (and bill) it twice."""
    try:
        return await submission
    except ProviderError as exc:
        if exc.status_code is None:
            exc.retryable = False
        raise


def _split(items: list[_Item], max_requests: int, max_bytes: int) -> list[list[_Item]]:
    """Consecutive chunks of at most ``max_requests`` lines and ``max_bytes`` bytes (newlines included)."""
    chunks: list[list[_Item]] = []
    current: list[_Item] = []
    size = 0
    for item in items:
        line_size = len(item.line) + 1
        if line_size > max_bytes:
            raise ConfigError(
                f"one request is {line_size} bytes, over the batch limit of {max_bytes} bytes", "batch_api.max_bytes"
            )
        if current and (len(current) >= max_requests or size + line_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += line_size
    if current:
        chunks.append(current)
    return chunks

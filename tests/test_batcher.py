"""DynamicBatcher: batches from threads and event loops, order, errors, queue limits, async processing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from judgekit.batching.dynamic import DynamicBatcher, QueueFullError


def test_concurrent_callers_are_batched_in_order() -> None:
    seen: list[int] = []

    def process(batch: list[int]) -> list[int]:
        seen.append(len(batch))
        time.sleep(0.02)
        return [x * 10 for x in batch]

    batcher = DynamicBatcher(process, max_batch_size=8, max_wait_s=0.05)

    async def main() -> list[int]:
        return await asyncio.gather(*(batcher.asubmit(i) for i in range(32)))

    assert asyncio.run(main()) == [i * 10 for i in range(32)]
    assert max(seen) == 8 and batcher.stats.batches == len(seen) and batcher.stats.items == 32
    assert batcher.stats.as_dict()["batched_fraction"] == 1.0
    batcher.close()


def test_threads_share_batches() -> None:
    batcher = DynamicBatcher(lambda b: [x + 1 for x in b], max_batch_size=4, max_wait_s=0.1)
    results: dict[int, int] = {}

    def worker(i: int) -> None:
        results[i] = batcher.submit(i).result(timeout=5)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i + 1 for i in range(8)}
    assert batcher.stats.as_dict()["max_batch_size"] > 1
    batcher.close()


def test_a_failing_batch_fails_its_items_only() -> None:
    def process(batch: list[int]) -> list[int]:
        if 3 in batch:
            raise ValueError("bad batch")
        return batch

    batcher = DynamicBatcher(process, max_batch_size=1, max_wait_s=0)
    futures = [batcher.submit(i) for i in range(5)]
    assert [f.exception() is None for f in futures] == [True, True, True, False, True]
    with pytest.raises(ValueError, match="bad batch"):
        futures[3].result()
    batcher.close()


def test_wrong_result_count_is_an_error() -> None:
    batcher = DynamicBatcher(lambda b: b[:-1], max_batch_size=2, max_wait_s=0.05)
    with pytest.raises(RuntimeError, match="returned"):
        batcher.submit(1).result(timeout=5)
    batcher.close()


def test_queue_limit() -> None:
    gate = threading.Event()
    batcher = DynamicBatcher(lambda b: (gate.wait(5), b)[1], max_batch_size=1, max_wait_s=0, max_queue=2)
    first = batcher.submit(0)
    time.sleep(0.05)  # the worker holds item 0
    batcher.submit(1)
    batcher.submit(2)
    with pytest.raises(QueueFullError, match="queue full"):
        batcher.submit(3)
    gate.set()
    assert first.result(timeout=5) == 0
    batcher.close()


def test_async_process_with_several_batches_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def process(batch: list[int]) -> list[int]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return [-x for x in batch]

    batcher = DynamicBatcher(process, max_batch_size=4, max_wait_s=0.01, concurrency=4)

    async def main() -> list[int]:
        return await asyncio.gather(*(batcher.asubmit(i) for i in range(16)))

    assert asyncio.run(main()) == [-i for i in range(16)]
    assert peak > 1  # batches overlapped (how much depends on how busy the machine is)
    batcher.close()


def test_a_timeout_counts_from_the_start_of_the_items_batch_not_its_queueing() -> None:
    release = threading.Event()

    def process(batch: list[int]) -> list[int]:
        if 0 in batch:
            release.wait(10)  # the first batch holds the worker
        return [x + 1 for x in batch]

    batcher = DynamicBatcher(process, max_batch_size=1, max_wait_s=0.0)

    async def main() -> list[int]:
        first = asyncio.ensure_future(batcher.asubmit(0))
        queued = asyncio.ensure_future(batcher.asubmit(1, timeout=1.0))
        await asyncio.sleep(1.5)  # longer than the queued item's timeout, spent in the queue
        assert not queued.done()
        release.set()
        return [await first, await queued]

    assert asyncio.run(main()) == [1, 2]
    batcher.close()


def test_a_batch_running_past_the_timeout_raises_and_a_cancelled_queued_item_never_runs() -> None:
    release, seen = threading.Event(), []

    def process(batch: list[int]) -> list[int]:
        seen.extend(batch)
        if 0 in batch:
            release.wait(10)
        return batch

    batcher = DynamicBatcher(process, max_batch_size=1, max_wait_s=0.0)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await batcher.asubmit(0, timeout=0.05)  # its batch runs until released
        queued = asyncio.ensure_future(batcher.asubmit(1, timeout=5))
        await asyncio.sleep(0.05)
        queued.cancel()  # the caller gives up while the item waits: it is dropped
        await asyncio.gather(queued, return_exceptions=True)
        await asyncio.sleep(0)  # the loop passes the cancellation on to the queued item
        release.set()
        assert await batcher.asubmit(2, timeout=5) == 2

    asyncio.run(main())
    assert seen == [0, 2]
    batcher.close()

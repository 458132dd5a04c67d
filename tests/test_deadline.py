"""The per-attempt timeout of the pipeline (`judgekit._deadline`): many attempts in flight share one timer
per timeout length, and each still ends at its own deadline, as ``asyncio.timeout`` would end it."""

from __future__ import annotations

import asyncio
import time

import pytest

from judgekit import JudgeConfig, JudgeInterface, JudgeRequest, JudgeResponse
from judgekit._deadline import deadline


class Sleepy(JudgeInterface):
    """An in-process provider that takes as many seconds as its prompt says (no HTTP timeout of its own)."""

    provider_name = "sleepy"

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        await asyncio.sleep(float(request.messages[-1]["content"]))
        return JudgeResponse(content="1", model_used="sleepy")


def ask(seconds: float) -> JudgeRequest:
    return JudgeRequest(messages=[{"role": "user", "content": str(seconds)}])


async def test_each_attempt_ends_at_its_own_deadline_among_many_in_flight() -> None:
    judge = Sleepy(JudgeConfig(model_name="m", timeout=0.5, num_retries=0, max_concurrent=256))

    async def one(i: int) -> tuple[bool, float, str | None]:
        await asyncio.sleep(0.01 * (i % 20))  # staggered starts: deadlines queue in start order
        started = time.perf_counter()
        response = await judge.pipeline.aevaluate(ask(5.0 if i % 3 == 0 else 0.01 * (i % 7)))
        return response.success, time.perf_counter() - started, response.error_type

    outcomes = await asyncio.gather(*(one(i) for i in range(120)))
    for i, (success, took, error_type) in enumerate(outcomes):
        if i % 3 == 0:  # slow: timed out at its own deadline, never before it, and not long after
            assert not success and error_type == "JudgeTimeoutError"
            assert 0.49 <= took < 2.5, (i, took)
        else:  # fast: never cancelled by a neighbour's deadline
            assert success, (i, error_type)
    fast = await judge.pipeline.aevaluate(ask(0.01))  # nothing left over cancels a later attempt
    assert fast.success


async def test_timeout_lengths_do_not_mix_and_the_message_names_the_limit() -> None:
    short = Sleepy(JudgeConfig(model_name="m", timeout=0.05, num_retries=0))
    long = Sleepy(JudgeConfig(model_name="m", timeout=1.0, num_retries=0))
    slow_long, slow_short = await asyncio.gather(long.pipeline.aevaluate(ask(0.3)), short.pipeline.aevaluate(ask(0.3)))
    assert slow_long.success
    assert not slow_short.success and "no reply within 0.05s" in slow_short.error_message


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def hold() -> None:
        async with deadline(5.0):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(hold())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(TimeoutError):  # and the next deadline on the same length still fires
        async with deadline(0.02):
            await asyncio.sleep(1)


async def test_finished_deadlines_do_not_pile_up_until_the_timer_fires() -> None:
    from judgekit import _deadline

    for _ in range(2000):
        async with deadline(60.0):
            await asyncio.sleep(0)
    assert len(_deadline._queues.get()[60.0].entries) <= 1  # a long timeout's queue holds what is still open

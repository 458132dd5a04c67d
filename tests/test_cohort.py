"""The cohort barrier behind verl group rewards: a group is judged once when complete, or after a timeout
(an injected clock) with the members that arrived; and `acompute_group_score` against the local server."""

from __future__ import annotations

import asyncio
import math
import random
import re

import pytest

from judgekit.errors import ConfigError
from judgekit.reward.cohort import CohortBarrier
from judgekit.reward.verl import acompute_group_score
from judgekit.testing import FakeLLMServer
from judgekit.testing.groups import rule_judge


class ManualClock:
    """An injectable ``sleep``: sleepers wake only when the test advances the clock past their deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in self.sleepers:
            if deadline <= self.now and not future.done():
                future.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)


def test_barrier_judges_each_complete_group_once_and_times_out_the_rest() -> None:
    async def main() -> None:
        clock = ManualClock()
        calls: list[tuple[list[str], bool]] = []

        async def judge(members: list[str], complete: bool) -> list[str]:
            calls.append((list(members), complete))
            return [f"{m}:{len(members)}" for m in members]

        barrier: CohortBarrier[str, str] = CohortBarrier(judge, 3, timeout=10, sleep=clock.sleep)
        arrivals = [("a", "a0"), ("b", "b0"), ("a", "a1"), ("b", "b1"), ("a", "a2")]  # b never completes
        tasks = [asyncio.ensure_future(barrier.submit(key, m)) for key, m in arrivals]
        await clock.advance(0)
        assert [t.done() for t in tasks] == [True, False, True, False, True]
        assert [t.result() for t in tasks if t.done()] == ["a0:3", "a1:3", "a2:3"]
        await clock.advance(9.9)
        assert barrier.waiting == 2 and not tasks[1].done()
        await clock.advance(0.2)
        assert [tasks[1].result(), tasks[3].result()] == ["b0:2", "b1:2"]
        assert calls == [(["a0", "a1", "a2"], True), (["b0", "b1"], False)]
        assert barrier.groups_judged == 2 and barrier.groups_timed_out == 1

    asyncio.run(main())


def test_barrier_failure_reaches_every_member() -> None:
    async def main() -> None:
        async def judge(members: list[int], complete: bool) -> list[int]:
            raise RuntimeError("judge down")

        barrier: CohortBarrier[int, int] = CohortBarrier(judge, 2, timeout=5)
        results = await asyncio.gather(barrier.submit("k", 1), barrier.submit("k", 2), return_exceptions=True)
        assert [str(r) for r in results] == ["judge down", "judge down"]

    asyncio.run(main())


def test_barrier_checks_its_settings() -> None:
    async def judge(members: list[int], complete: bool) -> list[int]:
        return members

    with pytest.raises(ConfigError, match="group_size"):
        CohortBarrier(judge, 0, timeout=1)
    with pytest.raises(ConfigError, match="group_timeout"):
        CohortBarrier(judge, 2, timeout=0)


def quality(text: str) -> float:
    return float(re.search(r"quality (\d+)", text)[1])


def test_acompute_group_score_four_groups_of_eight(server: FakeLLMServer) -> None:
    server.default_reply = rule_judge(quality)
    kwargs = {"base_url": server.base_url, "api_type": "openai", "model_name": "judge", "group_size": 8,
              "group_timeout": 0.5, "max_retries": 0}  # fmt: skip
    rng = random.Random(3)
    samples = [(g, k, rng.randint(1, 10)) for g in range(4) for k in range(8)]
    rng.shuffle(samples)  # members of different groups arrive interleaved

    def run(samples: list[tuple[int, int, int]], tag: str) -> list[dict]:
        async def main() -> list[dict]:
            calls = [
                acompute_group_score(
                    "src",
                    f"group {g} member {k} quality {q}",
                    "42",
                    {"question": f"q{g}", "uid": f"{tag}{g}"},
                    **kwargs,
                )
                for g, k, q in samples
            ]
            return await asyncio.wait_for(asyncio.gather(*calls), timeout=30)

        return asyncio.run(main())

    out = run(samples, "u")
    assert server.count("/v1/chat/completions") == 4
    assert [o["score"] for o in out] == [pytest.approx((q - 1) / 9) for _, _, q in samples]
    assert all(o["group_size"] == 8 and o["group_fallback"] == 0 and o["judge_ok"] for o in out)

    server.reset()
    missing = [s for s in samples if s[0] != 0 or s[1] != 7]  # group 0 lacks one member: timeout, judged with 7
    out = run(missing, "v")
    assert server.count("/v1/chat/completions") == 4
    by_group = {g: [o for (gg, _, _), o in zip(missing, out, strict=True) if gg == g] for g in range(4)}
    assert all(o["group_size"] == 7 and o["group_fallback"] == 1 for o in by_group[0])
    assert all(o["group_size"] == 8 and o["group_fallback"] == 0 for g in (1, 2, 3) for o in by_group[g])
    assert not any(math.isnan(o["score"]) for o in out)

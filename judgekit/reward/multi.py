"""Several judges, one reward: average or majority vote, with failed judges left out and reported."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.reward.system import BaseJudgeReward, JudgeRewardSystem

__all__ = ["MultiJudgeReward"]


class MultiJudgeReward:
    """Combines reward systems: ``mode="mean"`` averages their rewards, ``"vote"`` takes the majority of
    ``reward >= threshold``. Only judges whose own judgement succeeded count (``source`` judge or cache);
    the others are listed in ``judges_failed``. When none succeeded the reward is None (``source`` failed).
    """

    def __init__(self, judges: Sequence[BaseJudgeReward | Mapping[str, Any]], *,
                 mode: Literal["mean", "vote"] = "mean", threshold: float = 0.5,
                 names: Sequence[str] | None = None) -> None:
        if not judges:
            raise ConfigError("MultiJudgeReward needs at least one judge", "judges")
        if mode not in ("mean", "vote"):
            raise ConfigError(f"mode must be 'mean' or 'vote', got {mode!r}", "mode")
        self.systems = [j if isinstance(j, BaseJudgeReward) else JudgeRewardSystem(j) for j in judges]
        self.names = list(names) if names is not None else [f"judge{i}" for i in range(len(self.systems))]
        self.mode, self.threshold = mode, threshold

    async def areward_batch(self, prompts: Sequence[str], completions: Sequence[str],
                            answers: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """One combined reward dict per sample, in order."""
        per_judge = await asyncio.gather(*(s.areward_batch(prompts, completions, answers) for s in self.systems))
        return [self._combine([results[i] for results in per_judge]) for i in range(len(completions))]

    def reward_batch(self, prompts: Sequence[str], completions: Sequence[str],
                     answers: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """Synchronous twin of `areward_batch`."""
        return run_sync(self.areward_batch(prompts, completions, answers))

    def reward(self, prompt: str, completion: str, answer: str | None = None) -> dict[str, Any]:
        return self.reward_batch([prompt], [completion], [answer])[0]

    def _combine(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        pairs = list(zip(self.names, results, strict=True))
        ok = [(n, r) for n, r in pairs if r["source"] in ("judge", "cache")]
        failed = {n: r["error"] or r["source"] for n, r in pairs if r["source"] not in ("judge", "cache")}
        scores = {n: r["reward"] for n, r in ok}
        if not ok:
            return {"reward": None, "source": "failed", "scores": scores, "judges_failed": failed,
                    "error": "every judge failed"}
        values = list(scores.values())
        if self.mode == "mean":
            reward = statistics.fmean(values)
        else:
            reward = float(sum(v >= self.threshold for v in values) * 2 > len(values))
        return {"reward": reward, "source": "multi_judge", "scores": scores, "judges_failed": failed, "error": None}

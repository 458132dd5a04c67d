"""Several judges, one reward: the jury's vote (`judgekit.jury.tally`) over the judges that succeeded."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.jury import tally
from judgekit.reward.system import BaseJudgeReward, JudgeRewardSystem

__all__ = ["MultiJudgeReward"]


class MultiJudgeReward:
    """Combines reward systems as a jury votes (`judgekit.jury.tally`): ``mode="mean"`` (or ``"median"``,
    ``"weighted"`` with ``weights``) combines their rewards; ``"vote"`` takes the majority of
    ``reward >= threshold`` (a tie gives 0.5 with ``tie`` True). Only judges whose own judgement succeeded
    count (``source`` judge or cache); the others are listed in ``judges_failed``. With fewer than ``quorum``
    successful judges (default 1) the reward is None (``source`` failed), never a default.
    """

    def __init__(
        self,
        judges: Sequence[BaseJudgeReward | Mapping[str, Any]],
        *,
        mode: Literal["mean", "median", "weighted", "vote"] = "mean",
        threshold: float = 0.5,
        names: Sequence[str] | None = None,
        weights: Sequence[float] | None = None,
        quorum: int = 1,
    ) -> None:
        if not judges:
            raise ConfigError("MultiJudgeReward needs at least one judge", "judges")
        if mode not in ("mean", "median", "weighted", "vote"):
            raise ConfigError(f"mode must be 'mean', 'median', 'weighted' or 'vote', got {mode!r}", "mode")
        if (mode == "weighted") != (weights is not None) or (weights is not None and len(weights) != len(judges)):
            raise ConfigError('weights (one per judge) go with mode="weighted", and only with it', "weights")
        if not 1 <= quorum <= len(judges):
            raise ConfigError(f"quorum must be between 1 and the number of judges ({len(judges)})", "quorum")
        self.systems = [j if isinstance(j, BaseJudgeReward) else JudgeRewardSystem(j) for j in judges]
        self.names = list(names) if names is not None else [f"judge{i}" for i in range(len(self.systems))]
        self.mode, self.threshold, self.quorum = mode, threshold, quorum
        self.weights = dict(zip(self.names, weights, strict=True)) if weights is not None else None

    async def areward_batch(
        self, prompts: Sequence[str], completions: Sequence[str], answers: Sequence[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """One combined reward dict per sample, in order."""
        per_judge = await asyncio.gather(*(s.areward_batch(prompts, completions, answers) for s in self.systems))
        return [self._combine([results[i] for results in per_judge]) for i in range(len(completions))]

    def reward_batch(
        self, prompts: Sequence[str], completions: Sequence[str], answers: Sequence[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Synchronous twin of `areward_batch`."""
        return run_sync(self.areward_batch(prompts, completions, answers))

    def reward(self, prompt: str, completion: str, answer: str | None = None) -> dict[str, Any]:
        return self.reward_batch([prompt], [completion], [answer])[0]

    def _combine(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        pairs = list(zip(self.names, results, strict=True))
        ok = [(n, r) for n, r in pairs if r["source"] in ("judge", "cache")]
        failed = {n: r["error"] or r["source"] for n, r in pairs if r["source"] not in ("judge", "cache")}
        scores = {n: r["reward"] for n, r in ok}
        if len(ok) < self.quorum:
            return {
                "reward": None,
                "source": "failed",
                "scores": scores,
                "judges_failed": failed,
                "error": f"only {len(ok)} of {len(pairs)} judges succeeded (quorum {self.quorum})",
            }
        values = list(scores.values())
        weights = [self.weights[n] for n in scores] if self.weights is not None else None
        if self.mode == "vote":
            outcome = tally([int(v >= self.threshold) for v in values], "majority", group="verdict")
            reward = 0.5 if outcome.tie else float(outcome.value)
        else:
            outcome = tally(values, self.mode, weights, group="score")
            reward = outcome.value
        return {
            "reward": reward,
            "source": "multi_judge",
            "scores": scores,
            "judges_failed": failed,
            "error": None,
            "agreement": outcome.agreement,
            "tie": outcome.tie,
        }

"""Rubric rewards (RuscaRL / HealthBench style): each rubric item judged met / not met, points added up.

The bug this module exists to prevent: a grader that, after a few failed gradings, marked every item
"not present" and so scored the sample 0. Here an item whose grading still fails after ``max_retries``
makes the whole sample's reward ``None`` with the reason: a failure, never a score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.prompts import load_template
from judgekit.simplified import SimplifiedJudge

__all__ = ["RubricItem", "RubricReward", "RubricScore"]


@dataclass(frozen=True)
class RubricItem:
    """One rubric item: a criterion and its points (negative points for a penalty)."""

    criterion: str
    points: float

    @classmethod
    def of(cls, item: RubricItem | Mapping[str, Any]) -> RubricItem:
        if isinstance(item, RubricItem):
            return item
        if not isinstance(item, Mapping) or "criterion" not in item or "points" not in item:
            raise ConfigError(f"a rubric item needs 'criterion' and 'points', got {item!r:.80}", "rubric")
        return cls(str(item["criterion"]), float(item["points"]))


@dataclass
class RubricScore:
    """A sample's rubric reward: ``reward`` in [0, 1], or None with ``error`` when any grading failed."""

    reward: float | None
    earned: float | None
    possible: float
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class RubricReward:
    """Scores completions against rubrics with any judge.

    ``reward = clip(sum(points of met items) / sum(positive points), 0, 1)``; a met penalty item (negative
    points) subtracts. Items are judged concurrently; a failed grading is retried ``max_retries`` times.
    """

    def __init__(
        self, judge: SimplifiedJudge | JudgeInterface | None = None, *, max_retries: int = 2, **judge_settings: Any
    ) -> None:
        if isinstance(judge, JudgeInterface):
            judge = SimplifiedJudge(judge=judge)
        self.judge = judge if judge is not None else SimplifiedJudge(**judge_settings)
        self.max_retries = max_retries
        self._template = load_template("rubric_item")

    async def ascore(
        self, prompt: str, completion: str, rubric: Sequence[RubricItem | Mapping[str, Any]]
    ) -> RubricScore:
        """The rubric reward of one completion (async twin of `score`)."""
        items = [RubricItem.of(i) for i in rubric]
        possible = sum(i.points for i in items if i.points > 0)
        if possible <= 0:
            raise ConfigError("a rubric needs at least one item with positive points", "rubric")
        verdicts = await asyncio.gather(*(self._grade(prompt, completion, item) for item in items))
        rows = [
            {"criterion": i.criterion, "points": i.points, "met": met, "error": err}
            for i, (met, err) in zip(items, verdicts, strict=True)
        ]
        failed = [r for r in rows if r["met"] is None]
        if failed:
            names = "; ".join(f"{r['criterion'][:60]!r}: {r['error']}" for r in failed)
            return RubricScore(None, None, possible, rows, f"{len(failed)} rubric item(s) could not be graded: {names}")
        earned = sum(r["points"] for r in rows if r["met"])
        return RubricScore(min(1.0, max(0.0, earned / possible)), earned, possible, rows)

    async def _grade(self, prompt: str, completion: str, item: RubricItem) -> tuple[bool | None, str | None]:
        error = None
        for _ in range(self.max_retries + 1):
            result = await self.judge.aevaluate_binary(
                prompt, "", completion, output_format="yes/no", custom_prompt=self._template, criterion=item.criterion
            )
            if result["success"]:
                return bool(result["result"]), None
            error = result["error_message"]
        return None, error

    def score(self, prompt: str, completion: str, rubric: Sequence[RubricItem | Mapping[str, Any]]) -> RubricScore:
        """The rubric reward of one completion."""
        return run_sync(self.ascore(prompt, completion, rubric))

    async def ascore_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        rubrics: Sequence[Sequence[RubricItem | Mapping[str, Any]]],
    ) -> list[RubricScore]:
        """Rubric rewards of many completions, concurrently; one per completion, in order."""
        triples = zip(prompts, completions, rubrics, strict=True)
        return list(await asyncio.gather(*(self.ascore(p, c, r) for p, c, r in triples)))

    def score_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        rubrics: Sequence[Sequence[RubricItem | Mapping[str, Any]]],
    ) -> list[RubricScore]:
        """Synchronous twin of `ascore_batch`."""
        return run_sync(self.ascore_batch(prompts, completions, rubrics))

    def as_grpo_reward(self, rubric_column: str = "rubric", name: str = "judgekit_rubric_reward") -> Any:
        """A TRL reward function reading each sample's rubric from the ``rubric_column`` dataset column."""
        from judgekit.reward.trl import completion_text, prompt_text

        def reward_fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            rubrics = kwargs[rubric_column]
            scores = self.score_batch(
                [prompt_text(p) for p in prompts], [completion_text(c) for c in completions], rubrics
            )
            if callable(kwargs.get("log_extra")):
                kwargs["log_extra"]("rubric_error", [s.error or "" for s in scores])
            return [s.reward for s in scores]

        reward_fn.__name__ = reward_fn.__qualname__ = name
        return reward_fn

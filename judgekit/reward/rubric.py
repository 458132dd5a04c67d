"""Rubric rewards (RuscaRL / HealthBench style, and VerIF's hybrid): each rubric item met / not met, points added.

An item is graded by the judge (``{"criterion": ..., "points": ...}``) or by code (``{"check": SOURCE or
callable, "points": ...}``, VerIF's hard constraints); an item may carry both, and then the code grades it
unless ``run_checkers=False``. Checker *sources* are untrusted dataset input and run in a sandboxed worker pool
(`judgekit.reward.sandbox`); callables are your own code and run in-process.

The bug this module exists to prevent: a grader that, after a few failed gradings, marked every item
"not present" and so scored the sample 0. Here an item whose grading fails (a judge that still fails after
``max_retries``, a checker that raises, times out, returns a non-bool or breaks a sandbox limit) makes the
whole sample's reward ``None`` with the reason: a failure, never a score.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.prompts import load_template
from judgekit.reward.sandbox import DEFAULT_TIMEOUT_S, CheckerPool, CheckFailure, CheckOutcome, check_timeout
from judgekit.simplified import SimplifiedJudge

__all__ = ["Check", "RubricItem", "RubricReward", "RubricScore", "hybrid_rubric", "summarize"]

Check = str | Callable[[str], bool]
"""A checker: Python source defining ``check(response) -> bool`` (or VerIF's ``check_following``), or a callable."""


@dataclass(frozen=True)
class RubricItem:
    """One rubric item: its points (negative for a penalty) and a ``criterion`` for the judge, a ``check``
    (code), or both. ``name`` labels the item in failure reasons."""

    criterion: str | None
    points: float
    check: Check | None = None
    name: str | None = None

    @classmethod
    def of(cls, item: RubricItem | Mapping[str, Any], index: int = 0) -> RubricItem:
        if isinstance(item, RubricItem):
            return item
        if not isinstance(item, Mapping) or "points" not in item or not ("criterion" in item or "check" in item):
            raise ConfigError(
                f"rubric item {index} needs 'points' and a 'criterion' or a 'check', got {item!r:.80}", "rubric"
            )
        check = item.get("check")
        if check is not None and not (isinstance(check, str) or callable(check)):
            raise ConfigError(
                f"rubric item {index}: 'check' must be Python source or a callable, got {type(check).__name__}",
                "rubric",
            )
        criterion = item.get("criterion")
        name = item.get("name")
        return cls(
            None if criterion is None else str(criterion),
            float(item["points"]),
            check,
            str(name) if name is not None else None,
        )

    def label(self, index: int) -> str:
        """How failure reasons name this item: its ``name``, a callable's name, else its position."""
        if self.name:
            return self.name
        if self.check is not None:
            return getattr(self.check, "__name__", None) or f"checker {index}"
        return (self.criterion or "")[:60]


@dataclass
class RubricScore:
    """A sample's rubric reward: ``reward`` in [0, 1], or None with ``error`` when any grading failed.

    ``skipped`` counts code-only items left out of ``possible`` because checkers were not run."""

    reward: float | None
    earned: float | None
    possible: float
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    skipped: int = 0

    def info(self) -> dict[str, Any]:
        """Counts for logs: items graded by code and by the judge, items skipped, failures by kind."""
        graders = Counter(r["graded_by"] for r in self.items)
        return {
            "code_items": graders["code"],
            "judge_items": graders["judge"],
            "skipped_items": self.skipped,
            "failures": dict(Counter(r["failure"] for r in self.items if r["failure"])),
        }


class RubricReward:
    """Scores completions against rubrics with any judge, and checker code.

    ``reward = clip(sum(points of met items) / sum(positive points), 0, 1)``; a met penalty item (negative
    points) subtracts. Items are graded concurrently; a failed judge grading is retried ``max_retries``
    times; checker sources run in ``checker_pool`` (made on first use with ``checker_timeout_s`` per check,
    `close` stops it). With ``run_checkers=False`` no checker runs: items with a criterion go to the judge,
    code-only items are left out of the possible points (counted in `RubricScore.skipped`).
    """

    def __init__(
        self,
        judge: SimplifiedJudge | JudgeInterface | None = None,
        *,
        max_retries: int = 2,
        run_checkers: bool = True,
        checker_timeout_s: float = DEFAULT_TIMEOUT_S,
        checker_pool: CheckerPool | None = None,
        **judge_settings: Any,
    ) -> None:
        if isinstance(judge, JudgeInterface):
            judge = SimplifiedJudge(judge=judge)
        self.judge = judge if judge is not None else SimplifiedJudge(**judge_settings)
        self.max_retries = max_retries
        self.run_checkers = run_checkers
        self.checker_timeout_s = check_timeout(checker_timeout_s)
        self._pool = checker_pool
        self._owns_pool = checker_pool is None
        self._template = load_template("rubric_item")

    @property
    def checker_pool(self) -> CheckerPool:
        """The sandboxed pool that runs checker sources (started on first use)."""
        if self._pool is None:
            self._pool = CheckerPool(timeout_s=self.checker_timeout_s)
        return self._pool

    def close(self) -> None:
        """Stops the checker pool this reward started (a pool passed in stays open)."""
        if self._owns_pool and self._pool is not None:
            self._pool.close()
            self._pool = None

    def _grader(self, item: RubricItem) -> Literal["code", "judge", "skipped"]:
        if item.check is not None and self.run_checkers:
            return "code"
        return "judge" if item.criterion is not None else "skipped"

    async def ascore(
        self, prompt: str, completion: str, rubric: Sequence[RubricItem | Mapping[str, Any]]
    ) -> RubricScore:
        """The rubric reward of one completion (async twin of `score`)."""
        items = [RubricItem.of(item, i) for i, item in enumerate(rubric)]
        graders = [self._grader(i) for i in items]
        skipped = graders.count("skipped")
        possible = sum(i.points for i, g in zip(items, graders, strict=True) if i.points > 0 and g != "skipped")
        if possible <= 0:
            if skipped:
                error = f"nothing to grade: {skipped} code-only item(s) left out (run_checkers=False)"
                return RubricScore(None, None, 0.0, [], error, skipped)
            raise ConfigError("a rubric needs at least one item with positive points", "rubric")
        verdicts = await asyncio.gather(
            *(self._grade(prompt, completion, i, g) for i, g in zip(items, graders, strict=True))
        )
        rows = [
            {
                "name": item.label(n),
                "criterion": item.criterion,
                "points": item.points,
                "graded_by": grader,
                "met": outcome if isinstance(outcome, bool) else None,
                "failure": outcome.kind if isinstance(outcome, CheckFailure) else None,
                "error": outcome.error if isinstance(outcome, CheckFailure) else None,
            }
            for n, (item, grader, outcome) in enumerate(zip(items, graders, verdicts, strict=True))
        ]
        failed = [r for r in rows if r["failure"]]
        if failed:
            names = "; ".join(
                f"{'checker' if r['graded_by'] == 'code' else 'criterion'} {r['name']!r} ({r['failure']}): {r['error']}"
                for r in failed
            )
            error = f"{len(failed)} rubric item(s) could not be graded: {names}"
            return RubricScore(None, None, possible, rows, error, skipped)
        earned = sum(r["points"] for r in rows if r["met"])
        return RubricScore(min(1.0, max(0.0, earned / possible)), earned, possible, rows, None, skipped)

    async def _grade(self, prompt: str, completion: str, item: RubricItem, grader: str) -> CheckOutcome | None:
        if grader == "skipped":
            return None
        if grader == "code":
            return await self._run_check(item.check, prompt, completion)
        error = ""
        for _ in range(self.max_retries + 1):
            result = await self.judge.aevaluate_binary(
                prompt, "", completion, output_format="yes/no", custom_prompt=self._template, criterion=item.criterion
            )
            if result["success"]:
                return bool(result["result"])
            error = result["error_message"] or "the judge failed"
        return CheckFailure("judge", error)

    async def _run_check(self, check: Check | None, prompt: str, completion: str) -> CheckOutcome:
        if isinstance(check, str):
            return await self.checker_pool.acheck(check, completion, prompt)
        assert check is not None
        try:
            value = check(completion)
        except Exception as exc:
            return CheckFailure("raised", f"{type(exc).__name__}: {exc}"[:500])
        if not isinstance(value, bool):
            return CheckFailure("non_bool", f"returned {type(value).__name__}, not bool")
        return value

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

    def as_grpo_reward(
        self, rubric_column: str = "rubric", checkers_column: str = "checkers", name: str = "judgekit_rubric_reward"
    ) -> Any:
        """A TRL reward function reading each sample's rubric from the ``rubric_column`` dataset column and its
        checkers (VerIF's shape: a list of sources, one point each) from ``checkers_column``; either may be absent.
        Item counts and failures by kind go to ``log_metric``, each sample's error to ``log_extra``."""
        from judgekit.reward.trl import completion_text, prompt_text

        def reward_fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            n = len(completions)
            rubrics = [
                hybrid_rubric(rubric, checkers)
                for rubric, checkers in zip(
                    kwargs.get(rubric_column) or [None] * n, kwargs.get(checkers_column) or [None] * n, strict=True
                )
            ]
            scores = self.score_batch(
                [prompt_text(p) for p in prompts], [completion_text(c) for c in completions], rubrics
            )
            if callable(kwargs.get("log_metric")):
                for key, value in summarize(scores).items():
                    kwargs["log_metric"](f"judgekit/{key}", value)
            if callable(kwargs.get("log_extra")):
                kwargs["log_extra"]("rubric_error", [s.error or "" for s in scores])
            return [s.reward for s in scores]

        reward_fn.__name__ = reward_fn.__qualname__ = name
        return reward_fn


def hybrid_rubric(rubric: Sequence[Any] | None, checkers: Sequence[Any] | None) -> list[Any]:
    """One rubric from a sample's rubric items and its checkers (VerIF's ``checkers``: sources or callables,
    one point each, or item mappings as they are)."""
    items = list(rubric) if rubric is not None else []
    for checker in checkers if checkers is not None else []:
        items.append(checker if isinstance(checker, (Mapping, RubricItem)) else {"check": checker, "points": 1.0})
    return items


def summarize(scores: Sequence[RubricScore]) -> dict[str, float]:
    """Batch counts for logs: code items, judge items, skipped items, failed samples and failures by kind."""
    total: Counter[str] = Counter()
    for score in scores:
        info = score.info()
        total.update({k: info[k] for k in ("code_items", "judge_items", "skipped_items")})
        total.update({f"failures/{kind}": n for kind, n in info["failures"].items()})
        total["failed_samples"] += score.reward is None
    return dict(total)

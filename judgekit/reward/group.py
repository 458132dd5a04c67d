"""`GroupReward`: GRPO rewards from judging each prompt's group of completions together.

One group is one `SimplifiedJudge.aevaluate_group` call (``listwise``: one request; ``tournament``: every
pair in both orders). A member whose judgement failed falls back to the rules verifier when it has a
reference answer and ``fallback_to_rule`` is on (tagged ``rule_fallback``), else gets ``failure_reward``
(None by default, tagged ``failed``): never a silent 0. See docs/reward.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind
from judgekit.reward.system import BaseJudgeReward, JudgeRewardSystem, batch_columns
from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeResult
from judgekit.verifiers import verify_answer

__all__ = ["GroupReward", "consecutive_groups"]


def consecutive_groups(prompts: Sequence[Any], group_size: int | None = None) -> list[list[int]]:
    """The indexes of each group: runs of equal consecutive ``prompts`` (TRL and OpenRLHF repeat each prompt
    for its completions), each run cut into groups of ``group_size`` when given. A run whose length is not a
    multiple of ``group_size`` is a `ConfigError` naming where: a group split across calls (or processes)
    would be judged in pieces."""
    if group_size is not None and (isinstance(group_size, bool) or group_size < 1):
        raise ConfigError(f"group_size must be >= 1, got {group_size!r}", "num_generations")
    runs: list[list[int]] = []
    for i, prompt in enumerate(prompts):
        if runs and prompts[runs[-1][0]] == prompt:
            runs[-1].append(i)
        else:
            runs.append([i])
    if group_size is None:
        return runs
    groups = []
    for run in runs:
        if len(run) % group_size:
            raise ConfigError(
                f"completions {run[0]}..{run[-1]} share one prompt but are {len(run)}, not a multiple of "
                f"num_generations={group_size}: a group reward needs each prompt's whole group in one call",
                "num_generations",
            )
        groups += [run[k : k + group_size] for k in range(0, len(run), group_size)]
    return groups


class GroupReward:
    """Rewards for whole GRPO groups from one judge.

    ``judge`` is a `SimplifiedJudge`, a `JudgeInterface`, a reward system (its judge and its
    ``fallback_to_rule`` / ``failure_reward`` are used) or a reward config dict. ``kind`` is ``listwise`` or
    ``tournament``; ``options`` go to every `SimplifiedJudge.evaluate_group` call (``score_range``,
    ``temperature``, ...). ``requests`` counts the group judgements made.
    """

    def __init__(
        self,
        judge: SimplifiedJudge | JudgeInterface | BaseJudgeReward | Mapping[str, Any],
        *,
        kind: str = "listwise",
        fallback_to_rule: bool | None = None,
        failure_reward: float | None = None,
        **options: Any,
    ) -> None:
        if not get_kind(kind).group:
            raise ConfigError(f"a group reward judges with listwise or tournament, not {kind!r}", "kind")
        system: BaseJudgeReward | None = None
        if isinstance(judge, BaseJudgeReward):
            system = judge
        elif isinstance(judge, Mapping):
            system = JudgeRewardSystem(judge)
        if system is not None:
            self.judge = system.judge
            fallback_to_rule = system.config.fallback_to_rule if fallback_to_rule is None else fallback_to_rule
            failure_reward = system.config.failure_reward if failure_reward is None else failure_reward
        else:
            self.judge = judge if isinstance(judge, SimplifiedJudge) else SimplifiedJudge(judge=judge)  # type: ignore[arg-type]
        self.kind = kind
        self.options = options
        self.fallback_to_rule = bool(fallback_to_rule)
        self.failure_reward = failure_reward
        self.requests = 0

    async def areward_group(
        self,
        prompt: str,
        completions: Sequence[str],
        answer: str | None = None,
        answer_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """One reward dict per completion of one group, in order: ``{"reward", "source", "explanation",
        "error", "latency_s", "cached", "score", "position"}`` (``score``: the judge's own number)."""
        started = time.perf_counter()
        self.requests += 1
        results = await self.judge.aevaluate_group(prompt, list(completions), answer, kind=self.kind, **self.options)
        latency = time.perf_counter() - started
        return [self._reward(r, c, answer, answer_type, latency) for r, c in zip(results, completions, strict=True)]

    def reward_group(
        self,
        prompt: str,
        completions: Sequence[str],
        answer: str | None = None,
        answer_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Synchronous twin of `areward_group`."""
        return run_sync(self.areward_group(prompt, completions, answer, answer_type))

    async def areward_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        answers: Sequence[str | None] | None = None,
        answer_types: Sequence[str | None] | None = None,
        *,
        group_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rewards for a flat batch whose groups are consecutive (`consecutive_groups`), one judgement per group,
        all groups concurrently; one dict per completion, in order."""
        n = len(completions)
        answers, answer_types = batch_columns(prompts, completions, answers, answer_types)
        groups = consecutive_groups(prompts, group_size)
        rewards = await asyncio.gather(
            *(
                self.areward_group(prompts[g[0]], [completions[i] for i in g], answers[g[0]], answer_types[g[0]])
                for g in groups
            )
        )
        out: list[dict[str, Any]] = [{}] * n
        for group, members in zip(groups, rewards, strict=True):
            for i, member in zip(group, members, strict=True):
                out[i] = member
        return out

    def reward_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        answers: Sequence[str | None] | None = None,
        answer_types: Sequence[str | None] | None = None,
        *,
        group_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Synchronous twin of `areward_batch`."""
        return run_sync(self.areward_batch(prompts, completions, answers, answer_types, group_size=group_size))

    def _reward(
        self, result: JudgeResult, completion: str, answer: str | None, answer_type: str | None, latency: float
    ) -> dict[str, Any]:
        base = {"latency_s": latency, "cached": bool(result.get("cached")), "position": result.get("position")}
        if result["success"]:
            explanation = (result.get("reasoning") or result.get("raw_response") or "")[:500]
            return {"reward": result["reward"], "source": "judge", "explanation": explanation, "error": None,
                    "score": result["scores"], **base}  # fmt: skip
        error = result["error_message"] or "the group judgement failed"
        if self.fallback_to_rule and answer is not None:
            try:
                check = verify_answer(completion, answer, answer_type)
            except ConfigError as exc:
                error = f"{error}; rule fallback impossible: {exc}"
            else:
                return {"reward": float(check.correct), "source": "rule_fallback", "score": None, "error": error,
                        "explanation": f"judge failed ({error}); {check.detail}", **base}  # fmt: skip
        return {"reward": self.failure_reward, "source": "failed", "explanation": "", "error": error, "score": None,
                **base}  # fmt: skip

    def close(self) -> None:
        """Release the judge's connections."""
        self.judge.close()

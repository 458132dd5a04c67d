"""verl reward functions backed by a judgekit reward system (``reward.custom_reward_function``).

``acompute_score`` is an ``async def`` that verl 0.9's reward loop awaits directly; ``compute_score`` is its
synchronous twin, which also takes the batch shape of verl's legacy ``BatchRewardManager``. Judge settings
come from ``reward.custom_reward_function.reward_kwargs`` (the `RewardConfig` keys: ``judge_url``,
``api_type``, ``base_url``, ``model_name``, ``fallback_to_rule``, ``failure_reward``, ...). When verl serves
a judge model itself it passes ``reward_router_address``; without a backend of your own, that is the judge.

A sample that could not be rewarded scores ``failure_reward`` when you set one, else NaN (loud, never a
silent 0), with ``judge_ok: False``; ``algorithm.adv_estimator=judgekit_grpo``
(`judgekit.reward.verl_advantage`) keeps such samples out of their GRPO group. See docs/reward.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from judgekit.errors import ConfigError
from judgekit.reward.cohort import CohortBarrier
from judgekit.reward.config import RewardConfig
from judgekit.reward.group import GroupReward
from judgekit.reward.system import JudgeRewardSystem

__all__ = ["GROUP_KEYWORDS", "acompute_group_score", "acompute_score", "compute_score"]

QUESTION_KEYS = ("question", "prompt", "problem")
# keywords verl passes that need no judge setting: used, or knowingly ignored
_VERL_KEYWORDS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_CONFIG_KEYS = frozenset(RewardConfig.model_fields)

_systems: dict[str, JudgeRewardSystem] = {}
_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


def _system(kwargs: dict[str, Any]) -> JudgeRewardSystem:
    """The process's reward system for these settings (one judge, pool and batcher shared by all calls)."""
    settings = {k: v for k, v in kwargs.items() if k in _CONFIG_KEYS}
    unknown = sorted(k for k in kwargs if k not in _CONFIG_KEYS and k not in _VERL_KEYWORDS)
    if unknown:
        _warn_once(
            "unknown:" + ",".join(unknown),
            "judgekit.reward.verl: ignoring keywords it does not use: {} "
            "(if one is a judge setting in reward_kwargs, check its spelling)",
            unknown,
        )
    address = kwargs.get("reward_router_address")
    if address and not any(settings.get(k) for k in ("judge_url", "api_type", "base_url")):
        config = RewardConfig.build(settings)  # the environment (JUDGE_MODEL_URL) may name a judge too
        if not config.judge_url:
            settings = {**settings, "api_type": "vllm", "base_url": f"http://{address}/v1"}
    key = json.dumps(settings, sort_keys=True, default=str)
    with _lock:
        system = _systems.get(key)
        if system is None:
            system = _systems[key] = JudgeRewardSystem(settings)
        return system


def _question(extra_info: Any) -> str:
    if isinstance(extra_info, Mapping):
        for key in QUESTION_KEYS:
            if extra_info.get(key):
                return str(extra_info[key])
    _warn_once(
        "question",
        "judgekit.reward.verl: no question for the judge in extra_info ({}); judging answers "
        "without their question (reward.reward_manager.name=judgekit takes it from the prompt)",
        "/".join(QUESTION_KEYS),
    )
    return ""


def _truths(ground_truth: Any) -> list[str | None]:
    """``ground_truth`` as the answers any of which is right: one, several (a list), or none."""
    if ground_truth is None:
        return [None]
    if hasattr(ground_truth, "tolist") and not isinstance(ground_truth, (str, bytes)):
        ground_truth = ground_truth.tolist()  # numpy arrays and scalars, as verl's parquet datasets give them
    if isinstance(ground_truth, (str, int, float)):
        return [str(ground_truth)]
    if (
        isinstance(ground_truth, (list, tuple))
        and ground_truth
        and all(isinstance(t, (str, int, float)) for t in ground_truth)
    ):
        return [str(t) for t in ground_truth]
    raise ConfigError(
        f"ground_truth must be a string, a number or a list of them (any of which is right), got "
        f"{type(ground_truth).__name__}: {ground_truth!r:.80}",
        "ground_truth",
    )


def _answer_type(extra_info: Any) -> str | None:
    return extra_info.get("answer_type") if isinstance(extra_info, Mapping) else None


def _any_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One sample judged against several right answers: right if any says so, wrong only if all say so."""
    if len(results) == 1:
        return results[0]
    scored = [r for r in results if r["reward"] is not None]
    best = max(scored, key=lambda r: r["reward"]) if scored else results[0]
    if scored and best["reward"] < 1.0 and len(scored) < len(results):
        return next(r for r in results if r["reward"] is None)  # a failed check might have been the right one
    return best


def _as_verl(result: dict[str, Any], failure_reward: float | None) -> dict[str, Any]:
    ok = result["reward"] is not None
    score = result["reward"] if ok else (failure_reward if failure_reward is not None else math.nan)
    return {
        "score": float(score),
        "judge_ok": ok,
        "judge_failed": float(result["source"] == "failed"),
        "rule_fallback": float(result["source"] == "rule_fallback"),
        "source": result["source"],
        "latency_s": float(result["latency_s"]),
        "error": result["error"] or "",
    }


class _Plan:
    """The judge requests for a batch of samples (one per acceptable answer), and how to fold their results
    back into one verl result per sample."""

    def __init__(self, solutions: Sequence[str], truths: Sequence[Any], infos: Sequence[Any]) -> None:
        self.rows: list[tuple[str, str, str | None, str | None]] = []
        self.spans: list[tuple[int, int]] = []
        for solution, truth, info in zip(solutions, truths, infos, strict=True):
            question, answer_type, start = _question(info), _answer_type(info), len(self.rows)
            self.rows += [(question, str(solution), answer, answer_type) for answer in _truths(truth)]
            self.spans.append((start, len(self.rows)))

    def requests(self) -> tuple[list[str], list[str], list[str | None], list[str | None]]:
        """``(prompts, completions, answers, answer_types)`` for `JudgeRewardSystem.reward_batch`."""
        prompts, completions, answers, types = (list(column) for column in zip(*self.rows, strict=True))
        return prompts, completions, answers, types

    def fold(self, results: list[dict[str, Any]], failure_reward: float | None) -> list[dict[str, Any]]:
        return [_as_verl(_any_of(results[a:b]), failure_reward) for a, b in self.spans]


def _prepare(
    solution_str: str | None,
    ground_truth: Any,
    extra_info: Any,
    solution_strs: Sequence[str] | None,
    ground_truths: Sequence[Any] | None,
    extra_infos: Sequence[Any] | None,
    kwargs: dict[str, Any],
) -> tuple[JudgeRewardSystem, _Plan, bool]:
    """The process's reward system for ``kwargs``, the plan of judge requests, and whether it is a batch."""
    if solution_strs is not None:
        n = len(solution_strs)
        solutions = list(solution_strs)
        truths = list(ground_truths) if ground_truths is not None else [None] * n
        infos = list(extra_infos) if extra_infos is not None else [None] * n
    elif solution_str is not None:
        solutions, truths, infos = [solution_str], [ground_truth], [extra_info]
    else:
        raise ConfigError("compute_score needs solution_str (one sample) or solution_strs (a batch)", "solution_str")
    system = _system(kwargs)
    return system, _Plan(solutions, truths, infos), solution_strs is not None


def compute_score(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any] | list[dict[str, Any]]:
    """verl's reward function, synchronous, in both of its shapes.

    One sample (the reward loop's managers): ``compute_score(data_source, solution_str, ground_truth,
    extra_info, **verl_keywords)`` -> ``{"score", "judge_ok", "judge_failed", "rule_fallback", "source",
    "latency_s", "error"}``. A batch (legacy ``BatchRewardManager``): ``compute_score(data_sources=...,
    solution_strs=..., ground_truths=..., extra_infos=...)`` -> a list of those dicts, judged concurrently.
    """
    system, plan, batched = _prepare(
        solution_str, ground_truth, extra_info, solution_strs, ground_truths, extra_infos, kwargs
    )
    scores = plan.fold(system.reward_batch(*plan.requests()), system.config.failure_reward)
    return scores if batched else scores[0]


async def acompute_score(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Async twin of `compute_score`, for verl's reward loop (``reward.custom_reward_function.name=
    acompute_score``): awaited on the worker's event loop, concurrent calls share the process's judge
    (connection pool, micro-batcher, cache)."""
    system, plan, batched = _prepare(
        solution_str, ground_truth, extra_info, solution_strs, ground_truths, extra_infos, kwargs
    )
    scores = plan.fold(await system.areward_batch(*plan.requests()), system.config.failure_reward)
    return scores if batched else scores[0]


# -- a group judged together: the cohort barrier -------------------------------------------------------------

GROUP_KEYWORDS = ("group_size", "group_kind", "group_timeout")
"""``reward_kwargs`` of `acompute_group_score` (the rest configure the judge, as for `acompute_score`)."""
DEFAULT_GROUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class _Member:
    question: str
    solution: str
    answer: str | None
    answer_type: str | None


_Barrier = CohortBarrier[_Member, dict[str, Any]]
_barriers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Barrier]] = weakref.WeakKeyDictionary()
"""Each event loop's barriers (a barrier's futures belong to one loop), by settings."""


def _group_key(extra_info: Any, question: str) -> str:
    """verl's group id (``uid``, which the ``judgekit`` reward manager puts in ``extra_info``), else the
    question."""
    uid = extra_info.get("uid") if isinstance(extra_info, Mapping) else None
    return f"uid:{uid}" if uid is not None else f"question:{question}"


def _barrier(kwargs: dict[str, Any]) -> _Barrier:
    """The running loop's barrier for these settings (one group judge per process and settings)."""
    group = {k: kwargs.pop(k) for k in GROUP_KEYWORDS if k in kwargs}
    if "group_size" not in group:
        raise ConfigError(
            "acompute_group_score needs reward_kwargs.group_size (= actor_rollout_ref.rollout.n)", "group_size"
        )
    system = _system(kwargs)
    key = json.dumps([group, kwargs], sort_keys=True, default=str)
    with _lock:
        barriers = _barriers.setdefault(asyncio.get_running_loop(), {})
        barrier = barriers.get(key)
        if barrier is None:
            rewards = GroupReward(system, kind=str(group.get("group_kind", "listwise")))

            async def judge(members: list[_Member], complete: bool) -> list[dict[str, Any]]:
                first = members[0]
                results = await rewards.areward_group(
                    first.question, [m.solution for m in members], first.answer, first.answer_type
                )
                extra = {"group_size": float(len(members)), "group_fallback": float(not complete)}
                return [{**_as_verl(r, system.config.failure_reward), **extra} for r in results]

            timeout = float(group.get("group_timeout", DEFAULT_GROUP_TIMEOUT))
            barrier = barriers[key] = CohortBarrier(judge, int(group["group_size"]), timeout)
        return barrier


async def acompute_group_score(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's reward function for judging each GRPO group together (``reward.custom_reward_function.name=
    acompute_group_score``, ``reward_kwargs.group_size`` = ``actor_rollout_ref.rollout.n``).

    verl's reward loop awaits one sample at a time, all of a batch concurrently: each call waits at a
    `CohortBarrier` until its group (keyed by verl's ``uid``, which ``reward.reward_manager.name=judgekit``
    passes in ``extra_info``, else by the question) has ``group_size`` members, the group is judged once
    (``group_kind``: ``listwise`` or ``tournament``) and every member gets its reward. A group still
    incomplete ``group_timeout`` seconds (default 60) after its first member arrived is judged with the
    members that arrived (``group_fallback`` = 1). The result has `acompute_score`'s keys plus
    ``group_size`` (members judged together) and ``group_fallback``. The group's reference answer is its
    first member's (the first of several acceptable answers).
    """
    if solution_str is None:
        raise ConfigError("acompute_group_score judges one sample at a time: solution_str is required", "solution_str")
    barrier = _barrier(dict(kwargs))
    question = _question(extra_info)
    member = _Member(question, str(solution_str), _truths(ground_truth)[0], _answer_type(extra_info))
    return await barrier.submit(_group_key(extra_info, question), member)

"""verl reward functions backed by a judgekit reward system (``reward.custom_reward_function``).

``acompute_score`` is an ``async def`` that verl 0.9's reward loop awaits directly; ``compute_score`` is its
synchronous twin, which also takes the batch shape of verl's legacy ``BatchRewardManager``. Judge settings
come from ``reward.custom_reward_function.reward_kwargs`` (the `RewardConfig` keys: ``judge_url``,
``api_type``, ``base_url``, ``model_name``, ``fallback_to_rule``, ``failure_reward``, ...). When verl serves
a judge model itself it passes ``reward_router_address``; without a backend of your own, that is the judge.

A sample whose ``extra_info`` has a ``rubric`` (judge items) and/or ``checkers`` (VerIF checker sources) is
scored by `RubricReward` with the same judge, its checkers in the sandboxed pool (`judgekit.reward.sandbox`).

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

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.reward.cohort import CohortBarrier
from judgekit.reward.config import RewardConfig
from judgekit.reward.group import GroupReward
from judgekit.reward.rubric import RubricReward, RubricScore, hybrid_rubric
from judgekit.reward.sandbox import DEFAULT_TIMEOUT_S
from judgekit.reward.system import JudgeRewardSystem

__all__ = ["GROUP_KEYWORDS", "acompute_group_score", "acompute_score", "compute_score", "reset"]

QUESTION_KEYS = ("question", "prompt", "problem")
# keywords verl passes that need no judge setting: used, or knowingly ignored
_VERL_KEYWORDS = frozenset({"reward_router_address", "reward_model_tokenizer", "run_checkers", "checker_timeout_s"})
_CONFIG_KEYS = frozenset(RewardConfig.model_fields)

_systems: dict[str, JudgeRewardSystem] = {}
_rubrics: dict[tuple[int, bool, float], RubricReward] = {}
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


def reset() -> None:
    """Close and forget the reward systems this process made (one per set of judge settings, each with its
    judge, batcher, cache and circuit breaker, kept for the life of the process) and their rubric rewards.
    The next call starts afresh: for a notebook that points the same settings at a restarted server, or
    between tests."""
    with _lock:
        systems, rubrics = list(_systems.values()), list(_rubrics.values())
        _systems.clear()
        _rubrics.clear()
    for rubric in rubrics:
        rubric.close()
    for system in systems:
        system.close()


def _rubric_reward(system: JudgeRewardSystem, kwargs: dict[str, Any]) -> RubricReward:
    """The process's rubric reward for this system's judge (one checker pool shared by all calls)."""
    run_checkers = bool(kwargs.get("run_checkers", True))
    timeout = float(kwargs.get("checker_timeout_s", DEFAULT_TIMEOUT_S))
    key = (id(system), run_checkers, timeout)
    with _lock:
        rubric = _rubrics.get(key)
        if rubric is None:
            rubric = _rubrics[key] = RubricReward(system.judge, run_checkers=run_checkers, checker_timeout_s=timeout)
        return rubric


def _listed(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value.tolist() if hasattr(value, "tolist") else value)  # numpy arrays from parquet datasets


def _rubric_of(extra_info: Any) -> list[Any] | None:
    """A sample's hybrid rubric from ``extra_info["rubric"]`` and ``extra_info["checkers"]``, if it has one."""
    if not isinstance(extra_info, Mapping) or (extra_info.get("rubric") is None and extra_info.get("checkers") is None):
        return None
    return hybrid_rubric(_listed(extra_info.get("rubric")), _listed(extra_info.get("checkers")))


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


_NO_RUBRIC = {"code_items": 0.0, "judge_items": 0.0, "skipped_items": 0.0, "checker_failures": 0.0}


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
        **_NO_RUBRIC,
    }


def _rubric_as_verl(score: RubricScore, failure_reward: float | None) -> dict[str, Any]:
    """A rubric sample's verl result: the same keys as a judged sample's, with its item counts."""
    ok = score.reward is not None
    info = score.info()
    failures = info["failures"]
    return {
        "score": float(score.reward if ok else (failure_reward if failure_reward is not None else math.nan)),
        "judge_ok": ok,
        "judge_failed": float(failures.get("judge", 0) > 0),
        "rule_fallback": 0.0,
        "source": "rubric" if ok else "failed",
        "latency_s": 0.0,
        "error": score.error or "",
        "code_items": float(info["code_items"]),
        "judge_items": float(info["judge_items"]),
        "skipped_items": float(info["skipped_items"]),
        "checker_failures": float(sum(n for kind, n in failures.items() if kind != "judge")),
    }


class _Plan:
    """The judge requests for a batch of samples (one per acceptable answer), and how to fold their results
    back into one verl result per sample."""

    def __init__(self, solutions: Sequence[str], truths: Sequence[Any], infos: Sequence[Any]) -> None:
        self.rows: list[tuple[str, str, str | None, str | None]] = []
        self.spans: list[tuple[int, int]] = []
        self.rubrics: dict[int, tuple[str, str, list[Any]]] = {}  # sample -> (question, solution, rubric)
        for n, (solution, truth, info) in enumerate(zip(solutions, truths, infos, strict=True)):
            rubric = _rubric_of(info)
            if rubric is not None:
                self.rubrics[n] = (_question(info), str(solution), rubric)
                self.spans.append((0, 0))
                continue
            question, answer_type, start = _question(info), _answer_type(info), len(self.rows)
            self.rows += [(question, str(solution), answer, answer_type) for answer in _truths(truth)]
            self.spans.append((start, len(self.rows)))

    def requests(self) -> tuple[list[str], list[str], list[str | None], list[str | None]]:
        """``(prompts, completions, answers, answer_types)`` for `JudgeRewardSystem.reward_batch`."""
        if not self.rows:
            return [], [], [], []
        prompts, completions, answers, types = (list(column) for column in zip(*self.rows, strict=True))
        return prompts, completions, answers, types

    async def ascore_rubrics(self, rubric: RubricReward | None) -> dict[int, RubricScore]:
        if not self.rubrics or rubric is None:
            return {}
        samples = list(self.rubrics.items())
        scores = await rubric.ascore_batch(*(list(column) for column in zip(*(v for _, v in samples), strict=True)))
        return {n: score for (n, _), score in zip(samples, scores, strict=True)}

    def fold(
        self, results: list[dict[str, Any]], rubric_scores: dict[int, RubricScore], failure_reward: float | None
    ) -> list[dict[str, Any]]:
        return [
            _rubric_as_verl(rubric_scores[n], failure_reward)
            if n in rubric_scores
            else _as_verl(_any_of(results[a:b]), failure_reward)
            for n, (a, b) in enumerate(self.spans)
        ]


def _prepare(
    solution_str: str | None,
    ground_truth: Any,
    extra_info: Any,
    solution_strs: Sequence[str] | None,
    ground_truths: Sequence[Any] | None,
    extra_infos: Sequence[Any] | None,
    kwargs: dict[str, Any],
) -> tuple[JudgeRewardSystem, _Plan, RubricReward | None, bool]:
    """The process's reward system for ``kwargs``, the plan of judge requests, the rubric reward (for samples
    whose ``extra_info`` carries a ``rubric`` or ``checkers``), and whether it is a batch."""
    if solution_strs is not None:
        n = len(solution_strs)
        solutions = list(solution_strs)
        truths = list(ground_truths) if ground_truths is not None else [None] * n
        infos = list(extra_infos) if extra_infos is not None else [None] * n
    elif solution_str is not None:
        solutions, truths, infos = [solution_str], [ground_truth], [extra_info]
    else:
        raise ConfigError("compute_score needs solution_str (one sample) or solution_strs (a batch)", "solution_str")
    system, plan = _system(kwargs), _Plan(solutions, truths, infos)
    rubric = _rubric_reward(system, kwargs) if plan.rubrics else None
    return system, plan, rubric, solution_strs is not None


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
    "latency_s", "error", "code_items", "judge_items", "skipped_items", "checker_failures"}``. A batch (legacy
    ``BatchRewardManager``): ``compute_score(data_sources=..., solution_strs=..., ground_truths=...,
    extra_infos=...)`` -> a list of those dicts, judged concurrently. A sample whose ``extra_info`` carries a
    ``rubric`` and/or VerIF ``checkers`` is scored as a hybrid rubric (`RubricReward`; ``run_checkers`` and
    ``checker_timeout_s`` come from ``reward_kwargs``) instead of against ``ground_truth``.
    """
    system, plan, rubric, batched = _prepare(
        solution_str, ground_truth, extra_info, solution_strs, ground_truths, extra_infos, kwargs
    )
    results = system.reward_batch(*plan.requests()) if plan.rows else []
    rubric_scores = run_sync(plan.ascore_rubrics(rubric)) if plan.rubrics else {}
    scores = plan.fold(results, rubric_scores, system.config.failure_reward)
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
    system, plan, rubric, batched = _prepare(
        solution_str, ground_truth, extra_info, solution_strs, ground_truths, extra_infos, kwargs
    )
    results = await system.areward_batch(*plan.requests()) if plan.rows else []
    scores = plan.fold(results, await plan.ascore_rubrics(rubric), system.config.failure_reward)
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

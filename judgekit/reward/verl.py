"""A verl ``compute_score`` (``custom_reward_function.path`` / ``.name``) backed by a judgekit reward system.

Judge settings come from verl's ``custom_reward_function.reward_kwargs`` (the reward config keys:
``judge_url``, ``api_type``, ``model_name``, ``fallback_to_rule``, ...). verl cannot skip a sample, so a
sample that could not be rewarded scores ``failure_reward`` when you set one, else NaN (loud, never a
silent 0), with ``judge_ok: False``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from typing import Any

from judgekit.reward.system import JudgeRewardSystem

__all__ = ["compute_score"]

_systems: dict[str, JudgeRewardSystem] = {}
_lock = threading.Lock()


def _system(reward_kwargs: dict[str, Any]) -> JudgeRewardSystem:
    key = json.dumps(reward_kwargs, sort_keys=True, default=str)
    with _lock:
        system = _systems.get(key)
        if system is None:
            system = _systems[key] = JudgeRewardSystem(reward_kwargs)
        return system


def _prompt(extra_info: Any) -> str:
    if isinstance(extra_info, dict):
        for key in ("question", "prompt", "problem"):
            if extra_info.get(key):
                return str(extra_info[key])
    return ""


def _answer_type(extra_info: Any) -> str | None:
    return extra_info.get("answer_type") if isinstance(extra_info, dict) else None


def _as_verl(result: dict[str, Any], failure_reward: float | None) -> dict[str, Any]:
    ok = result["reward"] is not None
    score = result["reward"] if ok else (failure_reward if failure_reward is not None else math.nan)
    return {
        "score": float(score),
        "judge_ok": ok,
        "source": result["source"],
        "latency_s": result["latency_s"],
        "error": result["error"] or "",
    }


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
    **reward_kwargs: Any,
) -> dict[str, Any] | list[dict[str, Any]]:
    """verl's reward function, in both of its shapes.

    Single (NaiveRewardManager): ``compute_score(data_source, solution_str, ground_truth, extra_info)`` ->
    ``{"score": float, "judge_ok", "source", "latency_s", "error"}``. Batch (BatchRewardManager):
    ``compute_score(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)`` -> a list of
    those dicts, judged concurrently. The prompt for the judge comes from ``extra_info["question"]``
    (or ``"prompt"``/``"problem"``).
    """
    system = _system(reward_kwargs)
    failure_reward = system.config.failure_reward
    if solution_strs is not None:
        n = len(solution_strs)
        truths = list(ground_truths) if ground_truths is not None else [None] * n
        infos = list(extra_infos) if extra_infos is not None else [None] * n
        results = system.reward_batch(
            [_prompt(i) for i in infos],
            list(solution_strs),
            [None if t is None else str(t) for t in truths],
            [_answer_type(i) for i in infos],
        )
        return [_as_verl(r, failure_reward) for r in results]
    if solution_str is None:
        raise TypeError("compute_score needs solution_str (single) or solution_strs (batch)")
    result = system.reward(
        _prompt(extra_info), solution_str, None if ground_truth is None else str(ground_truth), _answer_type(extra_info)
    )
    return _as_verl(result, failure_reward)

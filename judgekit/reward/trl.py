"""GRPO reward functions with TRL's calling convention, from any judgekit judge or reward system."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind, suggest
from judgekit.reward.group import GroupReward
from judgekit.reward.system import BaseJudgeReward, JudgeRewardSystem
from judgekit.simplified import SimplifiedJudge

__all__ = ["completion_text", "make_group_reward", "make_grpo_reward", "prompt_text"]

# What TRL passes a reward function besides the dataset's columns.
_TRL_KEYWORDS = frozenset({"completion_ids", "trainer_state", "log_metric", "log_extra"})


def completion_text(completion: Any) -> str:
    """A completion as text: plain text, or the assistant turns of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "\n".join(_content(m) for m in completion if isinstance(m, Mapping) and m.get("role") == "assistant")
    return str(completion)


def prompt_text(prompt: Any) -> str:
    """A prompt as text: plain text, or the last user turn of a conversational prompt."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        users = [_content(m) for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
        return users[-1] if users else "\n".join(_content(m) for m in prompt if isinstance(m, Mapping))
    return str(prompt)


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content)


def make_grpo_reward(
    judge_or_system: BaseJudgeReward | SimplifiedJudge | JudgeInterface | Mapping[str, Any],
    *,
    kind: str = "auto",
    answer_column: str | None = None,
    answer_type_column: str | None = None,
    asynchronous: bool = False,
    name: str | None = None,
    **reward_config: Any,
) -> Callable[..., Any]:
    """A reward function for TRL's ``GRPOTrainer(reward_funcs=[...])``.

    ``f(prompts, completions, completion_ids=None, **dataset_columns) -> list[float | None]``: the reference
    answer comes from the ``answer_column`` dataset column (one entry per completion; default ``answer``),
    the answer type from ``answer_type_column`` (default ``answer_type``). A column that is named but missing
    from the dataset is a `ConfigError` listing the columns there are, as is a missing answer column when
    ``kind`` needs a reference (``correctness``, ``binary``); only with the defaults and a kind that can do
    without (``auto``: pointwise) may the dataset have no such column. A sample whose
    judgement failed and that no rule could decide gets ``None``, which TRL turns into NaN and leaves out
    of the group baseline, never 0. With ``asynchronous=True`` the function is ``async def`` (TRL awaits
    those concurrently on its own event loop). Judge latency, failure and cache-hit rates go to
    ``log_metric``; each verdict's source and explanation to ``log_extra``.
    """
    if isinstance(judge_or_system, BaseJudgeReward):
        system = judge_or_system
    elif isinstance(judge_or_system, (SimplifiedJudge, JudgeInterface)):
        system = JudgeRewardSystem(reward_config, judge=judge_or_system, kind=kind)
    else:
        system = JudgeRewardSystem({**dict(judge_or_system), **reward_config}, kind=kind)

    needs_answer = system.config.kind != "auto" and get_kind(system.config.kind).verdict
    answer_col = _Column(answer_column or "answer", "answer_column", answer_column is not None or needs_answer)
    type_col = _Column(answer_type_column or "answer_type", "answer_type_column", answer_type_column is not None)

    if asynchronous:

        async def reward_fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            started = time.perf_counter()
            results = await system.areward_batch(*_columns(prompts, completions, kwargs, answer_col, type_col))
            return _report(results, time.perf_counter() - started, kwargs)

    else:

        def reward_fn(
            prompts: list[Any],
            completions: list[Any],
            completion_ids: Any = None,  # type: ignore[misc]
            **kwargs: Any,
        ) -> list[float | None]:
            started = time.perf_counter()
            results = system.reward_batch(*_columns(prompts, completions, kwargs, answer_col, type_col))
            return _report(results, time.perf_counter() - started, kwargs)

    reward_fn.__name__ = reward_fn.__qualname__ = name or f"judgekit_{kind}_reward"
    reward_fn.reward_system = system  # type: ignore[attr-defined]
    return reward_fn


def make_group_reward(
    judge_or_system: GroupReward | BaseJudgeReward | SimplifiedJudge | JudgeInterface | Mapping[str, Any],
    *,
    num_generations: int | None = None,
    kind: str = "listwise",
    answer_column: str | None = None,
    answer_type_column: str | None = None,
    asynchronous: bool = False,
    name: str | None = None,
    **options: Any,
) -> Callable[..., Any]:
    """A GRPO reward function for TRL that judges each prompt's group of completions together.

    TRL calls a reward function with each prompt's ``num_generations`` completions next to each other: this
    one groups them by prompt (`judgekit.reward.group.consecutive_groups`), checks each group has
    ``num_generations`` members (pass GRPOConfig's ``num_generations``; a `ConfigError` otherwise), and makes
    one group judgement per prompt (``kind``: ``listwise``, one request, or ``tournament``), all prompts
    concurrently. Rewards come back per completion, in order; a member whose group judgement failed gets the
    rule fallback or None (never 0). ``options`` go to `SimplifiedJudge.evaluate_group`. The reference answer
    (optional) and logging are as in `make_grpo_reward`.
    """
    group = (
        judge_or_system
        if isinstance(judge_or_system, GroupReward)
        else GroupReward(judge_or_system, kind=kind, **options)
    )
    answer_col = _Column(answer_column or "answer", "answer_column", answer_column is not None)
    type_col = _Column(answer_type_column or "answer_type", "answer_type_column", answer_type_column is not None)

    async def judge(prompts: list[Any], completions: list[Any], kwargs: Mapping[str, Any]) -> list[float | None]:
        started = time.perf_counter()
        text = _columns(prompts, completions, kwargs, answer_col, type_col)
        results = await group.areward_batch(*text, group_size=num_generations)
        return _report(results, time.perf_counter() - started, kwargs)

    if asynchronous:

        async def reward_fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            return await judge(prompts, completions, kwargs)

    else:

        def reward_fn(
            prompts: list[Any],
            completions: list[Any],
            completion_ids: Any = None,  # type: ignore[misc]
            **kwargs: Any,
        ) -> list[float | None]:
            return run_sync(judge(prompts, completions, kwargs))

    reward_fn.__name__ = reward_fn.__qualname__ = name or f"judgekit_{group.kind}_reward"
    reward_fn.group_reward = group  # type: ignore[attr-defined]
    return reward_fn


def _columns(
    prompts: Sequence[Any], completions: Sequence[Any], kwargs: Mapping[str, Any], answer: _Column, answer_type: _Column
) -> tuple[list[str], list[str], list[Any], list[Any]]:
    """TRL's arguments as ``(prompts, completions, answers, answer_types)`` text columns."""
    n = len(completions)
    answers, types = answer.read(kwargs), answer_type.read(kwargs)
    return (
        [prompt_text(p) for p in prompts],
        [completion_text(c) for c in completions],
        list(answers) if answers is not None else [None] * n,
        list(types) if types is not None else [None] * n,
    )


def _report(results: list[dict[str, Any]], seconds: float, kwargs: Mapping[str, Any]) -> list[float | None]:
    """The rewards, with judge latency, failure and cache-hit rates to TRL's ``log_metric`` and each verdict's
    source and explanation to ``log_extra``."""
    log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
    n = max(1, len(results))
    if callable(log_metric):
        log_metric("judgekit/latency_s", seconds)
        log_metric("judgekit/failure_rate", sum(r["source"] in ("failed", "rule_fallback") for r in results) / n)
        log_metric("judgekit/cache_hit_rate", sum(r["source"] == "cache" or r.get("cached") for r in results) / n)
    if callable(log_extra):
        log_extra("judge_source", [r["source"] for r in results])
        log_extra("judge_explanation", [(r["explanation"] or r["error"] or "")[:300] for r in results])
    return [r["reward"] for r in results]


class _Column:
    """A dataset column the reward reads from TRL's keywords; missing and ``required``: a `ConfigError`."""

    def __init__(self, name: str, setting: str, required: bool) -> None:
        self.name, self.setting, self.required = name, setting, required

    def read(self, kwargs: Mapping[str, Any]) -> Any:
        if self.name in kwargs or not self.required:
            return kwargs.get(self.name)
        present = sorted(k for k in kwargs if k not in _TRL_KEYWORDS)
        listed = ", ".join(map(repr, present)) or "none besides the prompt"
        raise ConfigError(
            f"{self.setting}={self.name!r} is not a column of the dataset{suggest(self.name, present)} "
            f"(its columns: {listed}); the reward would judge without it",
            self.setting,
        )

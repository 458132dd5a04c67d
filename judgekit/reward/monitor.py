"""`ShadowMonitor`: watch a training run's reward with a second judge, so reward hacking shows up as a curve.

Each step, a sampled share of the completions is scored again by a shadow judge (another model or family,
through a `JudgeRewardSystem`: correctness with a reference answer, pointwise without), and the step's
metrics are:

- ``monitor/agreement``: share of sampled completions where the reward and the shadow reward fall on the
  same side of 0.5 (both scored);
- ``monitor/shadow_gap``: mean of reward - shadow reward (a judge the policy learned to please drifts up);
- ``monitor/reward_length_corr``: Spearman correlation of the reward with the completion's length in
  characters, over all of the step's scored completions (a verbosity-hacked reward climbs);
- ``monitor/unscorable_share``: share of the step's completions whose reward is None or NaN;
- ``monitor/shadow_unscorable_share``, ``monitor/sampled``.

TRL: `wrap` a reward function; the metrics go to TRL's ``log_metric`` (the trainer's logs, W&B, ...) when TRL
passes one to reward functions, else add `trl_callback` to the trainer's callbacks: a ``TrainerCallback`` that
puts the steps' metrics (mean since the last log) into the trainer's logs at each logging step. verl:
its reward function sees one sample at a time, so read the step's rollout dump instead
(``trainer.rollout_data_dir``: ``<step>.jsonl`` with ``input``, ``output``, ``score``) with `observe_dump`.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit._sync import run_sync
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.reward.system import BaseJudgeReward, JudgeRewardSystem
from judgekit.simplified import SimplifiedJudge

__all__ = ["ShadowMonitor"]


def _scored(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


class ShadowMonitor:
    """A shadow judge scoring ``share`` of each step's completions (at least ``min_samples``), seeded.

    ``shadow`` is a `SimplifiedJudge`, a `JudgeInterface`, a reward system or a reward config dict.
    ``history`` keeps every step's metrics.
    """

    def __init__(
        self,
        shadow: SimplifiedJudge | JudgeInterface | BaseJudgeReward | Mapping[str, Any],
        *,
        share: float = 0.1,
        min_samples: int = 1,
        seed: int = 0,
        kind: str = "auto",
    ) -> None:
        if not 0 < share <= 1:
            raise ConfigError(f"share must be in (0, 1], got {share!r}", "share")
        if isinstance(shadow, BaseJudgeReward):
            self.system = shadow
        elif isinstance(shadow, (SimplifiedJudge, JudgeInterface)):
            self.system = JudgeRewardSystem({"fallback_to_rule": False, "use_cache": False}, judge=shadow, kind=kind)
        else:
            self.system = JudgeRewardSystem({"fallback_to_rule": False, **dict(shadow)}, kind=kind)
        self.share, self.min_samples = share, min_samples
        self._rng = random.Random(seed)
        self.history: list[dict[str, float]] = []
        self._unlogged: list[dict[str, float]] = []

    async def aobserve(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        rewards: Sequence[float | None],
        answers: Sequence[str | None] | None = None,
    ) -> dict[str, float]:
        """One step's metrics (see the module docstring), appended to `history`."""
        n = len(completions)
        if not len(prompts) == n == len(rewards):
            raise ConfigError("prompts, completions and rewards must have the same length", "rewards")
        answers = list(answers) if answers is not None else [None] * n
        k = min(n, max(self.min_samples, round(self.share * n)))
        sample = sorted(self._rng.sample(range(n), k)) if n else []
        shadow = await self.system.areward_batch(
            [prompts[i] for i in sample], [completions[i] for i in sample], [answers[i] for i in sample]
        )
        both = [(rewards[i], s["reward"]) for i, s in zip(sample, shadow, strict=True)]
        both = [(float(r), float(s)) for r, s in both if _scored(r) and _scored(s)]
        scored = [(float(r), len(completions[i])) for i, r in enumerate(rewards) if _scored(r)]
        metrics = {
            "monitor/sampled": float(k),
            "monitor/agreement": sum((r >= 0.5) == (s >= 0.5) for r, s in both) / len(both) if both else math.nan,
            "monitor/shadow_gap": sum(r - s for r, s in both) / len(both) if both else math.nan,
            "monitor/reward_length_corr": _spearman([r for r, _ in scored], [float(n) for _, n in scored]),
            "monitor/unscorable_share": (n - len(scored)) / n if n else math.nan,
            "monitor/shadow_unscorable_share": sum(not _scored(s["reward"]) for s in shadow) / k if k else math.nan,
        }
        self.history.append(metrics)
        self._unlogged.append(metrics)
        return metrics

    def take_unlogged(self) -> dict[str, float]:
        """The mean of each metric over the steps observed since the last call (NaN steps left out)."""
        steps, self._unlogged = self._unlogged, []
        out: dict[str, float] = {}
        for name in steps[0] if steps else ():
            values = [m[name] for m in steps if not math.isnan(m[name])]
            out[name] = sum(values) / len(values) if values else math.nan
        return out

    def trl_callback(self) -> Any:
        """A ``transformers.TrainerCallback`` that adds this monitor's metrics (mean over the steps since the last
        log) to every log of the trainer: ``trainer.state.log_history`` and every reporter after it."""
        from transformers import TrainerCallback

        monitor = self

        class ShadowMonitorCallback(TrainerCallback):  # type: ignore[misc]
            def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
                metrics = monitor.take_unlogged()
                if metrics and logs is not None:
                    logs.update(metrics)
                    if state.log_history:
                        state.log_history[-1].update(metrics)

        return ShadowMonitorCallback()

    def observe(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        rewards: Sequence[float | None],
        answers: Sequence[str | None] | None = None,
    ) -> dict[str, float]:
        """Synchronous twin of `aobserve`."""
        return run_sync(self.aobserve(prompts, completions, rewards, answers))

    def observe_dump(self, path: str | Path) -> dict[str, float]:
        """One step's metrics from a verl rollout dump (``trainer.rollout_data_dir``/``<step>.jsonl``: ``input``,
        ``output``, ``score``, ``gts``)."""
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        answers = [None if r.get("gts") is None else str(r["gts"]) for r in rows]
        return self.observe([r["input"] for r in rows], [r["output"] for r in rows], [r["score"] for r in rows],
                            answers)  # fmt: skip

    def wrap(self, reward_fn: Callable[..., Any], *, answer_column: str = "answer") -> Callable[..., Any]:
        """A TRL reward function that returns ``reward_fn``'s rewards and logs this monitor's metrics for the
        step through TRL's ``log_metric`` (else `trl_callback` logs them). Works for sync and ``async`` reward
        functions."""
        from judgekit.reward.trl import completion_text, prompt_text

        async def watch(rewards: list[Any], prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]) -> None:
            answers = kwargs.get(answer_column)
            metrics = await self.aobserve(
                [prompt_text(p) for p in prompts], [completion_text(c) for c in completions], rewards,
                [None if a is None else str(a) for a in answers] if answers is not None else None,
            )  # fmt: skip
            log_metric = kwargs.get("log_metric")
            if callable(log_metric):  # TRL's own channel; the callback then has nothing left to add
                self._unlogged.clear()
                for name, value in metrics.items():
                    log_metric(name, value)

        if inspect.iscoroutinefunction(reward_fn):

            @functools.wraps(reward_fn)
            async def watched_async(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[Any]:
                rewards = await reward_fn(prompts=prompts, completions=completions, **kwargs)
                await watch(rewards, prompts, completions, kwargs)
                return rewards

            return watched_async

        @functools.wraps(reward_fn)
        def watched(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[Any]:
            rewards = reward_fn(prompts=prompts, completions=completions, **kwargs)
            run_sync(watch(rewards, prompts, completions, kwargs))
            return rewards

        return watched

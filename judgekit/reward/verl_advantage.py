"""A failure-aware GRPO advantage estimator for verl, ``algorithm.adv_estimator=judgekit_grpo``.

A sample the judge could not score carries a NaN reward (the honest answer of `judgekit.reward.verl`). verl's
own GRPO would turn that into NaN advantages for its whole group, a NaN loss and a skipped optimizer step;
a 0 instead would teach the policy that the answer was wrong. This estimator does what TRL does for a
completion every reward function returned None for: the unscorable sample is left out of its group's mean
and std and gets advantage 0; every other sample gets exactly what verl's GRPO gives it without the
unscorable ones (computed by verl's own `compute_grpo_outcome_advantage`). An unscorable reward in
``token_level_rewards`` is then replaced, in place, by the mean reward of the batch's scored samples, so
the score and reward statistics verl computes from that batch stay finite and equal to those of the
scored samples; the count is logged.

verl imports this module through judgekit's ``verl.plugins`` entry point, so installing judgekit is all it
takes: select it with ``algorithm.adv_estimator=judgekit_grpo``. ``algorithm.norm_adv_by_std_in_grpo`` is
honoured as by verl's GRPO.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from loguru import logger
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, register_adv_est

__all__ = ["ESTIMATOR", "compute_judgekit_grpo_advantage", "unscorable_mask"]

ESTIMATOR = "judgekit_grpo"


def unscorable_mask(token_level_rewards: torch.Tensor) -> torch.Tensor:
    """``(bs,)`` booleans: True where a sample's reward is not a finite number (the judge could not score it)."""
    return ~torch.isfinite(token_level_rewards.sum(dim=-1))


@register_adv_est(ESTIMATOR)
def compute_judgekit_grpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool | None = None,
    config: Any = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO advantages over the scored samples of each group; 0 for unscorable ones. Returns (advantages,
    returns), both ``(bs, response_length)`` and finite, like verl's GRPO."""
    if norm_adv_by_std_in_grpo is None:
        norm_adv_by_std_in_grpo = bool(getattr(config, "norm_adv_by_std_in_grpo", True))
    failed = unscorable_mask(token_level_rewards)
    scored = (~failed).nonzero(as_tuple=True)[0]
    advantages = torch.zeros_like(token_level_rewards)
    if len(scored):
        scored_adv, _ = compute_grpo_outcome_advantage(
            token_level_rewards=token_level_rewards[scored],
            response_mask=response_mask[scored],
            index=np.asarray(index, dtype=object)[scored.cpu().numpy()],
            epsilon=epsilon,
            norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
        )
        advantages[scored] = scored_adv.to(advantages.dtype)
    if failed.any():
        if len(scored):  # with no scored sample at all, the rewards stay NaN: there is no mean to report
            fill = token_level_rewards[scored].sum(dim=-1).mean()
            rows = torch.zeros_like(token_level_rewards[failed])
            last = (response_mask[failed].sum(dim=-1).long() - 1).clamp(min=0)
            rows[torch.arange(len(rows)), last] = fill.to(rows.dtype)
            token_level_rewards[failed] = rows
        logger.warning(
            "judgekit_grpo: {} of {} samples unscorable (advantage 0, left out of their group's mean and std)",
            int(failed.sum()),
            len(failed),
        )
    return advantages, advantages

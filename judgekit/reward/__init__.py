"""RL rewards from judges: a failure-aware reward system, GRPO functions for TRL, verl's compute_score and
its async twin, rubric rewards and multi-judge rewards.

A failed judgement is never a silent 0: it falls back to the rules verifier (tagged ``rule_fallback``)
or gives ``None`` (tagged ``failed``; TRL leaves such samples out of the group baseline).
"""

from judgekit.batching.dynamic import QueueFullError
from judgekit.circuit import CircuitBreaker
from judgekit.reward.config import RewardConfig
from judgekit.reward.group import GroupReward, consecutive_groups
from judgekit.reward.multi import MultiJudgeReward
from judgekit.reward.rubric import RubricItem, RubricReward, RubricScore
from judgekit.reward.system import (
    BaseJudgeReward,
    JudgeOutcome,
    JudgeRewardSystem,
    RewardRequest,
    RewardScore,
    create_judge_reward,
    outcome_from_result,
)
from judgekit.reward.trl import make_group_reward, make_grpo_reward
from judgekit.reward.verl import acompute_score, compute_score

__all__ = [
    "BaseJudgeReward",
    "CircuitBreaker",
    "GroupReward",
    "JudgeOutcome",
    "JudgeRewardSystem",
    "MultiJudgeReward",
    "QueueFullError",
    "RewardConfig",
    "RewardRequest",
    "RewardScore",
    "RubricItem",
    "RubricReward",
    "RubricScore",
    "acompute_score",
    "compute_score",
    "consecutive_groups",
    "create_judge_reward",
    "make_group_reward",
    "make_grpo_reward",
    "outcome_from_result",
]

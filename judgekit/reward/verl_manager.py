"""A verl reward-loop manager, ``reward.reward_manager.name=judgekit``: verl's ``naive`` one plus the question
and the group id.

verl's reward managers hand the reward function the response, the ground truth and the dataset's
``extra_info``, but not the prompt. A judge needs the question; when ``extra_info`` has none of
`judgekit.reward.verl.QUESTION_KEYS`, this manager puts the prompt's last user message there as
``extra_info["prompt"]`` (from the sample's ``raw_prompt`` chat, which verl's datasets keep). It also puts
verl's group id (``uid``) in ``extra_info["uid"]``, which `judgekit.reward.verl.acompute_group_score` groups
by. Then it scores exactly as ``naive`` does. Registered through judgekit's ``verl.plugins`` entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

from judgekit.reward.verl import QUESTION_KEYS

__all__ = ["MANAGER", "JudgeRewardManager", "question_from_chat"]

MANAGER = "judgekit"


def question_from_chat(chat: Any) -> str | None:
    """The last user message of a chat (``[{"role", "content"}, ...]``, as verl's ``raw_prompt``), or a
    plain string prompt."""
    if isinstance(chat, str):
        return chat or None
    messages = list(chat) if chat is not None else []
    users = [m.get("content") for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) and users[-1] else None


@register(MANAGER)
class JudgeRewardManager(NaiveRewardManager):
    """``naive``, with the prompt's question in ``extra_info["prompt"]`` when the dataset gave none."""

    async def run_single(self, data: DataProto) -> dict:
        batch = data.non_tensor_batch
        if "extra_info" not in batch:
            batch["extra_info"] = np.array([{} for _ in range(len(data))], dtype=object)
        extra_info = batch["extra_info"][-1]
        if isinstance(extra_info, dict) and "uid" in batch:  # verl's group id, for group rewards
            extra_info["uid"] = str(batch["uid"][-1])
        if isinstance(extra_info, dict) and not any(extra_info.get(k) for k in QUESTION_KEYS):
            question = question_from_chat(batch.get("raw_prompt", [None])[-1])
            if question:
                extra_info["prompt"] = question
        return await super().run_single(data)

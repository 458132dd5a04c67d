"""The old home of the judge-server protocol, kept so that ``judgekit.server.protocol`` imports keep working; the
protocol is `judgekit.server_protocol` (below the server and its client, the ``judge_server`` provider)."""

from judgekit.server_protocol import (
    ITEM_FIELDS,
    BatchJudgeBody,
    BatchJudgeReply,
    GroupJudgeBody,
    JudgeItem,
    JudgeReply,
    RemoteRewardBody,
    check_item,
    failure_reply,
    fields_for,
    item_from_task,
    reply_score,
    response_from_reply,
    task_for,
)

__all__ = [
    "ITEM_FIELDS",
    "BatchJudgeBody",
    "BatchJudgeReply",
    "GroupJudgeBody",
    "JudgeItem",
    "JudgeReply",
    "RemoteRewardBody",
    "check_item",
    "failure_reply",
    "fields_for",
    "item_from_task",
    "reply_score",
    "response_from_reply",
    "task_for",
]

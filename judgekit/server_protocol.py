"""The judge-server protocol: ``POST /judge`` and ``POST /batch_judge`` bodies and answers, and how a judging
task maps onto them. The server (`judgekit.server.app`), its client (the ``judge_server`` provider) and the
reward adapter all use this module; it needs pydantic only, not fastapi.

A wire item is ``{prompt, completion, answer?, answer_type?, request_id?, kind?}``. For a kind's fields:

- binary / correctness: question = prompt, prediction = completion, answer, answer_type;
- pointwise: question = prompt, response = completion, answer (optional reference).

The answer to an item is ``{score, request_id, explanation, metadata}`` with ``score`` in [0, 1], or
``{score: None, request_id, error, error_type}`` when judging it failed. A client reads a score back as
the text the kind's parser reads (`response_from_reply`):

- binary: "1"/"0" (``output_format="0/1"``) or "Yes"/"No" (``"yes/no"``), positive when score >= 0.5;
- correctness: "Yes"/"No", positive when score >= 0.5;
- pointwise: ``<score>N</score>`` with N = lo + score * (hi - lo) in the task's ``score_range``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, ProviderResponseError
from judgekit.kinds import get_kind, server_kinds
from judgekit.types import JudgeResponse, JudgeTask, Usage

__all__ = [
    "ITEM_FIELDS",
    "BatchJudgeBody",
    "BatchJudgeReply",
    "GroupJudgeBody",
    "JudgeItem",
    "JudgeReply",
    "RemoteRewardBody",
    "failure_reply",
    "fields_for",
    "item_from_task",
    "response_from_reply",
    "task_for",
]

ITEM_FIELDS: tuple[str, ...] = ("prompt", "completion", "answer", "answer_type", "request_id", "kind")
"""The fields of one wire item."""


class JudgeItem(BaseModel):
    """One ``POST /judge`` body (and one element of ``/batch_judge``'s ``requests``).

    ``kind`` overrides the server's kind for this item (``auto``: correctness with an answer, pointwise
    without). Unknown fields are rejected (422), so a misspelt ``answer`` never silently turns into an
    answer-less judgement.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    prompt: str
    completion: str
    answer: str | None = None
    answer_type: str | None = None
    request_id: str | None = None
    kind: str | None = None
    """``auto`` or a kind the server scores (`judgekit.kinds.server_kinds`, read from the registry)."""

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str | None) -> str | None:
        known = server_kinds()
        if value is not None and value not in known:
            raise ValueError(f"kind must be one of {', '.join(known)}, got {value!r}")
        return value


class BatchJudgeBody(BaseModel):
    """A ``POST /batch_judge`` body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: list[JudgeItem] = Field(default_factory=list)


class GroupJudgeBody(BaseModel):
    """A ``POST /group_judge`` body: one prompt's group of completions, judged together (``kind``: listwise,
    one request; tournament, every pair in both orders). The answer is ``{responses: [...]}``, one reply per
    completion in order, each ``score`` the member's group-normalised reward in [0, 1] (docs/reward.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    prompt: str
    completions: list[str] = Field(min_length=1)
    answer: str | None = None
    answer_type: str | None = None
    kind: Literal["listwise", "tournament"] = "listwise"
    request_id: str | None = None


class RemoteRewardBody(BaseModel):
    """OpenRLHF's remote reward-model request (``--remote_rm_url http://host:port/get_reward``):
    ``query`` holds prompt + response texts, ``prompts`` the prompts and ``labels`` the references (one each).
    Fields OpenRLHF versions add (``datasources`` ...) are ignored. The answer is ``{"rewards": [...],
    "scores": [...], "extra_logs": {...}}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    query: list[str]
    prompts: list[str] | None = None
    labels: list[str | None] | None = None


class JudgeReply(TypedDict, total=False):
    """The answer to one item: ``score`` in [0, 1] (None when judging failed, with ``error``)."""

    score: float | None
    request_id: str
    explanation: str
    metadata: dict[str, Any]
    error: str
    error_type: str | None
    status_code: int | None


class BatchJudgeReply(TypedDict):
    """The answer to ``POST /batch_judge``: one reply per request, in order."""

    responses: list[JudgeReply]


# -- kinds <-> wire ----------------------------------------------------------------------------------------


def fields_for(
    kind: str, prompt: str, completion: str, answer: str | None = None, answer_type: str | None = None
) -> dict[str, Any]:
    """The judging fields (``evaluate_<kind>`` keyword arguments) of one wire item judged as ``kind``.

    ``auto`` keeps the completion as ``prediction`` (the judging side picks the kind).
    """
    spec = get_kind("correctness" if kind == "auto" else kind)
    if not spec.verdict:  # a score of the completion alone; a reference answer is optional
        fields: dict[str, Any] = {"question": prompt, spec.fields[-1]: completion}
        if answer:
            fields["answer"] = answer
        return fields
    fields = {"question": prompt, "answer": answer, "prediction": completion}
    if answer_type is not None:
        fields["answer_type"] = answer_type
    return fields


def task_for(
    kind: str, prompt: str, completion: str, answer: str | None = None, answer_type: str | None = None
) -> JudgeTask:
    """A `JudgeTask` for one wire item; ``kind="auto"`` leaves the choice to the server."""
    fields = {k: v for k, v in fields_for(kind, prompt, completion, answer, answer_type).items() if v is not None}
    return JudgeTask(kind=kind, fields=fields)


def item_from_task(task: JudgeTask) -> dict[str, Any]:
    """The ``/judge`` body of a task: prompt = question, completion = prediction (or response).

    A task of kind ``auto`` is sent without ``kind``: the server's own kind decides.
    """
    known = server_kinds()
    if task.kind not in known:
        scored = ", ".join(k for k in known if k != "auto")
        raise ConfigError(
            f"judge_server cannot judge {task.kind!r} tasks; the protocol scores one completion ({scored})", "kind"
        )
    fields, options = task.fields, task.options
    completion = fields.get("prediction", fields.get("response"))
    item: dict[str, Any] = {"prompt": str(fields.get("question") or ""), "completion": str(completion or "")}
    if task.kind != "auto":
        item["kind"] = task.kind
    if fields.get("answer") is not None:
        item["answer"] = str(fields["answer"])
    answer_type = options.get("answer_type", fields.get("answer_type"))
    if answer_type is not None:
        item["answer_type"] = str(answer_type)
    return item


def check_item(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A wire item given as a dict, validated (`ConfigError` naming ``where.field``), without None values."""
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} must be a dict with prompt and completion", where)
    try:
        JudgeItem.model_validate(item)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        reason = "is required" if err["type"] == "missing" else err["msg"].lower()
        if err["type"] == "extra_forbidden":
            reason = f"unknown field; allowed: {', '.join(ITEM_FIELDS)}"
        raise ConfigError(f"{where}.{field} {reason}", f"{where}.{field}") from None
    return {key: value for key, value in item.items() if value is not None}


# -- replies -------------------------------------------------------------------------------------------------


def failure_reply(request_id: str | None, message: str, error_type: str | None, **extra: Any) -> JudgeReply:
    """The answer to an item whose judging failed: no score, never a made-up 0."""
    return {"score": None, "request_id": request_id, "error": message, "error_type": error_type, **extra}  # type: ignore[typeddict-item]


def reply_score(reply: Any, provider: str, model: str | None) -> float:
    """The [0, 1] score of a reply; `ProviderResponseError` when it holds none."""
    score = reply.get("score") if isinstance(reply, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise ProviderResponseError(
            f"the judge server gave no score: {error or str(reply)[:200]}",
            provider=provider,
            model=model,
            retryable=False,
        )
    if not 0.0 <= score <= 1.0:
        raise ProviderResponseError(
            f"the judge server's score {score} is outside [0, 1]", provider=provider, model=model, retryable=False
        )
    return float(score)


def response_from_reply(task: JudgeTask, reply: Any, config: JudgeConfig, provider: str) -> JudgeResponse:
    """A reply as a `JudgeResponse` whose ``content`` the kind's parser reads (see the module docstring).

    ``score`` holds the server's [0, 1] score, except for pointwise tasks, whose score is the text's
    ``N`` in the task's ``score_range`` (so a judging layer reads N, not the raw number). Raises
    `ProviderResponseError` for a reply with no valid score.
    """
    score = reply_score(reply, provider, config.model_name)
    metadata = reply.get("metadata") if isinstance(reply.get("metadata"), dict) else {}
    kind = task.kind if task.kind != "auto" else str(metadata.get("kind") or "correctness")
    return JudgeResponse(
        content=_verdict_text(kind, task, config, score),
        reasoning=reply.get("explanation") or None,
        score=score if task.kind == "auto" or get_kind(task.kind).verdict else None,
        model_used=str(metadata.get("model") or config.model_name or provider),
        usage=_usage(metadata.get("usage")),
        raw_response=reply,
        provider=provider,
        finish_reason="stop",
    )


def _verdict_text(kind: str, task: JudgeTask, config: JudgeConfig, score: float) -> str:
    spec = get_kind(kind)
    if not spec.verdict:
        low, high = task.options.get("score_range") or config.score_range
        value = f"{low + score * (high - low):.6f}".rstrip("0").rstrip(".")
        return f"<score>{value}</score>"
    positive, negative = spec.verdict_words(task.options.get("output_format") or config.output_format)
    return positive if score >= 0.5 else negative


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    try:
        return Usage(**{k: int(raw.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")})
    except (TypeError, ValueError):
        return Usage()

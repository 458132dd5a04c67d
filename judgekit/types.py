"""Request and response types: plain data, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError

__all__ = ["ImageInput", "JudgeRequest", "JudgeResponse", "JudgeResult", "JudgeTask", "Usage"]

ImageInput = Any
"""A file path, `pathlib.Path`, `PIL.Image.Image`, raw bytes, an http(s) URL or a ``data:`` URL."""

_ROLES = {"system", "user", "assistant"}


class Usage(BaseModel):
    """Token counts of one call (or, summed with ``+``, of many)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class JudgeTask(BaseModel):
    """The structured form of a judging request, for backends that judge fields rather than prompt text
    (the rules verifier, log-probability scoring, the judge server). Chat backends ignore it.

    ``kind`` is a judge kind (binary, correctness, comparative, rubric, pointwise, pairwise); ``fields``
    holds its inputs (question, answer, prediction, response1, ...); ``options`` its settings
    (output_format, score_range, criteria).
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    fields: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class JudgeRequest(BaseModel):
    """What to send to a judge: chat ``messages``, optional ``images`` and an optional per-request config.

    Images are attached to the last user message.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    messages: list[dict[str, Any]]
    images: list[ImageInput] = Field(default_factory=list)
    config: JudgeConfig | None = None
    task: JudgeTask | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"JudgeRequest.{loc}: {err['msg'].removeprefix('Value error, ')}", field=loc) from None

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not messages:
            raise ValueError("must hold at least one message")
        for i, message in enumerate(messages):
            role = message.get("role")
            if role not in _ROLES:
                raise ValueError(f"messages[{i}].role must be one of {sorted(_ROLES)}, got {role!r}")
            content = message.get("content")
            if not isinstance(content, (str, list)):
                raise ValueError(f"messages[{i}].content must be a string or a list of parts")
        return messages

    @field_validator("images", mode="before")
    @classmethod
    def _listify_images(cls, images: Any) -> list[Any]:
        if images is None:
            return []
        if isinstance(images, (str, bytes, Path)) or not isinstance(images, (list, tuple)):
            return [images]
        return list(images)


class JudgeResponse(BaseModel):
    """What a judge answered. ``success=False`` carries ``error_message``; ``content`` is then ``""``."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    content: str = ""
    model_used: str = ""
    usage: Usage = Field(default_factory=Usage)
    raw_response: Any = Field(default=None, repr=False)
    success: bool = True
    error_message: str | None = None
    error_type: str | None = None
    status_code: int | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = Field(default=None, repr=False)
    score: float | None = None
    """A backend-native number: a judge server's score in [0, 1], a reward-model head's scalar."""
    provider: str = ""
    latency_s: float = 0.0
    attempts: int = 0
    cached: bool = False
    """Served from the judge's cache: no request was sent (``cost_usd`` is then 0; ``usage`` is the original's)."""
    cost_usd: float | None = None
    """What this call cost in USD, from ``usage`` and the model's price (`judgekit.pricing`); None: no known price."""


class JudgeResult(dict):  # type: ignore[type-arg]
    """The outcome of one ``evaluate_*`` call: a plain dict (the documented keys) that also reads by attribute.

    Keys: ``success``, ``result``, ``scores``, ``raw_response`` (the judge's reply text), ``prompt``,
    ``model``, ``error_message``, ``error_type``, ``usage``, ``latency_s``, ``cached``, ``reasoning``,
    ``kind``, ``provider``, ``attempts``, ``cost_usd`` and ``score`` (a backend-native number, else None).
    On failure ``success`` is False, ``error_message`` says why and
    ``result`` / ``scores`` are None: never a made-up 0.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        shown = ("kind", "success", "result", "scores", "p_yes", "expected_score", "swap_agreed", "error_message",
                 "model", "latency_s", "cached")  # fmt: skip
        parts = []
        for key in shown:
            value = self.get(key)
            if value is None or (key == "cached" and not value):
                continue
            rounded = key in ("latency_s", "p_yes", "expected_score")
            parts.append(f"{key}={value:.3f}" if rounded else f"{key}={value!r}")
        return f"JudgeResult({', '.join(parts)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

"""Request and response types: plain data, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError

__all__ = ["FailureKind", "ImageInput", "JudgeRequest", "JudgeResponse", "JudgeResult", "JudgeTask", "Usage"]

ImageInput = Any
"""A file path, `pathlib.Path`, `PIL.Image.Image`, raw bytes, an http(s) URL or a ``data:`` URL."""

_ROLES = {"system", "user", "assistant"}

ModelT = TypeVar("ModelT", bound=BaseModel)
_new, _set = object.__new__, object.__setattr__


def trusted(cls: type[ModelT], values: dict[str, Any], given: Iterable[str] | None = None) -> ModelT:
    """A ``cls`` made of values judgekit built and checked itself, every field given, without validation: a third
    of the cost of validating (pydantic's ``model_construct`` does the same but is slower than validating). For
    the request path's own objects (a job's request, a parsed reply); anything a caller passes in is validated.
    ``given``: the names that count as set (default: all)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values if given is None else given))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


class FailureKind(str, Enum):
    """Why a judgement failed: the closed set of ``error_type`` values (docs/results.md).

    A member equals its value, so ``result.error_type == "ParseError"`` and JSON output (the value) are as they
    were. The provider kinds are the `judgekit.errors` class names; an exception of another class maps to the
    nearest judgekit class it derives from (`of`), and one that derives from none to ``UNEXPECTED``.
    """

    # the reply
    PARSE_ERROR = "ParseError"
    """The reply could not be read as the kind's value (the message says what was expected)."""
    # the provider, after its retries (the `judgekit.errors` classes)
    PROVIDER_ERROR = "ProviderError"
    """The provider refused or failed (a 4xx other than 401/403/429, a 5xx after the retries, ...)."""
    CONNECTION_ERROR = "ProviderConnectionError"
    """The connection failed or dropped."""
    TIMEOUT = "JudgeTimeoutError"
    """No reply within ``timeout``."""
    RATE_LIMITED = "RateLimitError"
    """Still 429 after the retries."""
    AUTHENTICATION = "AuthenticationError"
    """401/403: a missing or wrong key (never retried)."""
    BAD_RESPONSE = "ProviderResponseError"
    """A 2xx reply that could not be read, or was filtered."""
    EMPTY_REPLY = "EmptyReplyError"
    """A 2xx reply with no text at all (or one that ended inside its reasoning)."""
    CIRCUIT_OPEN = "CircuitOpenError"
    """The judge failed too often and is resting."""
    CONFIG_ERROR = "ConfigError"
    """The item could not be sent as given (a batch item with a missing field, an unreadable image, ...)."""
    UNEXPECTED = "UnexpectedError"
    """A provider raised an exception outside `judgekit.errors` (its class is named in the message)."""
    # budgets, batch APIs, panels
    BUDGET_EXCEEDED = "BudgetExceeded"
    """A batch's ``max_cost`` / ``max_tokens_total`` was spent: the item was not sent."""
    BATCH_PENDING = "BatchPending"
    """Its provider batch had not ended within ``max_wait``: run again to resume."""
    BATCH_FAILED = "BatchFailed"
    """Its whole provider batch failed (rejected, failed validation) or was lost."""
    BATCH_RESULT_MISSING = "BatchResultMissing"
    """A finished provider batch returned no result for it."""
    BATCH_EXPIRED = "BatchExpired"
    """Its provider batch expired before the item ran."""
    BATCH_CANCELLED = "BatchCancelled"
    """Its provider batch was cancelled before the item ran."""
    BATCH_ITEM_ERROR = "BatchItemError"
    """The provider batch reported an error for this item."""
    QUORUM_NOT_MET = "QuorumNotMet"
    """Too few jurors of a `judgekit.Jury` succeeded (the message names why each failed)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, failure: BaseException | type[BaseException] | str) -> FailureKind:
        """The kind of an exception (its class, or the nearest class it derives from that names a kind) or of a
        name (a member's value; an unknown name is ``UNEXPECTED``)."""
        if isinstance(failure, str):
            return _FAILURE_KINDS.get(failure, cls.UNEXPECTED)
        klass = failure if isinstance(failure, type) else type(failure)
        return next((_FAILURE_KINDS[k.__name__] for k in klass.__mro__ if k.__name__ in _FAILURE_KINDS), cls.UNEXPECTED)


_FAILURE_KINDS: dict[str, FailureKind] = {kind.value: kind for kind in FailureKind}


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
    """What a judge answered. ``success=False`` carries ``error_message``; ``content`` is then ``""``.

    ``content`` is the final answer: `JudgeInterface` splits reasoning (``<think>`` blocks, a
    ``reasoning_content`` field, Claude's thinking) into ``reasoning`` the same way for every backend."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    content: str = ""
    model_used: str = ""
    usage: Usage = Field(default_factory=Usage)
    raw_response: Any = Field(default=None, repr=False)
    success: bool = True
    error_message: str | None = None
    error_type: FailureKind | None = None
    """Why it failed, one of `FailureKind` (an exception's class name given here maps to its kind)."""
    status_code: int | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = Field(default=None, repr=False)
    score: float | None = None
    """A backend-native number: a judge server's score in [0, 1], a reward-model head's scalar, a decision
    backend's P(yes) or expected score."""
    decisions: dict[str, dict[str, Any]] | None = None
    """A decision backend's answers, by question: ``{"probabilities": {option: p}, "confidence", "label_mass"}``."""
    provider: str = ""
    latency_s: float = 0.0
    attempts: int = 0
    cached: bool = False
    """Served from the judge's cache: no request was sent (``cost_usd`` is then 0; ``usage`` is the original's)."""
    cost_usd: float | None = None
    """What this call cost in USD, from ``usage`` and the model's price (`judgekit.pricing`); None: no known price."""

    @field_validator("error_type", mode="before")
    @classmethod
    def _failure_kind(cls, value: Any) -> FailureKind | None:
        return None if value is None or isinstance(value, FailureKind) else FailureKind.of(value)


_REPLY_DEFAULTS = {name: field.default for name, field in JudgeResponse.model_fields.items()}
"""Every field's default, in the model's order (``usage``, made by a factory, is always given)."""
_OPTIONAL_TEXT = (str, type(None))


def reply(
    content: str,
    usage: Usage,
    *,
    reasoning: str | None,
    finish_reason: str | None,
    model_used: str,
    logprobs: list[dict[str, Any]] | None,
    raw_response: Any,
    provider: str,
) -> JudgeResponse:
    """A successful `JudgeResponse` from a parsed chat reply: validated by hand (the fields a server sends are
    type-checked here; the rest judgekit made), without pydantic's validation on every reply."""
    values = {
        "content": content,
        "usage": usage,
        "reasoning": reasoning,
        "finish_reason": finish_reason,
        "model_used": model_used,
        "logprobs": logprobs,
        "raw_response": raw_response,
        "provider": provider,
    }
    if not (
        type(content) is str
        and type(model_used) is str
        and isinstance(reasoning, _OPTIONAL_TEXT)
        and isinstance(finish_reason, _OPTIONAL_TEXT)
        and (logprobs is None or (type(logprobs) is list and all(type(entry) is dict for entry in logprobs)))
    ):
        return JudgeResponse(**values)  # a reply of an odd shape: pydantic says what is wrong
    return trusted(JudgeResponse, {**_REPLY_DEFAULTS, **values}, values)


T = TypeVar("T")


class _Key(Generic[T]):
    """A documented key of a `JudgeResult`, read and written as an attribute; its default when absent."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Key[T]: ...
    @overload
    def __get__(self, obj: JudgeResult, owner: type | None = None) -> T: ...
    def __get__(self, obj: JudgeResult | None, owner: type | None = None) -> T | _Key[T]:
        if obj is None:
            return self
        return obj.get(self.name, self.default)  # type: ignore[no-any-return]

    def __set__(self, obj: JudgeResult, value: T) -> None:
        obj[self.name] = value


class JudgeResult(dict):  # type: ignore[type-arg]
    """The outcome of one ``evaluate_*`` call: a typed record whose documented keys read as attributes
    (``r.success``, ``r.result``, ``r.scores``, ``r.error_message``, ...; an absent one is its default), and
    still a plain ``dict`` underneath, so ``r["result"]``, ``r.get(...)``, ``"p_yes" in r``, ``dict(r)``,
    ``{**r}`` and ``json.dumps(r)`` work as they always did. docs/results.md lists every key.

    On failure ``success`` is False, ``error_message`` says why, ``error_type`` is a `FailureKind` (equal to
    its string value) and ``result`` / ``scores`` are None: never a made-up 0. Keys a kind or a feature adds
    (``votes`` of a jury, ``swap_results``, ``p_a``, ...) read as attributes too.
    """

    kind = _Key[str | None](None)
    """The judge kind (``binary``, ``pointwise``, a registered kind, ``custom``)."""
    success = _Key[bool](False)
    result = _Key[Any](None)
    """The verdict or choice (kinds whose slot is ``result``): 1/0, ``Verdict``, "A"/"B", a custom value."""
    scores = _Key[Any](None)
    """The number(s) (kinds whose slot is ``scores``): a score, a (s1, s2) pair, {criterion: score}."""
    raw_response = _Key[str | None](None)
    """The judge's reply text (its final answer; the reasoning is in ``reasoning``)."""
    prompt = _Key[str | None](None)
    model = _Key[str | None](None)
    error_message = _Key[str | None](None)
    usage = _Key[dict[str, int] | None](None)
    """Token counts: ``prompt_tokens``, ``completion_tokens``, ``total_tokens``."""
    latency_s = _Key[float](0.0)
    cached = _Key[bool](False)
    reasoning = _Key[str | None](None)
    provider = _Key[str | None](None)
    attempts = _Key[int](0)
    cost_usd = _Key[float | None](None)
    score = _Key[float | None](None)
    """A backend-native number (a judge server's [0, 1] score, a reward head's scalar, a P(yes)), else None."""
    p_yes = _Key[float | None](None)
    """P(yes) of a verdict from logprobs or a decision backend (calibrated when the judge has a calibrator)."""
    p_yes_raw = _Key[float | None](None)
    expected_score = _Key[float | None](None)
    swap_agreed = _Key[bool | None](None)

    @property
    def error_type(self) -> FailureKind | None:
        """Why it failed, a `FailureKind` (``r["error_type"]`` holds the same value, equal to its string)."""
        value = self.get("error_type")
        return None if value is None else FailureKind.of(value)

    @error_type.setter
    def error_type(self, value: FailureKind | str | None) -> None:
        self["error_type"] = None if value is None else FailureKind.of(value)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def failure(cls, message: str, error_type: FailureKind | str, **keys: Any) -> JudgeResult:
        """A failed result: ``success`` False, ``result`` and ``scores`` None, the reason and its kind."""
        kind = FailureKind.of(error_type)
        return cls(success=False, result=None, scores=None, error_message=message, error_type=kind, **keys)

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy (``error_type`` as its string), for JSON and for code that wants no subclass."""
        out = dict(self)
        if isinstance(out.get("error_type"), FailureKind):
            out["error_type"] = out["error_type"].value
        return out

    def __repr__(self) -> str:
        shown = ("kind", "success", "result", "scores", "p_yes", "expected_score", "p_a", "swap_agreed",
                 "error_message", "model", "latency_s", "cached")  # fmt: skip
        parts = []
        for key in shown:
            value = self.get(key)
            if value is None or (key == "cached" and not value):
                continue
            rounded = key in ("latency_s", "p_yes", "expected_score", "p_a")
            parts.append(f"{key}={value:.3f}" if rounded else f"{key}={value!r}")
        return f"JudgeResult({', '.join(parts)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

"""`JudgeConfig`: every setting of a judge, validated; the only module that reads ``os.environ``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from judgekit.errors import ConfigError
from judgekit.kinds import get_kind, suggest
from judgekit.provider_registry import SETTINGS, provider_env
from judgekit.provider_registry import env_variables as _declared_variables

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "MIN_SECRET_LENGTH",
    "JudgeConfig",
    "RewardModelOptions",
    "TorchOptions",
    "normalize_base_url",
    "redact",
]

DEFAULT_OPENAI_MODEL = "gpt-4o-2024-11-20"
"""The OpenAI model when neither ``model_name`` nor ``MODEL_VERSION`` names one: the snapshot that lmms-eval's
judged tasks default to (47 ``MODEL_VERSION`` defaults at lmms-eval 75571cf), so a migrated task judges with the
model its published numbers came from; a dated snapshot, never the moving ``gpt-4o`` alias (docs/configuration.md)."""

_ENDPOINT_SUFFIX = re.compile(r"/(chat/completions|completions|messages|decisions|systemone)/?$")


def normalize_base_url(url: str) -> str:
    """Accept a base URL or a full endpoint URL (the lmms-eval habit) and return the base URL.

    ``https://api.openai.com/v1/chat/completions`` -> ``https://api.openai.com/v1``.
    Azure deployment URLs are kept whole: the azure provider reads the deployment out of them.
    """
    url = url.strip()
    if "/openai/deployments/" in url:
        return url
    return _ENDPOINT_SUFFIX.sub("", url).rstrip("/")


def _env(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


class TorchOptions(BaseModel):
    """Settings of the in-process torch judge (``api_type="torch"``; see docs/torch-judge.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["generate", "logprob", "reward"] = "generate"
    """Generate text (parsed like any judge), score from verdict-token log-probabilities, or read a scalar
    reward head."""
    device: str | None = None
    """"cpu", "cuda", "cuda:1", ...; None: CUDA when available, else CPU."""
    dtype: str | None = None
    """"bfloat16", "float16", "float32" or "auto"; None: bfloat16 on CUDA, float32 on CPU."""
    device_map: str | None = None
    """Passed to ``from_pretrained(device_map=...)`` ("auto" spreads a large model); overrides ``device``."""
    gguf_file: str | None = None
    """A GGUF file inside the ``model_name`` directory (a ``.gguf`` path as ``model_name`` also works)."""
    batch_size: int = Field(16, ge=1)
    """Most requests run through the model in one batch."""
    batch_wait_s: float = Field(0.01, ge=0.0)
    """How long a batch waits to fill up before it runs."""
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    """``logprob`` mode: a binary / correctness verdict is positive when P(positive) >= this; None: the named
    embedded model's own threshold (chosen on the shipped sample; docs/validation.md), else 0.5."""


class RewardModelOptions(BaseModel):
    """Settings of a scalar judge: the reward-model provider (``api_type="reward_model"``) and, for the mapping
    of its scalar onto each kind (``label``, ``activation``, ``scale``, ``calibrator``), the torch reward head
    (``torch.mode="reward"``). See docs/trained-judges.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Literal["classify", "pooling", "openrlhf"] = "classify"
    """vLLM's (or SGLang's) ``/classify``, vLLM's ``/pooling``, or an OpenRLHF reward server (``/get_reward``)."""
    input: Literal["messages", "tokens", "text"] = "messages"
    """How a conversation is sent: ``messages`` (the server applies its chat template; one conversation per
    request), ``tokens`` (rendered by the server's ``/tokenize``, then many token lists per request) or ``text``
    (rendered here with ``tokenizer``'s chat template, many texts per request; the only form OpenRLHF takes)."""
    path: str | None = None
    """The endpoint's path on ``base_url`` (default ``/classify``, ``/pooling``, ``/get_reward``; SGLang:
    ``/v1/classify``)."""
    tokenizer: str | None = None
    """A local tokenizer directory whose chat template renders conversations for ``input="text"`` (default:
    ``model_name`` when it is a local directory)."""
    label: int = Field(0, ge=0)
    """Which output of the head is the reward (a one-label head has only 0)."""
    activation: bool = False
    """False: the head's raw logit is the reward (``use_activation: false``); True: the server's probability."""
    scale: Literal["raw", "score_range"] = "raw"
    """Pointwise: the raw reward as the score, or the calibrated probability mapped onto ``score_range``."""
    calibrator: str | None = None
    """A calibrator (``judgekit validate --fit-calibrator`` on this judge's binary P(yes)) that maps
    sigmoid(reward) to a probability: binary and correctness threshold it, ``scale="score_range"`` maps it."""
    batch_size: int = Field(64, ge=1)
    """Most conversations in one request (``tokens`` and ``text`` input)."""
    batch_wait_s: float = Field(0.002, ge=0.0)
    """How long concurrent requests wait to share one request."""


_TORCH_SHORTHANDS = {f"torch_{name}": ("torch", name) for name in TorchOptions.model_fields}
_REWARD_MODEL_SHORTHANDS = {f"reward_model_{name}": ("reward_model", name) for name in RewardModelOptions.model_fields}
_SHORTHANDS = {**_TORCH_SHORTHANDS, **_REWARD_MODEL_SHORTHANDS}
_NESTED: dict[str, type[BaseModel]] = {"torch": TorchOptions, "reward_model": RewardModelOptions}


class JudgeConfig(BaseModel):
    """Settings of one judge. Invalid values raise `ConfigError` naming the field.

    ``num_retries`` counts retries after the first attempt; ``retry_delay`` is the first backoff in
    seconds (doubled each retry, with jitter, capped at ``max_retry_delay``; a server's
    ``Retry-After`` wins). The API key is a `SecretStr`: it never shows in ``repr`` or ``str``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    model_name: str | None = None
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, gt=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    timeout: float = Field(60.0, gt=0.0)
    num_retries: int = Field(5, ge=0)
    retry_delay: float = Field(10.0, ge=0.0)
    max_retry_delay: float = Field(60.0, ge=0.0)
    max_concurrent: int = Field(32, ge=1)
    system_prompt: str | None = None
    response_format: dict[str, Any] | None = None
    judge_type: str = "binary"
    """A judge kind registered in `judgekit.kinds` (checked against the registry when set), or ``custom``."""
    output_format: Literal["0/1", "yes/no"] = "0/1"
    score_range: tuple[float, float] = (1, 10)
    api_type: str | None = None
    service: str | None = None
    """The vendor behind ``api_type="openai_compatible"``: its key, URL and model come from ``<SERVICE>_API_KEY``,
    ``<SERVICE>_BASE_URL`` and ``<SERVICE>_MODEL`` (``service="acme"``: ``ACME_API_KEY``; docs/providers.md)."""
    base_url: str | list[str] | None = None
    """One URL, or several replicas of one model (an endpoint pool; a single-item list becomes a str)."""
    api_key: SecretStr | None = None
    api_version: str | None = None
    azure_deployment: str | None = None
    stream: bool = False
    image_max_side: int | None = Field(None, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    extra_headers: dict[str, str] = Field(default_factory=dict, repr=False)
    # -- logprobs --
    logprobs: bool = False
    """Ask the backend for token log-probabilities (OpenAI-compatible backends; see docs/logprobs.md)."""
    top_logprobs: int | None = Field(None, ge=0, le=20)
    """Alternatives returned per token when ``logprobs`` is on (``SimplifiedJudge(logprob_score=True)`` asks 20)."""
    # -- decision backends --
    decision_threshold: float = Field(0.5, ge=0.0, le=1.0)
    """Decision backends (api_type ``decisions`` / ``systemone``): a yes/no verdict is positive when
    P(yes) >= this (see docs/decisions.md)."""

    # -- trust: calibration, self-consistency (docs/validation.md) --
    calibrator: str | None = None
    """Path of a P(yes) calibrator (``judgekit validate --fit-calibrator``): verdict results then carry the
    calibrated ``p_yes`` and the judge's own ``p_yes_raw``."""
    n_samples: int = Field(1, ge=1)
    """Self-consistency: ask the judge this many times per item and vote (``temperature`` 0 samples at 0.7)."""
    # -- endpoint pool --
    pool_probe_interval: float = Field(2.0, gt=0.0)
    """Seconds between health probes of a pool replica taken out after a connection failure."""
    # -- a dead endpoint (docs/performance.md) --
    fail_fast: bool = True
    """Stop sending to an endpoint that cannot be reached (connection refused, unknown host: not an HTTP error):
    after 3 such failures in a row, or a failed pre-flight before a batch, its requests wait while it is probed,
    and fail at once with "cannot reach <url>" once it has not answered for ``fail_fast_after`` seconds.
    False: every request retries on its own (``num_retries``, with backoff)."""
    fail_fast_after: float = Field(20.0, gt=0.0)
    """Seconds an unreachable endpoint is waited for (``fail_fast``) before its requests fail."""

    # -- throughput: cache, budget, rate limits --
    cache: bool | str | None = None
    """Reuse successful replies: True or "memory" (an in-memory LRU), or a path (a SQLite file, kept across runs)."""
    cache_size: int = Field(10_000, ge=1)
    """Entries the in-memory cache keeps (least recently used go first)."""
    price_per_million: tuple[float, float] | None = None
    """USD per million (input, output) tokens; None: `judgekit.pricing` by model name, if listed."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Client-side limit on requests sent per minute (every attempt counts)."""
    tokens_per_minute: float | None = Field(None, gt=0)
    """Client-side limit on tokens per minute (estimated before a call, settled from its usage after)."""
    adaptive_concurrency: bool = True
    """Halve the allowed concurrency on a 429 and grow it back by one per window of successes (AIMD)."""
    # -- torch backend --
    torch: TorchOptions = Field(default_factory=TorchOptions)
    """The in-process torch judge's settings (`TorchOptions`); ``torch_mode="logprob"`` and the other ``torch_*``
    names are accepted as shorthand for ``torch={"mode": "logprob"}``."""
    # -- scalar judges --
    reward_model: RewardModelOptions = Field(default_factory=RewardModelOptions)
    """A scalar judge's settings (`RewardModelOptions`); ``reward_model_endpoint="pooling"`` and the other
    ``reward_model_*`` names are shorthand for ``reward_model={"endpoint": "pooling"}``."""

    @field_validator("judge_type")
    @classmethod
    def _check_judge_type(cls, value: str) -> str:
        try:
            return get_kind(value, field="judge_type").name
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("cache", mode="before")
    @classmethod
    def _check_cache(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError('must be True, "memory" or the path of a SQLite file')
            return "memory" if value.lower() == "memory" else os.path.expanduser(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _nest_options(cls, data: Any) -> Any:
        """``torch_mode=...``, ``reward_model_endpoint=...`` (the ``torch_*`` and ``reward_model_*`` shorthands)
        go into ``torch`` / ``reward_model``; a shorthand wins over the same setting inside the nested one."""
        if not isinstance(data, dict) or not any(key in _SHORTHANDS for key in data):
            return data
        data = dict(data)
        for key in [k for k in data if k in _SHORTHANDS]:
            group, name = _SHORTHANDS[key]
            nested = data.get(group)
            nested = nested.model_dump() if isinstance(nested, _NESTED[group]) else dict(nested or {})
            nested[name] = data.pop(key)
            data[group] = nested
        return data

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @field_validator("base_url", mode="before")
    @classmethod
    def _normalize_url(cls, value: Any) -> str | list[str] | None:
        if value is None:
            return None
        if isinstance(value, str) and "," in value:  # "http://a:8000/v1,http://b:8000/v1" (an env var)
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            urls = list(dict.fromkeys(_check_url(url) for url in value))
            if not urls:
                raise ValueError("must name at least one URL")
            return urls[0] if len(urls) == 1 else urls
        return _check_url(value)

    @property
    def base_urls(self) -> list[str]:
        """``base_url`` as a list: ``[]``, one URL, or the replicas of an endpoint pool."""
        if self.base_url is None:
            return []
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)

    @field_validator("api_type")
    @classmethod
    def _lower_api_type(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None

    @model_validator(mode="after")
    def _check_range(self) -> JudgeConfig:
        low, high = self.score_range
        if not low < high:
            raise ValueError(f"score_range must be (low, high) with low < high, got {self.score_range}")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> JudgeConfig:
        """Build a config from the environment (``API_TYPE``, ``OPENAI_API_KEY``, ``MODEL_VERSION``, ...).

        Explicit ``overrides`` win over the environment.
        """
        environ = os.environ if environ is None else environ
        api_type = overrides.get("api_type") or environ.get("API_TYPE") or "openai"
        return cls(**{**overrides, "api_type": api_type}).with_env_defaults(environ)

    def with_env_defaults(self, environ: Mapping[str, str] | None = None) -> JudgeConfig:
        """A copy whose unset key, URL, API version and model are filled from the environment variables the
        provider registered for its ``api_type`` declares (`judgekit.provider_registry.ProviderEnv`), then from
        its declared defaults."""
        environ = os.environ if environ is None else environ
        api_type = self.api_type or environ.get("API_TYPE") or "openai"
        declared = provider_env(api_type.strip().lower()).for_service(self.service)
        update: dict[str, Any] = {"api_type": api_type}
        for group, name in SETTINGS.items():
            if getattr(self, name) is None and (value := _env(getattr(declared, group), environ)):
                update[name] = value
        for name, value in declared.defaults.items():
            if getattr(self, name, None) is None and name not in update:
                update[name] = value
        return self.merged(**update)

    def merged(self, **update: Any) -> JudgeConfig:
        """A validated copy with ``update`` applied (``model_copy`` skips validation; this does not)."""
        if not update:
            return self
        data = self.model_dump()
        data["api_key"] = self.api_key
        data.update(update)
        return JudgeConfig(**data)

    def redact(self, text: str) -> str:
        """``text`` with the API key blanked out, should a server have echoed it (see `redact`)."""
        return redact(text, self.secret())

    def secret(self) -> str | None:
        """The API key in clear text, for building request headers only."""
        return self.api_key.get_secret_value() if self.api_key is not None else None


MIN_SECRET_LENGTH = 8
"""Shorter keys ("EMPTY", "none", "API") are placeholders or words, not secrets: `redact` leaves them."""


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` replaced by ``***`` wherever it stands as a whole token (not inside a longer
    word or key). A secret shorter than `MIN_SECRET_LENGTH` is left alone: blanking it would mangle the
    server's own words ("missing or *** API key")."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return text
    return re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", "***", text)


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip().startswith(("http://", "https://")):
        raise ValueError(f"must be http:// or https:// URLs, and {url!r:.80} is not one")
    return normalize_base_url(url)


def _config_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":  # a misspelt field (maybe a key's): the closest real one, no value
            hint = suggest(loc, [*JudgeConfig.model_fields, *_TORCH_SHORTHANDS])
            parts.append(f"JudgeConfig.{loc}: unknown field{hint}")
            continue
        hidden = not err["loc"] or "key" in loc or "secret" in loc
        shown = "" if hidden else f" (got {err.get('input')!r:.80})"
        parts.append(f"JudgeConfig.{loc}: {msg}{shown}")
    return ConfigError("; ".join(parts), field=field)


_REWARD_ENV = {
    "judge_url": "JUDGE_MODEL_URL",
    "api_key": "JUDGE_MODEL_API_KEY",
    "max_batch_size": "JUDGE_MAX_BATCH_SIZE",
    "max_concurrent_requests": "JUDGE_MAX_CONCURRENT",
}


def reward_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The reward adapter's settings found in the environment (``JUDGE_MODEL_URL``, ``JUDGE_MAX_BATCH_SIZE``, ...)."""
    environ = os.environ if environ is None else environ
    return {key: environ[name] for key, name in _REWARD_ENV.items() if environ.get(name)}


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """One environment variable, or None when unset or empty (the CLI's ``--api-key-env VAR``, ...)."""
    value = (os.environ if environ is None else environ).get(name)
    return value or None


def default_api_type(environ: Mapping[str, str] | None = None) -> str:
    """The backend used when none is named: ``API_TYPE``, else ``openai``."""
    return (env_value("API_TYPE", environ) or "openai").strip().lower()


def env_variables(api_type: str) -> list[str]:
    """The environment variables a backend reads for its key, URL, API version and model, as it declares them
    (``{SERVICE}`` stands for an ``openai_compatible`` judge's ``service``)."""
    return sorted(_declared_variables(api_type.strip().lower()))


def known_env_variables() -> list[str]:
    """Every environment variable judgekit reads for a judge: ``API_TYPE``, those every registered provider
    declares (``{SERVICE}`` left as is), the reward adapter's. A test suite clears these so that no real key
    leaks into it."""
    return sorted({"API_TYPE", *_declared_variables(), *_REWARD_ENV.values()})


def otel_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The OpenTelemetry variables that are set (``OTEL_SDK_DISABLED``, ``OTEL_TRACES_EXPORTER``, ...)."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items() if name.startswith("OTEL_") and value}

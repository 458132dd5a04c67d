"""`RewardConfig`: the reward adapter's settings, validated, with their environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from judgekit.config import reward_env
from judgekit.errors import ConfigError
from judgekit.kinds import suggest

__all__ = ["RewardConfig"]


class RewardConfig(BaseModel):
    """Settings of a reward adapter (the keys of a ``reward.config`` block).

    The judge is either a judge server (``judge_url``, env ``JUDGE_MODEL_URL``) or any judgekit backend
    (``api_type``, ``model_name``, ``base_url`` and other `JudgeConfig` fields in ``judge``).
    ``failure_reward`` is what a sample gets when judging failed and no rule could decide: ``None`` (the
    default; TRL then leaves the sample out of the group baseline) or a number you choose explicitly.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    judge_url: str | None = None
    api_key: SecretStr | None = None
    api_type: str | None = None
    model_name: str | None = None
    base_url: str | None = None
    kind: str = "auto"
    judge: dict[str, Any] = Field(default_factory=dict)

    use_cache: bool = True
    cache_size: int = Field(5000, ge=1)
    max_batch_size: int = Field(16, ge=1)
    batch_timeout: float = Field(0.05, ge=0.0)
    max_concurrent_requests: int = Field(32, ge=1)
    max_queue_size: int = Field(10_000, ge=1)
    timeout: float = Field(30.0, gt=0.0)
    max_retries: int = Field(3, ge=0)
    fallback_to_rule: bool = True
    failure_reward: float | None = None
    circuit_breaker_threshold: int = Field(5, ge=1)
    circuit_breaker_timeout: float = Field(30.0, ge=0.0)

    @classmethod
    def build(cls, config: RewardConfig | Mapping[str, Any] | None = None, **overrides: Any) -> RewardConfig:
        """A validated config from a dict (a ``reward.config`` YAML block), the environment and ``overrides``.

        Explicit keys win over ``JUDGE_MODEL_URL``, ``JUDGE_MODEL_API_KEY``, ``JUDGE_MAX_BATCH_SIZE`` and
        ``JUDGE_MAX_CONCURRENT``. Unknown keys raise `ConfigError` naming them.
        """
        if isinstance(config, RewardConfig):
            data: dict[str, Any] = {**config.model_dump(), "api_key": config.api_key}
        else:
            data = {k: v for k, v in dict(config or {}).items() if v is not None}
        data = {**reward_env(), **data, **overrides}
        try:
            return cls(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":  # a misspelt key: the closest real one, never its value
                raise ConfigError(
                    f"reward config: {field}: unknown key{suggest(field, cls.model_fields)}", field=field
                ) from None
            shown = "" if "key" in field else f" (got {err.get('input')!r:.60})"
            raise ConfigError(f"reward config: {field}: {err['msg']}{shown}", field=field) from None

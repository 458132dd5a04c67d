"""The provider registry: each backend's ``api_type``, where its class lives, and the environment it reads.

Light on purpose: it imports no provider module (and so no SDK). A built-in provider is named here as
``"module:Class"`` with its `ProviderEnv`, and imported on first use (`load_class`). A provider added from
outside declares its environment itself: ``env = ProviderEnv(...)`` on its `~judgekit.JudgeInterface`
subclass, or ``env=`` to `~judgekit.JudgeFactory.register_judge`. An installed package adds providers through
the ``judgekit.providers`` entry-point group (``name = "module:Class"``), read on first use without importing
them. `judgekit.config` reads the declared variables (it stays the only module that reads ``os.environ``).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from judgekit.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "SETTINGS",
    "ProviderEnv",
    "ProviderSpec",
    "env_variables",
    "get_provider",
    "load_class",
    "provider_env",
    "provider_names",
    "register_provider",
]

ENTRY_POINT_GROUP = "judgekit.providers"
"""Entry-point group through which an installed package adds providers: ``api_type = "module:Class"``."""

SETTINGS: Mapping[str, str] = MappingProxyType(
    {"api_key": "api_key", "base_url": "base_url", "api_version": "api_version", "model": "model_name"}
)
"""Each variable group of a `ProviderEnv` and the `~judgekit.JudgeConfig` field it fills."""

_SERVICE = "{SERVICE}"
_SERVICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ProviderEnv:
    """The environment variables a provider reads, and its defaults.

    For each setting the first variable that is set (and not empty) wins; an explicit setting wins over all.
    ``{SERVICE}`` in a name stands for the config's ``service``, upper-cased with ``-`` as ``_`` (the
    ``openai_compatible`` backend reads ``{SERVICE}_API_KEY``). ``defaults`` are `~judgekit.JudgeConfig`
    fields set when neither given nor found in the environment (``{"base_url": "https://api.acme.com/v1"}``).
    """

    api_key: tuple[str, ...] = ()
    base_url: tuple[str, ...] = ()
    api_version: tuple[str, ...] = ()
    model: tuple[str, ...] = ("MODEL_VERSION",)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def for_service(self, service: str | None) -> ProviderEnv:
        """These names with ``{SERVICE}`` filled in from ``service`` (dropped when there is none)."""
        if not any(_SERVICE in name for name in self.variables):
            return self
        if service is not None and not _SERVICE_NAME.fullmatch(service):
            raise ConfigError(f"service must be a name such as 'acme' or 'together-ai', got {service!r}", "service")
        word = service.upper().replace("-", "_") if service else None

        def fill(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(n.replace(_SERVICE, word) if word else n for n in names if word or _SERVICE not in n)

        return replace(self, **{group: fill(getattr(self, group)) for group in SETTINGS})

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable named, in declaration order."""
        return tuple(dict.fromkeys(name for group in SETTINGS for name in getattr(self, group)))


@dataclass(frozen=True)
class ProviderSpec:
    """One registered provider: its ``api_type`` name, its class (or ``"module:Class"``, imported on first use)
    and its environment (None: the class's own ``env``, read when needed)."""

    name: str
    target: type | str
    env: ProviderEnv | None = None


_OPENAI_ENV = ProviderEnv(api_key=("OPENAI_API_KEY",), base_url=("OPENAI_API_URL", "OPENAI_BASE_URL"))
_VLLM_ENV = ProviderEnv(api_key=("VLLM_API_KEY",), base_url=("LLM_JUDGE_URL", "VLLM_BASE_URL"))

_BUILTINS = (
    ProviderSpec("openai", "judgekit.providers.openai:OpenAIJudge", _OPENAI_ENV),
    ProviderSpec(
        "azure",
        "judgekit.providers.azure:AzureJudge",
        ProviderEnv(
            api_key=("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
            base_url=("AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT"),
            api_version=("AZURE_API_VERSION", "API_VERSION", "OPENAI_API_VERSION"),
        ),
    ),
    ProviderSpec("vllm", "judgekit.providers.vllm:VLLMJudge", _VLLM_ENV),
    ProviderSpec(
        "openai_compatible",
        "judgekit.providers.openai_compatible:OpenAICompatibleJudge",
        ProviderEnv(
            api_key=("{SERVICE}_API_KEY",),
            base_url=("{SERVICE}_BASE_URL",),
            model=("{SERVICE}_MODEL", "MODEL_VERSION"),
        ),
    ),
    ProviderSpec(
        "anthropic",
        "judgekit.providers.anthropic:AnthropicJudge",
        ProviderEnv(api_key=("ANTHROPIC_API_KEY",), base_url=("ANTHROPIC_BASE_URL",)),
    ),
    ProviderSpec("rules", "judgekit.providers.rules:RulesJudge", ProviderEnv()),
    ProviderSpec("torch", "judgekit.providers.torch:TorchJudge", ProviderEnv()),
    ProviderSpec(
        "judge_server",
        "judgekit.providers.judge_server:JudgeServerJudge",
        ProviderEnv(api_key=("JUDGE_MODEL_API_KEY",), base_url=("JUDGE_MODEL_URL",)),
    ),
    ProviderSpec("decisions", "judgekit.providers.decisions:DecisionsJudge", _OPENAI_ENV),
    ProviderSpec("systemone", "judgekit.providers.systemone:SystemOneJudge", _VLLM_ENV),
    ProviderSpec(
        "reward_model",
        "judgekit.providers.reward_model:RewardModelJudge",
        ProviderEnv(api_key=("REWARD_MODEL_API_KEY",), base_url=("REWARD_MODEL_URL",)),
    ),
)

_providers: dict[str, ProviderSpec] = {spec.name: spec for spec in _BUILTINS}
_lock = threading.RLock()
_plugins_loaded = False


def _table() -> dict[str, ProviderSpec]:
    """The registry, with the ``judgekit.providers`` entry points added (not imported) on first use."""
    global _plugins_loaded
    if not _plugins_loaded:
        with _lock:
            if not _plugins_loaded:
                _plugins_loaded = True
                for entry in entry_points(group=ENTRY_POINT_GROUP):
                    name = _key(entry.name)
                    if name not in _providers:  # a built-in, or one registered in code, is not replaced
                        _providers[name] = ProviderSpec(name, entry.value)
    return _providers


def _key(name: str) -> str:
    return name.strip().lower()


def register_provider(name: str, target: type | str, env: ProviderEnv | None = None) -> ProviderSpec:
    """Register (or replace) the provider ``name``: a class, or ``"module:Class"`` imported on first use.
    ``env``: the variables it reads; None takes the class's ``env`` attribute (read when first needed)."""
    if isinstance(target, str) and ":" not in target:
        raise ConfigError(f"register_provider({name!r}): give a class or 'module:Class', got {target!r}", "target")
    if env is not None and not isinstance(env, ProviderEnv):
        raise ConfigError(f"register_provider({name!r}): env must be a ProviderEnv, got {type(env).__name__}", "env")
    spec = ProviderSpec(_key(name), target, env)
    with _lock:
        _table()[spec.name] = spec
    return spec


def provider_names() -> list[str]:
    """Every registered ``api_type``, sorted."""
    return sorted(_table())


def get_provider(name: str) -> ProviderSpec | None:
    """The registered provider ``name`` (case-insensitive), or None."""
    return _table().get(_key(name))


def load_class(name: str) -> type:
    """The class of the provider ``name``, imported on first use; `ConfigError` when it is not registered."""
    spec = get_provider(name)
    if spec is None:
        raise ConfigError(f"unknown api_type {name!r}", "api_type")
    if isinstance(spec.target, str):
        module_name, _, attr = spec.target.partition(":")
        klass = getattr(importlib.import_module(module_name), attr)
        with _lock:
            spec = replace(spec, target=klass)
            _providers[spec.name] = spec
    return spec.target  # type: ignore[return-value]


def provider_env(name: str) -> ProviderEnv:
    """The environment the provider ``name`` declares: its registry entry's, else its class's ``env`` (imported
    for that), else the default (``MODEL_VERSION`` only). An unknown name gets the default."""
    spec = get_provider(name)
    if spec is None:
        return ProviderEnv()
    if spec.env is not None:
        return spec.env
    env = getattr(load_class(spec.name), "env", None)
    return env if isinstance(env, ProviderEnv) else ProviderEnv()


def env_variables(name: str | None = None) -> list[str]:
    """The variables the provider ``name`` reads (``{SERVICE}`` left as is), or, without a name, those of
    every registered provider whose environment is known without importing it."""
    if name is not None:
        return list(provider_env(name).variables)
    found: set[str] = set()
    for spec in list(_table().values()):
        env = spec.env if spec.env is not None else getattr(spec.target, "env", None)
        if isinstance(env, ProviderEnv):
            found.update(env.variables)
    return sorted(found)

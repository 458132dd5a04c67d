"""`JudgeFactory`: the registry of judge backends, keyed by ``api_type``."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from judgekit.config import JudgeConfig, default_api_type
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface

__all__ = ["JudgeFactory"]

J = TypeVar("J", bound=type[JudgeInterface])

# Built-ins are named as "module:Class" and imported on first use, so optional SDKs load only when used.
_BUILTINS: dict[str, str] = {
    "openai": "judgekit.providers.openai:OpenAIJudge",
    "azure": "judgekit.providers.azure:AzureJudge",
    "vllm": "judgekit.providers.vllm:VLLMJudge",
    "anthropic": "judgekit.providers.anthropic:AnthropicJudge",
    "rules": "judgekit.providers.rules:RulesJudge",
    "torch": "judgekit.providers.torch:TorchJudge",
    "judge_server": "judgekit.providers.judge_server:JudgeServerJudge",
    "decisions": "judgekit.providers.decisions:DecisionsJudge",
    "systemone": "judgekit.providers.systemone:SystemOneJudge",
    "reward_model": "judgekit.providers.reward_model:RewardModelJudge",
}


class JudgeFactory:
    """Creates judges by name. ``register_judge`` adds a backend (also usable as a decorator)."""

    _registry: ClassVar[dict[str, type[JudgeInterface] | str]] = dict(_BUILTINS)

    @classmethod
    def register_judge(cls, name: str, judge_class: J | None = None) -> Any:
        """Register ``judge_class`` under ``name``; without a class, return a decorator."""
        if judge_class is None:

            def decorator(klass: J) -> J:
                cls.register_judge(name, klass)
                return klass

            return decorator
        if not (isinstance(judge_class, type) and issubclass(judge_class, JudgeInterface)):
            raise ConfigError(f"register_judge({name!r}): {judge_class!r} is not a JudgeInterface subclass", "cls")
        cls._registry[name.strip().lower()] = judge_class
        return judge_class

    @classmethod
    def list_judges(cls) -> list[str]:
        """The registered ``api_type`` names."""
        return sorted(cls._registry)

    @classmethod
    def describe(cls, api_type: str) -> str:
        """Where the backend lives, as ``"module:Class"`` (without importing it)."""
        entry = cls._registry.get(api_type.strip().lower())
        if entry is None:
            cls.get_judge_class(api_type)  # raises the "unknown api_type" error
        return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"  # type: ignore[union-attr]

    @classmethod
    def get_judge_class(cls, api_type: str) -> type[JudgeInterface]:
        """The class registered under ``api_type``; an unknown name lists the known ones."""
        name = api_type.strip().lower()
        entry = cls._registry.get(name)
        if entry is None:
            known = cls.list_judges()
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown api_type {api_type!r}.{hint} Registered: {', '.join(known)}", "api_type")
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attr)
            cls._registry[name] = entry
        return entry

    @classmethod
    def create_judge(
        cls, api_type: str | None = None, config: JudgeConfig | None = None, **overrides: Any
    ) -> JudgeInterface:
        """Create a judge. ``api_type`` falls back to ``config.api_type``, then ``API_TYPE``, then openai.

        Unset key, URL and model are filled from the environment for that backend. ``cache`` may also be a
        cache object (`judgekit.cache`) to share between judges.
        """
        name = api_type or (config.api_type if config else None) or default_api_type()
        judge_class = cls.get_judge_class(name)
        cache = overrides.get("cache")
        cache_object = cache is not None and not isinstance(cache, (bool, str))
        if cache_object:
            del overrides["cache"]
        base = config if config is not None else JudgeConfig()
        final = base.merged(api_type=name.strip().lower(), **overrides).with_env_defaults()
        judge = judge_class(final)
        if cache_object:
            judge.cache = cache
        return judge


_cached: dict[tuple[str, str | None], JudgeInterface] = {}
_cached_lock = threading.Lock()
_MAX_CACHED = 16


def cached_judge(config: JudgeConfig) -> JudgeInterface:
    """A judge for ``config``, reused across calls with an identical config (and so its connection pool).

    For module-level helpers (`get_binary_judge_response`, the legacy functions) that are called once per
    item; the oldest of more than 16 distinct configs is closed.
    """
    key = (config.model_dump_json(), config.secret())
    with _cached_lock:
        judge = _cached.get(key)
        if judge is None:
            judge = JudgeFactory.create_judge(config=config)
            if len(_cached) >= _MAX_CACHED:
                oldest = _cached.pop(next(iter(_cached)))
                with contextlib.suppress(Exception):
                    oldest.close()
            _cached[key] = judge
        return judge


def register_judge(name: str) -> Callable[[J], J]:
    """Decorator form: ``@register_judge("mine") class MyJudge(JudgeInterface): ...``."""
    return JudgeFactory.register_judge(name)

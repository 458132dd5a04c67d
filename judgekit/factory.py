"""`JudgeFactory`: the registry of judge backends, keyed by ``api_type``."""

from __future__ import annotations

import contextlib
import difflib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from judgekit.config import JudgeConfig, default_api_type
from judgekit.errors import ConfigError
from judgekit.interface import JudgeInterface
from judgekit.provider_registry import ProviderEnv, get_provider, load_class, provider_names, register_provider

__all__ = ["JudgeFactory"]

J = TypeVar("J", bound=type[JudgeInterface])


class JudgeFactory:
    """Creates judges by name. ``register_judge`` adds a backend (also usable as a decorator).

    The names, classes and declared environments live in `judgekit.provider_registry`; built-ins (and entry
    points of the ``judgekit.providers`` group) are ``"module:Class"`` there, imported on first use, so optional
    SDKs load only when used."""

    @classmethod
    def register_judge(cls, name: str, judge_class: J | str | None = None, *, env: ProviderEnv | None = None) -> Any:
        """Register ``judge_class`` (a `JudgeInterface` subclass, or ``"module:Class"`` imported on first use)
        under ``name``; without a class, return a decorator. ``env`` declares the environment variables it reads
        (default: the class's ``env`` attribute, a `~judgekit.provider_registry.ProviderEnv`)."""
        if judge_class is None:

            def decorator(klass: J) -> J:
                cls.register_judge(name, klass, env=env)
                return klass

            return decorator
        if not isinstance(judge_class, str) and not (
            isinstance(judge_class, type) and issubclass(judge_class, JudgeInterface)
        ):
            raise ConfigError(f"register_judge({name!r}): {judge_class!r} is not a JudgeInterface subclass", "cls")
        register_provider(name, judge_class, env)
        return judge_class

    @classmethod
    def list_judges(cls) -> list[str]:
        """The registered ``api_type`` names."""
        return provider_names()

    @classmethod
    def describe(cls, api_type: str) -> str:
        """Where the backend lives, as ``"module:Class"`` (without importing it)."""
        spec = get_provider(api_type)
        if spec is None:
            cls.get_judge_class(api_type)  # raises the "unknown api_type" error
        target = spec.target  # type: ignore[union-attr]
        return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"

    @classmethod
    def get_judge_class(cls, api_type: str) -> type[JudgeInterface]:
        """The class registered under ``api_type``; an unknown name lists the known ones."""
        if get_provider(api_type) is None:
            known = cls.list_judges()
            close = difflib.get_close_matches(api_type.strip().lower(), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown api_type {api_type!r}.{hint} Registered: {', '.join(known)}", "api_type")
        klass = load_class(api_type)
        if not (isinstance(klass, type) and issubclass(klass, JudgeInterface)):
            raise ConfigError(f"api_type {api_type!r}: {klass!r} is not a JudgeInterface subclass", "api_type")
        return klass

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


def register_judge(name: str, *, env: ProviderEnv | None = None) -> Callable[[J], J]:
    """Decorator form: ``@register_judge("mine") class MyJudge(JudgeInterface): ...``."""
    return JudgeFactory.register_judge(name, env=env)  # type: ignore[no-any-return]

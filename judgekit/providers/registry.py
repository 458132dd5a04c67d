"""The old home of the provider registry, kept so that ``judgekit.providers.registry`` imports keep working; the
registry is `judgekit.provider_registry` (below the providers, which it names without importing)."""

from judgekit.provider_registry import (
    ENTRY_POINT_GROUP,
    SETTINGS,
    ProviderEnv,
    ProviderSpec,
    env_variables,
    get_provider,
    load_class,
    provider_env,
    provider_names,
    register_provider,
)

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

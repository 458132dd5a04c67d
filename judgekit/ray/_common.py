"""What the Ray data and serve sides share: the import guard, how a judge travels to an actor, and joining a
cluster."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.interface import JudgeInterface
from judgekit.simplified import SimplifiedJudge

__all__ = [
    "JudgeSpec",
    "connect",
    "judge_builder",
    "require_ray",
]

JudgeSpec = JudgeConfig | Mapping[str, Any] | Callable[[], SimplifiedJudge | JudgeInterface]
"""How a judge is given to Ray: a `JudgeConfig`, a dict of `SimplifiedJudge` keywords (``api_type``,
``model_name``, ``base_url``, any `JudgeConfig` field) or a zero-argument factory returning a judge. A judge
object itself holds connections and loaded models, so it is built where it runs, once per actor or replica."""


def require_ray() -> None:
    """Raise `MissingDependencyError` with the install line when ray (with Data and Serve) is missing."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f'judgekit.ray needs ray ({exc.name} is missing): pip install "judgekit[ray]"'
        ) from exc


def judge_builder(judge: JudgeSpec) -> Callable[[], SimplifiedJudge]:
    """A picklable zero-argument callable that builds the judge where it is called (in an actor).

    A config or dict is checked here, in the driver, so a bad field fails at once with a `ConfigError`.
    """
    if isinstance(judge, (SimplifiedJudge, JudgeInterface)):
        raise ConfigError(
            "judge: pass a JudgeConfig, a config dict or a zero-argument factory, not a judge object "
            "(each Ray actor builds its own judge)",
            "judge",
        )
    if isinstance(judge, JudgeConfig):
        return functools.partial(_from_config, judge)
    if isinstance(judge, Mapping):
        fields = dict(judge)
        logprob_score = bool(fields.pop("logprob_score", False))
        config = JudgeConfig(**fields)  # a bad field fails here, once, not in every actor
        return functools.partial(_from_config, config, logprob_score)
    if callable(judge):
        return functools.partial(_from_factory, judge)
    raise ConfigError(f"judge: expected a JudgeConfig, a dict or a factory, got {type(judge).__name__}", "judge")


def _from_config(config: JudgeConfig, logprob_score: bool = False) -> SimplifiedJudge:
    return SimplifiedJudge(config=config, logprob_score=logprob_score)


def _from_factory(factory: Callable[[], Any]) -> SimplifiedJudge:
    made = factory()
    if isinstance(made, SimplifiedJudge):
        return made
    if isinstance(made, JudgeInterface):
        return SimplifiedJudge(judge=made)
    raise ConfigError(f"judge: the factory returned {type(made).__name__}, not a judge", "judge")


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (``"auto"``, ``"HOST:6379"``, ``"ray://..."``), or start a local Ray
    on this machine when ``address`` is None; nothing when this process is already connected."""
    import ray

    if ray.is_initialized():
        return
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)

"""What the Ray data and serve sides share: the import guard, how a judge travels to an actor, and judging a
list of items where a malformed item fails alone."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from judgekit._batch import gather_ordered
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.interface import JudgeInterface
from judgekit.simplified import SimplifiedJudge

__all__ = [
    "BACKEND_FIELDS",
    "JudgeSpec",
    "ajudge_items",
    "connect",
    "item_failure",
    "judge_builder",
    "load_model",
    "require_ray",
]

JudgeSpec = JudgeConfig | Mapping[str, Any] | Callable[[], SimplifiedJudge | JudgeInterface]
"""How a judge is given to Ray: a `JudgeConfig`, a dict of `SimplifiedJudge` keywords (``api_type``,
``model_name``, ``base_url``, any `JudgeConfig` field) or a zero-argument factory returning a judge. A judge
object itself holds connections and loaded models, so it is built where it runs, once per actor or replica."""

BACKEND_FIELDS = frozenset({"api_key", "base_url", "api_type", "model_name", "azure_deployment", "api_version", "task"})
"""`ConfigError` fields that mean the backend is misconfigured (every item would fail): those stop the job."""


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


def load_model(judge: SimplifiedJudge) -> None:
    """Load an in-process model now (once per actor or replica), not on the first item."""
    load = getattr(judge.judge, "load", None)
    if callable(load):
        load()


def item_failure(message: str, error_type: str = "ConfigError") -> dict[str, Any]:
    """The result of an item that could not be judged as given (the same shape ``judgekit batch`` writes)."""
    return {"success": False, "result": None, "scores": None, "error_message": message, "error_type": error_type}


async def ajudge_items(judge: SimplifiedJudge, kind: str, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One result dict per item, in order, through the judge's batch path.

    A malformed item (a `ConfigError` about the item) fails alone, as ``success=False`` with
    ``error_type="ConfigError"``; a misconfigured backend (`BACKEND_FIELDS`) raises.
    """
    try:
        return [dict(result) for result in await judge.aevaluate_batch(kind, items)]
    except ConfigError as exc:
        if exc.field in BACKEND_FIELDS:
            raise
        if len(items) == 1:
            return [item_failure(str(exc).removeprefix("items[0]: "), type(exc).__name__)]

    async def single(item: Mapping[str, Any]) -> dict[str, Any]:
        return (await ajudge_items(judge, kind, [item]))[0]

    return await gather_ordered(list(items), single, concurrency=judge.config.max_concurrent)


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

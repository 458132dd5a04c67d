"""How a judgekit result becomes one score in [0, 1], for the judge server and the reward adapter. Pure.

Rules, in order (see docs/server.md):

1. Which kind judges a request: its own ``kind`` field, else the server's ``kind``. ``auto`` means
   ``correctness`` when the request has a non-empty ``answer`` and ``pointwise`` when it has none.
2. A failed judgement has no score (the server answers with an error, never a number).
3. Binary / correctness: a backend-native ``score`` in [0, 1] (a judge model's own P(yes), as the torch
   judge's ``logprob`` mode gives) wins; else the result's ``p_yes`` (from token log-probabilities, when the
   judge runs with ``logprob_score=True``); else the verdict, 1.0 or 0.0.
4. Pointwise (and any registered scored kind): ``(s - lo) / (hi - lo)`` clamped to [0, 1], where
   ``(lo, hi)`` is the kind's own ``scale`` when it declares one (a 1-7 Likert kind: its 7 scores 1.0), else
   the judge's ``score_range``, and ``s`` the result's ``expected_score`` (from logprobs) when present, else
   its score (a backend-native score, e.g. the torch judge's expected score, or the parsed
   ``<score>N</score>``). A reward-model head's scalar (``reward_head=True``) has no range: it becomes
   ``sigmoid(s)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from judgekit import kinds

__all__ = [
    "KINDS",  # noqa: F822 (read from the kind registry at each use, see __getattr__)
    "SERVER_KINDS",  # noqa: F822
    "Scored",
    "resolve_kind",
    "scorable_kinds",
    "score_result",
]


def scorable_kinds() -> tuple[str, ...]:
    """Kinds a request can be judged as (the registered ``scorable`` kinds of `judgekit.kinds`)."""
    return tuple(name for name, spec in kinds.KINDS.items() if spec.scorable)


def __getattr__(name: str) -> Any:
    if name == "KINDS":  # the old constants, now read from the kind registry at each use
        return scorable_kinds()
    if name == "SERVER_KINDS":
        return kinds.server_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Scored:
    """A score in [0, 1], where it came from (``native``, ``logprobs``, ``verdict``, ``scaled``, ``sigmoid``)
    and the judge's own output (the 1/0 verdict, or the pointwise score)."""

    score: float
    source: str
    raw: Any


def resolve_kind(requested: str | None, server_kind: str, answer: str | None) -> str:
    """The kind that judges a request (rule 1)."""
    kind = requested or server_kind
    if kind == "auto":
        return "correctness" if answer is not None and answer.strip() else "pointwise"
    return kind


def score_result(
    kind: str, result: dict[str, Any], score_range: tuple[float, float], *, reward_head: bool = False
) -> Scored:
    """The score of a successful `~judgekit.types.JudgeResult` of ``kind`` (rules 3 and 4).

    Raises ValueError when the result holds nothing to score (it should not happen for a successful result).
    """
    native = _finite(result.get("score"))
    spec = kinds.get_kind(kind)
    if not spec.verdict:  # a score (pointwise, or a kind with its own scale)
        expected, value = _finite(result.get("expected_score")), _finite(result.get("scores"))
        if value is None:
            value = native
        if expected is None and value is None:
            raise ValueError(f"the {kind} result has no score: {result.get('scores')!r}")
        if reward_head and value is not None:
            return Scored(1.0 / (1.0 + math.exp(-value)), "sigmoid", value)
        low, high = spec.scale if spec.scale is not None else score_range
        scaled = min(1.0, max(0.0, ((expected if expected is not None else value) - low) / (high - low)))  # type: ignore[operator]
        source = "logprobs" if expected is not None else "native" if native is not None else "scaled"
        return Scored(scaled, source, value)
    verdict = result.get("result")
    if verdict is None:
        raise ValueError(f"the {kind} result has no verdict")
    raw = 1 if verdict else 0
    if native is not None and 0.0 <= native <= 1.0:
        return Scored(native, "native", raw)
    probability = _finite(result.get("p_yes"))
    if probability is not None and 0.0 <= probability <= 1.0:
        return Scored(probability, "logprobs", raw)
    return Scored(float(raw), "verdict", raw)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None

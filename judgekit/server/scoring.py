"""How the judge server turns a judgekit result into one score in [0, 1]. Pure functions, no I/O.

Rules, in order (see docs/server.md):

1. Which kind judges a request: its own ``kind`` field, else the server's ``kind``. ``auto`` means
   ``correctness`` when the request has a non-empty ``answer`` and ``pointwise`` when it has none.
2. A failed judgement has no score (the server answers with an error, never a number).
3. A backend-native ``score`` in [0, 1] wins (a judge model's own probability, a calibrated head).
4. Binary / correctness: the result's ``p_yes`` (P(yes) from token log-probabilities, present when the
   judge runs with ``logprob_score=True`` and the backend returned logprobs), else the verdict: 1.0 / 0.0.
5. Pointwise: ``(s - lo) / (hi - lo)`` clamped to [0, 1], with ``(lo, hi)`` the judge's ``score_range`` and
   ``s`` the result's ``expected_score`` (from logprobs) when present, else its parsed score; a native
   score outside [0, 1] (an unbounded reward-model scalar) becomes ``sigmoid(score)`` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "SERVER_KINDS", "Scored", "resolve_kind", "score_result"]

KINDS = ("binary", "correctness", "pointwise")
"""Kinds a request can be judged as."""
SERVER_KINDS = ("auto", *KINDS)
"""Kinds a server (or a request) may name."""


@dataclass(frozen=True)
class Scored:
    """A score in [0, 1], where it came from (``native``, ``native_sigmoid``, ``logprobs``, ``verdict``,
    ``scaled``) and
    the judge's own output (the 1/0 verdict, or the pointwise score in ``score_range``)."""

    score: float
    source: str
    raw: Any


def resolve_kind(requested: str | None, server_kind: str, answer: str | None) -> str:
    """The kind that judges a request (rule 1)."""
    kind = requested or server_kind
    if kind == "auto":
        return "correctness" if answer is not None and answer.strip() else "pointwise"
    return kind


def score_result(kind: str, result: dict[str, Any], score_range: tuple[float, float]) -> Scored:
    """The score of a successful `~judgekit.types.JudgeResult` of ``kind`` (rules 3-5).

    Raises ValueError when the result holds nothing to score (it should not happen for a successful result).
    """
    native = _finite(result.get("score"))
    verdict = result.get("result")
    if native is not None and 0.0 <= native <= 1.0:
        raw = result.get("scores") if kind == "pointwise" else None if verdict is None else int(bool(verdict))
        return Scored(native, "native", raw)
    if kind == "pointwise":
        if native is not None:
            return Scored(1.0 / (1.0 + math.exp(-native)), "native_sigmoid", native)
        expected, value = _finite(result.get("expected_score")), _finite(result.get("scores"))
        if expected is None and value is None:
            raise ValueError(f"the pointwise result has no score: {result.get('scores')!r}")
        low, high = score_range
        scaled = min(1.0, max(0.0, ((expected if expected is not None else value) - low) / (high - low)))
        return Scored(scaled, "scaled" if expected is None else "logprobs", value)
    if verdict is None:
        raise ValueError(f"the {kind} result has no verdict")
    probability = _finite(result.get("p_yes"))
    if probability is not None and 0.0 <= probability <= 1.0:
        return Scored(probability, "logprobs", 1 if verdict else 0)
    return Scored(1.0 if verdict else 0.0, "verdict", 1 if verdict else 0)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None

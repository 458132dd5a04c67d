"""Judging a GRPO group together: one result per member from a ``listwise`` reply or a ``tournament``.

Pure functions over results; `SimplifiedJudge.evaluate_group` sends the requests and calls them.

- ``listwise``: the member's ``scores`` is the score the judge gave it (in ``score_range``); its ``reward`` is
  that score scaled into [0, 1] by the range (GRPO then centres it on the group's mean). ``position`` is where
  it was shown ([1] = 1); ``order`` and ``seed`` record the shuffle. An unreadable or failed group reply is a
  failure for every member.
- ``tournament``: every pair judged in both orders; each order is one comparison. The members' strengths are
  a Bradley-Terry fit (`choix.ilsr_pairwise`, lightly regularised so a member that won everything stays
  finite); ``scores`` is the strength (log-scale, mean 0 over the members fitted) and ``reward`` the expected
  share of wins against the rest of the group, ``mean_j sigmoid(s_i - s_j)`` in (0, 1), whose group mean is
  0.5. A failed comparison is left out; a member none of whose comparisons succeeded is a failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from judgekit.errors import MissingDependencyError
from judgekit.types import JudgeResult

__all__ = ["BT_ALPHA", "listwise_members", "tournament_members", "tournament_pairs"]

BT_ALPHA = 0.01
"""The regularisation of the Bradley-Terry fit (`choix.ilsr_pairwise`'s ``alpha``)."""

_SHARED = ("raw_response", "prompt", "model", "reasoning", "usage", "latency_s", "cached", "provider", "cost_usd")


def listwise_members(result: JudgeResult, n: int, score_range: tuple[float, float]) -> list[JudgeResult]:
    """One result per member (input order) from the group's listwise ``result``."""
    low, high = score_range
    order = list(result.get("order") or [])
    shared = {key: result.get(key) for key in _SHARED}
    base = {"kind": "listwise", "group_size": n, "order": order, "seed": result.get("seed"), "requests": 1, **shared}
    members = []
    for i in range(n):
        position = order.index(i) + 1 if i in order else None
        if not result["success"]:
            members.append(_failed(base, i, result["error_message"], result["error_type"], position=position))
            continue
        score = float(result["scores"][i])
        reward = (score - low) / (high - low)
        members.append(
            JudgeResult(
                base,
                success=True,
                member=i,
                position=position,
                scores=score,
                reward=reward,
                result=None,
                error_message=None,
                error_type=None,
            )
        )
    return members


def tournament_pairs(n: int) -> list[tuple[int, int]]:
    """The pairs ``(i, j)``, ``i < j``, a tournament of ``n`` members judges (each in both orders)."""
    return list(combinations(range(n), 2))


def tournament_members(
    pairs: Sequence[tuple[int, int]], results: Sequence[JudgeResult], n: int, *, alpha: float = BT_ALPHA
) -> list[JudgeResult]:
    """One result per member (input order) from the swap-judged pairwise ``results`` of ``pairs``."""
    comparisons: list[tuple[int, int]] = []  # (winner, loser), one per order judged
    seen = [0] * n
    errors: list[tuple[str, str | None]] = []  # (message, error_type) of each failed comparison
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for (i, j), result in zip(pairs, results, strict=True):
        orders = result.get("swap_results") or [result]
        for k, one in enumerate(orders):
            for key in usage:
                usage[key] += int((one.get("usage") or {}).get(key) or 0)
            if not one["success"] or one.get("result") not in ("A", "B"):
                errors.append((str(one.get("error_message") or "no verdict"), one.get("error_type") or "ParseError"))
                continue
            first, second = (i, j) if k == 0 else (j, i)  # the second order showed j as A
            comparisons.append((first, second) if one["result"] == "A" else (second, first))
            seen[i] += 1
            seen[j] += 1
    fitted = [i for i in range(n) if seen[i]]
    strengths = _bradley_terry(n, comparisons, alpha) if comparisons else [0.0] * n
    mean = sum(strengths[i] for i in fitted) / len(fitted) if fitted else 0.0
    wins, losses = [0] * n, [0] * n
    for winner, loser in comparisons:
        wins[winner] += 1
        losses[loser] += 1
    base = {"kind": "tournament", "group_size": n, "requests": 2 * len(pairs), "usage": usage}
    members = []
    for i in range(n):
        if not seen[i]:
            reason, error_type = errors[0] if errors else ("a group of one has nothing to compare", "ConfigError")
            members.append(_failed(base, i, f"no comparison of this member succeeded: {reason}", error_type))
            continue
        others = [j for j in fitted if j != i]
        reward = sum(_sigmoid(strengths[i] - strengths[j]) for j in others) / len(others) if others else 0.5
        members.append(
            JudgeResult(
                base,
                success=True,
                member=i,
                scores=strengths[i] - mean,
                reward=reward,
                wins=wins[i],
                losses=losses[i],
                comparisons=seen[i],
                comparisons_failed=len(errors),
                result=None,
                error_message=None,
                error_type=None,
            )
        )
    return members


def _bradley_terry(n: int, comparisons: list[tuple[int, int]], alpha: float) -> list[float]:
    try:
        import choix
    except ImportError as exc:
        raise MissingDependencyError(
            f'the tournament group kind needs choix: pip install "judgekit[group]" ({exc})', "kind"
        ) from exc
    return [float(x) for x in choix.ilsr_pairwise(n, comparisons, alpha=alpha)]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _failed(
    base: dict[str, Any], member: int, message: str | None, error_type: str | None, **extra: Any
) -> JudgeResult:
    return JudgeResult(
        base,
        success=False,
        member=member,
        scores=None,
        reward=None,
        result=None,
        error_message=message or "the group judgement failed",
        error_type=error_type,
        **extra,
    )

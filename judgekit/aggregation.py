"""Honest aggregation of judged items: the mean of what was graded, never a failure counted as 0.

``sum(scores) / len(scores)`` over a task's results turns a failed judgement into a 0, and
``... if results else 0`` turns "nothing could be graded" into a score of 0. `graded_mean` leaves failures
out, says how many, and is NaN when nothing was graded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from loguru import logger

from judgekit.errors import ConfigError
from judgekit.parsing import Verdict

__all__ = ["GradedMean", "graded_mean"]


@dataclass(frozen=True)
class GradedMean:
    """The mean of the graded items: ``mean`` (NaN when ``graded`` is 0), ``graded`` and ``failed`` counts.

    ``float(m)`` is ``m.mean``, so an lmms-eval ``aggregate_results`` function can return it as the metric.
    """

    mean: float
    graded: int
    failed: int

    def __float__(self) -> float:
        return self.mean

    @property
    def total(self) -> int:
        """All items: graded and failed."""
        return self.graded + self.failed


def graded_mean(values: Iterable[Any], *, name: str = "graded_mean") -> GradedMean:
    """The mean of ``values`` that were graded, leaving out failures; logs one line when any were left out.

    Each value is a number (``bool`` and a yes/no `~judgekit.parsing.Verdict` count as 1/0), ``None`` (a
    failed grading), NaN (TRL's "no reward"), or a `~judgekit.types.JudgeResult` (failed when ``success``
    is False; else its ``result``, or its ``scores`` when that is one number). Anything else (a string, a
    list, a result whose value is not one number) is a `ConfigError` naming the item: pick the number out
    first. ``name`` labels the log line.
    """
    if isinstance(values, (str, bytes, Mapping)):
        raise ConfigError("values must be an iterable of numbers, None or JudgeResults", "values")
    total = 0.0
    graded = failed = 0
    for index, value in enumerate(values):
        number = _number(value, index)
        if number is None:
            failed += 1
        else:
            total += number
            graded += 1
    mean = total / graded if graded else math.nan
    if failed or not graded:
        outcome = f"mean {mean:.4g}" if graded else "mean is NaN: nothing was graded"
        logger.warning("{}: {} of {} items left out (failed or not graded); {}", name, failed, graded + failed, outcome)
    return GradedMean(mean=mean, graded=graded, failed=failed)


def _number(value: Any, index: int) -> float | None:
    """The graded number of one item, or None when it was not graded."""
    if isinstance(value, Mapping) and "success" in value:
        if not value["success"]:
            return None
        inner = value.get("result")
        value = value.get("scores") if inner is None else inner
        if value is None:
            raise ConfigError(
                f"values[{index}] is a successful result with no number in 'result' or 'scores'", f"values[{index}]"
            )
    if value is None:
        return None
    if isinstance(value, Verdict):  # a yes/no verdict counts as 1/0, as its truth value says
        return float(bool(value))
    if isinstance(value, Real):
        number = float(value)
        return None if math.isnan(number) else number
    raise ConfigError(
        f"values[{index}] must be a number, None or a JudgeResult, got {type(value).__name__} {value!r:.60}",
        f"values[{index}]",
    )

"""Honest aggregation of judged items: the mean of what was graded, never a failure counted as 0.

``sum(scores) / len(scores)`` over a task's results turns a failed judgement into a 0, and
``... if results else 0`` turns "nothing could be graded" into a score of 0. `graded_mean` leaves failures
out, says how many, and is NaN when nothing was graded.

Leaving failures out is honest only when they are unrelated to the score. They rarely are: a judge that
explains partial credit fails to parse more often than one that writes "1.0", so the graded items lean
high. `graded_mean` therefore reports the failed share and warns when it is above ``warn_above``
(`FAILED_SHARE_WARNING`, 5%): then the mean may be biased, and the failures are worth reading
(docs/migrating-lmms-eval.md shows by how much).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from loguru import logger

from judgekit.errors import ConfigError
from judgekit.parsers import Verdict

__all__ = ["FAILED_SHARE_WARNING", "GradedMean", "graded_mean"]

FAILED_SHARE_WARNING = 0.05
"""`graded_mean` warns when more than this share of the items was left out (failed or not graded)."""


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

    @property
    def failed_share(self) -> float:
        """The share of the items left out (0.0 when there were none)."""
        return self.failed / self.total if self.total else 0.0


def graded_mean(
    values: Iterable[Any], *, name: str = "graded_mean", warn_above: float = FAILED_SHARE_WARNING
) -> GradedMean:
    """The mean of ``values`` that were graded, leaving out failures; logs one line when any were left out:
    a WARNING when their share (`GradedMean.failed_share`) is above ``warn_above`` (the mean may be biased:
    failures that go with low scores push it up), else INFO.

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
    if not isinstance(warn_above, Real) or not 0 <= warn_above <= 1:
        raise ConfigError(f"warn_above must be a share in [0, 1], got {warn_above!r}", "warn_above")
    result = GradedMean(mean=total / graded if graded else math.nan, graded=graded, failed=failed)
    if failed or not graded:
        outcome = f"mean {result.mean:.4g}" if graded else "mean is NaN: nothing was graded"
        biased = graded and result.failed_share > warn_above
        note = f"; more than {warn_above:.0%} failed, so the mean may be biased: read the failures" if biased else ""
        logger.log(
            "WARNING" if biased or not graded else "INFO",
            "{}: {} of {} items left out ({:.1%}, failed or not graded); {}{}",
            name, failed, result.total, result.failed_share, outcome, note,
        )  # fmt: skip
    return result


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

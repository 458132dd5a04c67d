"""graded_mean: failures are left out and counted, never averaged in as 0; nothing graded is NaN."""

from __future__ import annotations

import math

import pytest

from judgekit import ConfigError, JudgeResult
from judgekit.aggregation import GradedMean, graded_mean
from judgekit.parsing import Verdict


def test_mean_of_graded_items_only(log_lines: list[str]) -> None:
    result = graded_mean([1.0, None, 0.5, float("nan"), 0], name="mmvet")
    assert result == GradedMean(mean=0.5, graded=3, failed=2)
    assert float(result) == 0.5 and result.total == 5
    assert result.failed_share == 0.4
    assert log_lines == [
        "mmvet: 2 of 5 items left out (40.0%, failed or not graded); mean 0.5; more than 5% failed, so the mean may "
        "be biased: read the failures"
    ]


def test_nothing_graded_is_nan_with_a_count(log_lines: list[str]) -> None:
    result = graded_mean([None, None, None], name="wild_vision")
    assert math.isnan(result.mean) and math.isnan(float(result))
    assert (result.graded, result.failed) == (0, 3)
    assert log_lines == [
        "wild_vision: 3 of 3 items left out (100.0%, failed or not graded); mean is NaN: nothing was graded"
    ]
    assert math.isnan(graded_mean([]).mean)


def test_a_small_failed_share_is_reported_without_a_warning(log_lines: list[str]) -> None:
    from loguru import logger

    info: list[str] = []
    sink = logger.add(lambda m: info.append(m.record["message"]), level="INFO")
    try:
        small = graded_mean([1.0] * 99 + [None], name="big task")
    finally:
        logger.remove(sink)
    assert small.failed_share == 0.01 and small.mean == 1.0
    assert log_lines == []  # 1% left out: no warning (the threshold is 5%) ...
    assert info == ["big task: 1 of 100 items left out (1.0%, failed or not graded); mean 1"]  # ... but reported
    assert graded_mean([1.0] * 99 + [None], warn_above=0.0).failed == 1
    assert len(log_lines) == 1 and "may be biased" in log_lines[0]
    with pytest.raises(ConfigError, match="warn_above"):
        graded_mean([1.0], warn_above=5)


def test_all_graded_logs_nothing(log_lines: list[str]) -> None:
    assert graded_mean([True, False, 1, Verdict("no"), Verdict("yes")]) == GradedMean(0.6, 5, 0)
    assert log_lines == []


def test_judge_results() -> None:
    ok = JudgeResult(success=True, result=1, scores=None)
    scored = JudgeResult(success=True, result=None, scores=7.0)
    failed = JudgeResult(success=False, result=None, scores=None, error_message="unreadable")
    assert graded_mean([ok, scored, failed]) == GradedMean(4.0, 2, 1)
    with pytest.raises(ConfigError, match=r"values\[0\]"):
        graded_mean([JudgeResult(success=True, result=None, scores=None)])


@pytest.mark.parametrize("bad", [["0.5"], [[1, 2]], [JudgeResult(success=True, result=None, scores=(8, 9))]])
def test_non_numbers_are_config_errors(bad: list[object]) -> None:
    with pytest.raises(ConfigError, match=r"values\[0\]"):
        graded_mean(bad)


def test_a_string_or_dict_is_not_a_list_of_values() -> None:
    for bad in ("0.5", {"a": 1}):
        with pytest.raises(ConfigError, match="values"):
            graded_mean(bad)  # type: ignore[arg-type]

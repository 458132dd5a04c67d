"""Prediction-powered inference against ppi-python and by simulation; calibrators against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from judgekit.errors import ConfigError
from judgekit.validation import calibration, classical_mean, ppi_mean
from judgekit.validation.metrics import ece
from judgekit.validation.ppi import classical_mean_arrays, ppi_mean_arrays

TOL = 1e-9


def _dataset(
    rng: np.random.Generator,
    n: int,
    big_n: int,
    accuracy: float = 0.7,
    tpr: float = 0.95,
    fpr: float = 0.3,
    shape: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Human labels (is the evaluated model right?) on the first ``n`` items and a lenient judge's verdicts on
    all ``n + big_n``: it says "right" to right answers with probability ``tpr`` and to wrong ones with ``fpr``,
    so its own mean is biased upwards."""
    truth = (rng.random((*shape, n + big_n)) < accuracy).astype(float)
    judged = (rng.random(truth.shape) < np.where(truth == 1, tpr, fpr)).astype(float)
    return judged[..., n:], judged[..., :n], truth[..., :n]


@pytest.mark.parametrize("lam", [None, 1.0, 0.0, 0.4])
def test_ppi_mean_matches_ppi_python(lam):
    rng = np.random.default_rng(11)
    unlabelled, judged, human = _dataset(rng, 80, 900)
    est = ppi_mean(unlabelled, judged, human, alpha=0.05, lam=lam)
    low, high = ppi_mean_ci(human, judged, unlabelled, alpha=0.05, lam=lam)
    point = ppi_mean_pointestimate(human, judged, unlabelled, lam=lam)
    assert est.value == pytest.approx(float(np.ravel(point)[0]), abs=TOL)
    assert est.ci_low == pytest.approx(float(np.ravel(low)[0]), abs=TOL)
    assert est.ci_high == pytest.approx(float(np.ravel(high)[0]), abs=TOL)


def test_ppi_with_scores_and_p_yes_matches_ppi_python():
    rng = np.random.default_rng(12)
    human = rng.normal(6, 2, 60)
    judged = human + rng.normal(0.8, 1.0, 60)  # a biased, noisy scorer
    unlabelled = rng.normal(6, 2, 2000) + rng.normal(0.8, 1.0, 2000)
    est = ppi_mean(unlabelled, judged, human, alpha=0.1)
    low, high = ppi_mean_ci(human, judged, unlabelled, alpha=0.1)
    assert (est.ci_low, est.ci_high) == pytest.approx((float(low[0]), float(high[0])), abs=TOL)


def test_classical_mean_matches_ppi_python():
    human = np.random.default_rng(13).integers(0, 2, 50).astype(float)
    est = classical_mean(human, alpha=0.05)
    low, high = classical_mean_ci(human, alpha=0.05)
    assert (est.value, est.ci_low, est.ci_high) == pytest.approx((human.mean(), float(low), float(high)), abs=TOL)


def test_ppi_vectorized_equals_one_at_a_time():
    rng = np.random.default_rng(14)
    unlabelled, judged, human = _dataset(rng, 40, 300, shape=(5,))
    values, lows, highs = ppi_mean_arrays(unlabelled, judged, human)
    for i in range(5):
        assert ppi_mean(unlabelled[i], judged[i], human[i]) == pytest.approx((values[i], lows[i], highs[i]), abs=TOL)


def test_ppi_simulation_coverage_and_width():
    """1000 simulated datasets at nominal 95%: PPI covers the true accuracy at least 93% of the time and its
    interval is narrower on average than the interval from the human labels alone."""
    rng = np.random.default_rng(2026)
    accuracy = 0.7
    unlabelled, judged, human = _dataset(rng, 150, 3000, accuracy=accuracy, shape=(1000,))
    _, low, high = ppi_mean_arrays(unlabelled, judged, human, alpha=0.05)
    _, c_low, c_high = classical_mean_arrays(human, alpha=0.05)
    coverage = np.mean((low <= accuracy) & (accuracy <= high))
    assert coverage >= 0.93, coverage
    assert np.mean(high - low) < np.mean(c_high - c_low)
    # the judge alone is biased: its own mean misses the truth by far more than the intervals' width
    assert np.mean(unlabelled) - accuracy > 0.04
    # and its own "interval" would almost never cover
    judge_mean = unlabelled.mean(-1)
    judge_half = 1.96 * unlabelled.std(-1) / np.sqrt(unlabelled.shape[-1])
    assert np.mean(np.abs(judge_mean - accuracy) <= judge_half) < 0.1


def test_ppi_bad_input():
    with pytest.raises(ConfigError) as info:
        ppi_mean([1, 0, 1], [1, 0], [1, 0, 1])
    assert info.value.field == "human_labels"
    with pytest.raises(ConfigError, match="alpha"):
        ppi_mean([1, 0, 1], [1, 0], [1, 0], alpha=1.5)
    with pytest.raises(ConfigError, match="non-finite"):
        ppi_mean([1, float("nan")], [1, 0], [1, 0])


# ------------------------------------------------------------------------------------------- calibration


@pytest.fixture(scope="module")
def overconfident() -> tuple[np.ndarray, np.ndarray]:
    """A judge whose P(yes) is pushed towards 0 and 1: true probability q, reported q ** 0.3 or so."""
    rng = np.random.default_rng(21)
    q = rng.random(600)
    labels = (rng.random(600) < q).astype(int)
    p_yes = np.clip(q**0.35, 0, 1)
    return p_yes, labels


def test_isotonic_calibrator_matches_scikit_learn(overconfident, tmp_path):
    p_yes, labels = overconfident
    cal = calibration.fit(p_yes, labels, method="isotonic")
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p_yes, labels)
    grid = np.concatenate([np.linspace(0, 1, 101), p_yes[:50]])
    np.testing.assert_allclose([cal(p) for p in grid], reference.predict(grid), rtol=0, atol=TOL)
    loaded = calibration.load(cal.save(tmp_path / "cal.json"))
    assert loaded == cal and [loaded(p) for p in grid] == [cal(p) for p in grid]
    assert json.loads((tmp_path / "cal.json").read_text())["method"] == "isotonic"


def test_platt_calibrator_matches_scikit_learn(overconfident, tmp_path):
    p_yes, labels = overconfident
    cal = calibration.fit(p_yes, labels, method="platt")
    logit = np.log(np.clip(p_yes, 1e-6, 1 - 1e-6) / (1 - np.clip(p_yes, 1e-6, 1 - 1e-6)))
    reference = LogisticRegression(C=np.inf).fit(logit[:, None], labels)
    grid = np.linspace(0.01, 0.99, 50)
    grid_logit = np.log(grid / (1 - grid))
    np.testing.assert_allclose(
        [cal(p) for p in grid], reference.predict_proba(grid_logit[:, None])[:, 1], rtol=0, atol=TOL
    )
    assert 0 < cal(0.0) < cal(1.0) < 1  # clipped, never exactly 0 or 1
    assert calibration.Calibrator.load(cal.save(tmp_path / "platt.json")) == cal


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_lowers_held_out_ece(overconfident, method):
    p_yes, labels = overconfident
    cal = calibration.fit(p_yes[:300], labels[:300], method=method)
    held_p, held_y = p_yes[300:], labels[300:]
    assert ece(held_y, [cal(p) for p in held_p]) < ece(held_y, held_p) / 2


def test_calibrator_bad_input(tmp_path):
    with pytest.raises(ConfigError) as info:
        calibration.load(tmp_path / "missing.json")
    assert info.value.field == "calibrator"
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="not a judgekit calibrator"):
        calibration.load(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text('{"format": "judgekit.calibrator", "method": "isotonic", "params": {}}')
    with pytest.raises(ConfigError, match="isotonic"):
        calibration.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="labels"):
        calibration.fit([0.2, 0.8], [0, 2])
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        calibration.fit([0.2, 1.8], [0, 1])
    with pytest.raises(ConfigError, match="method"):
        calibration.fit([0.2, 0.8], [0, 1], method="beta")


def test_the_calibrator_lives_outside_validation_and_the_old_path_still_works() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    import judgekit.calibration as home
    from judgekit.validation import Calibrator as lazily_exported
    from judgekit.validation import calibration as old_home

    assert old_home.Calibrator is home.Calibrator is lazily_exported and old_home.fit is home.fit
    # a judge that applies a calibrator does not import the validation package (scipy, sklearn, ...)
    code = "import sys, judgekit.simplified; print('judgekit.validation' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.stdout.strip() == "False", done.stderr

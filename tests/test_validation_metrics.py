"""Every validation metric against scikit-learn / scipy / statsmodels / krippendorff (and textbook values)."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve
from statsmodels.stats import inter_rater

from judgekit.validation import metrics as m

TOL = 1e-9


@pytest.fixture(scope="module")
def binary() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 250)
    v = np.where(rng.random(250) < 0.8, y, 1 - y)
    p = np.clip(0.35 * y + 0.65 * rng.random(250), 0, 1)
    return {"y": y, "v": v, "p": p, "len": rng.integers(5, 400, 250).astype(float)}


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    y = rng.integers(1, 11, 120).astype(float)
    s = np.clip(np.round(y + rng.normal(0, 2, 120)), 1, 10)
    return {"y": y, "s": s}


def test_binary_metrics_match_scikit_learn(binary):
    y, v = binary["y"], binary["v"]
    assert m.accuracy(y, v) == pytest.approx(sk.accuracy_score(y, v), abs=TOL)
    assert m.cohen_kappa(y, v) == pytest.approx(sk.cohen_kappa_score(y, v), abs=TOL)
    assert m.tpr(y, v) == pytest.approx(sk.recall_score(y, v), abs=TOL)
    assert m.tnr(y, v) == pytest.approx(sk.recall_score(1 - y, 1 - v), abs=TOL)
    assert m.precision(y, v) == pytest.approx(sk.precision_score(y, v), abs=TOL)
    assert m.f1(y, v) == pytest.approx(sk.f1_score(y, v), abs=TOL)
    (tn, fp), (fn, tp) = sk.confusion_matrix(y, v)
    assert m.confusion_matrix(y, v, (1, 0)) == [[tp, fn], [fp, tn]]
    assert m.tnr(y, v) == pytest.approx(tn / (tn + fp), abs=TOL)


def test_cohen_kappa_textbook_value():
    # Wikipedia's example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa = 0.4
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert m.cohen_kappa(a, b) == pytest.approx(0.4, abs=TOL)
    assert m.cohen_kappa([1, 2, 3, 3], [1, 2, 3, 2], weights="quadratic") == pytest.approx(
        sk.cohen_kappa_score([1, 2, 3, 3], [1, 2, 3, 2], weights="quadratic"), abs=TOL
    )


def test_probability_metrics_match_libraries(binary):
    y, p = binary["y"], binary["p"]
    assert m.brier(y, p) == pytest.approx(sk.brier_score_loss(y, p), abs=TOL)
    assert m.brier(y, p) == pytest.approx(np.mean((p - y) ** 2), abs=TOL)
    assert m.auc(y, p) == pytest.approx(sk.roc_auc_score(y, p), abs=TOL)
    assert math.isnan(m.auc([1, 1, 1], [0.2, 0.5, 0.9]))
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    # calibration_curve's bins put a value on an inner edge in the lower bin; np.histogram in the upper one:
    # the fixture has no value on an edge, so both count the same
    assert not np.any(np.isin(p, np.linspace(0, 1, 11)[1:-1]))
    expected = np.sum(counts[counts > 0] / len(p) * np.abs(prob_true - prob_pred))
    assert m.ece(y, p) == pytest.approx(expected, abs=TOL)
    assert m.ece([1, 0], [1.0, 0.0]) == 0.0  # perfectly calibrated
    assert m.ece([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0, abs=TOL)
    assert m.ece([1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5, abs=TOL)


def test_score_metrics_match_scipy(scores):
    y, s = scores["y"], scores["s"]
    assert m.spearman(y, s) == pytest.approx(stats.spearmanr(y, s).statistic, abs=TOL)
    assert m.kendall_tau(y, s) == pytest.approx(stats.kendalltau(y, s).statistic, abs=TOL)
    assert m.pearson(y, s) == pytest.approx(stats.pearsonr(y, s).statistic, abs=TOL)
    assert m.pearson(y, s) == pytest.approx(np.corrcoef(y, s)[0, 1], abs=TOL)
    assert m.mae(y, s) == pytest.approx(np.mean(np.abs(y - s)), abs=TOL)


def test_preference_metrics():
    labels = ["A", "B", "tie", "A", "B", "A"]
    verdicts = ["A", "A", "tie", "A", "B", "tie"]
    assert m.agreement(labels, verdicts) == pytest.approx(4 / 6, abs=TOL)
    assert m.tie_rate(verdicts) == pytest.approx(2 / 6, abs=TOL)
    assert m.cohen_kappa(labels, verdicts) == pytest.approx(sk.cohen_kappa_score(labels, verdicts), abs=TOL)
    # first order, then the same pair swapped: consistent when mirrored
    assert m.position_consistency(["A", "B", "tie", "A"], ["B", "A", "tie", "A"]) == pytest.approx(0.75, abs=TOL)


def test_length_bias_is_the_least_squares_slope(binary):
    x, excess = binary["len"], binary["v"] - binary["y"]
    assert m.length_bias(x, excess) == pytest.approx(np.polyfit(x / 100, excess, 1)[0], abs=TOL)
    assert m.length_bias(x, excess) == pytest.approx(stats.linregress(x / 100, excess).slope, abs=TOL)
    assert math.isnan(m.length_bias([5, 5, 5], [1, 0, 1]))
    # a judge that says "yes" to long predictions more than the labels do has a positive slope
    lengths = np.arange(100) * 10.0
    assert m.length_bias(lengths, (lengths > 500).astype(float)) > 0


def test_fleiss_kappa_matches_statsmodels_and_textbook():
    # Fleiss (1971) / Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa = 0.210
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    ratings = [[c for c, k in enumerate(row) for _ in range(k)] for row in counts]
    assert m.fleiss_kappa(ratings) == pytest.approx(inter_rater.fleiss_kappa(np.array(counts)), abs=TOL)
    assert m.fleiss_kappa(ratings) == pytest.approx(0.20993, abs=1e-5)
    assert m.fleiss_kappa([["yes", "yes"], ["no", "no"], ["yes", "no"]]) == pytest.approx(
        inter_rater.fleiss_kappa(np.array([[0, 2], [2, 0], [1, 1]])), abs=TOL
    )


@pytest.mark.parametrize(("level", "textbook"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_alpha_matches_package_and_textbook(level, textbook):
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, missing data
    nan = None
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    as_float = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    expected = krippendorff.alpha(reliability_data=as_float, level_of_measurement=level)
    assert m.krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=TOL)
    assert m.krippendorff_alpha(data, level=level) == pytest.approx(textbook, abs=5e-4)


def test_krippendorff_alpha_nominal_strings():
    words = [["yes", "no", "yes", None], ["yes", "no", "no", "no"]]
    codes = np.array([[1, 0, 1, np.nan], [1, 0, 0, 0]], dtype=float)
    assert m.krippendorff_alpha(words) == pytest.approx(
        krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"), abs=TOL
    )


# --------------------------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("name", ["accuracy", "cohen_kappa", "tpr", "tnr", "precision", "f1"])
def test_resampled_twins_match_the_library_on_resamples(binary, name):
    fn = getattr(m, name)
    rows = np.random.default_rng(1).integers(0, len(binary["y"]), size=(40, len(binary["y"])))
    twin = m._RESAMPLED[fn](binary["y"][rows], binary["v"][rows])
    expected = [fn(binary["y"][r], binary["v"][r]) for r in rows]
    np.testing.assert_allclose(twin, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", ["brier", "auc", "ece"])
def test_resampled_probability_twins(binary, name):
    fn = getattr(m, name)
    rows = np.random.default_rng(2).integers(0, len(binary["y"]), size=(40, len(binary["y"])))
    twin = m._RESAMPLED[fn](binary["y"][rows], binary["p"][rows])
    np.testing.assert_allclose(twin, [fn(binary["y"][r], binary["p"][r]) for r in rows], rtol=0, atol=TOL)


@pytest.mark.parametrize("name", ["spearman", "pearson", "mae"])
def test_resampled_score_twins(scores, name):
    fn = getattr(m, name)
    rows = np.random.default_rng(3).integers(0, len(scores["y"]), size=(40, len(scores["y"])))
    twin = m._RESAMPLED[fn](scores["y"][rows], scores["s"][rows])
    np.testing.assert_allclose(twin, [fn(scores["y"][r], scores["s"][r]) for r in rows], rtol=0, atol=TOL)


def test_resampled_preference_twins(binary):
    rng = np.random.default_rng(4)
    labels = rng.choice(np.array(["A", "B", "tie"], dtype=object), 80)
    verdicts = rng.choice(np.array(["A", "B", "tie"], dtype=object), 80)
    rows = rng.integers(0, 80, size=(30, 80))
    for fn, cols in (
        (m.cohen_kappa, (labels, verdicts)),
        (m.position_consistency, (labels, verdicts)),
        (m.tie_rate, (verdicts,)),
        (m.length_bias, (binary["len"][:80], binary["p"][:80])),
    ):
        twin = m._RESAMPLED[fn](*(c[rows] for c in cols))
        np.testing.assert_allclose(twin, [fn(*(c[r] for c in cols)) for r in rows], rtol=0, atol=TOL)


def test_bootstrap_interval(binary):
    y, v = binary["y"], binary["v"]
    metric = m.bootstrap(m.accuracy, y, v, n_resamples=2000, seed=0)
    assert metric.ci_low < metric.value < metric.ci_high
    # close to the normal approximation of a proportion's interval
    half = 1.96 * math.sqrt(metric.value * (1 - metric.value) / len(y))
    assert metric.ci_low == pytest.approx(metric.value - half, abs=0.015)
    assert metric.ci_high == pytest.approx(metric.value + half, abs=0.015)
    assert m.bootstrap(m.accuracy, y, v, seed=5) == m.bootstrap(m.accuracy, y, v, seed=5)  # reproducible
    # a statistic without a numpy twin is called per resample and gives the same kind of interval
    slow = m.bootstrap(lambda a, b: float(np.mean(a == b)), y, v, n_resamples=300, seed=0)
    assert slow.value == metric.value and slow.ci_low < slow.value < slow.ci_high


def test_bootstrap_undefined_cases():
    assert m.bootstrap(m.accuracy, [1], [1]) == m.Metric(1.0)  # one row: no interval
    assert m.bootstrap(m.auc, [1, 1, 1], [0.1, 0.5, 0.7]).value is None  # one class: undefined
    degenerate = m.bootstrap(m.tpr, [1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], n_resamples=200)
    assert degenerate.value == 1.0 and degenerate.ci_low == 1.0  # resamples without a positive are left out


def test_metric_groups(binary, scores):
    verdict = m.verdict_metrics(binary["y"], binary["v"], p_yes=binary["p"], lengths=binary["len"], n_resamples=50)
    assert set(verdict) == {
        "accuracy",
        "cohen_kappa",
        "tpr",
        "tnr",
        "precision",
        "f1",
        "ece",
        "brier",
        "auc",
        "length_bias",
    }
    assert verdict["auc"].value == pytest.approx(sk.roc_auc_score(binary["y"], binary["p"]), abs=TOL)
    score = m.score_metrics(scores["y"], scores["s"], n_resamples=50)
    assert set(score) == {"spearman", "kendall_tau", "pearson", "mae"}
    assert score["kendall_tau"].ci_low < score["kendall_tau"].value < score["kendall_tau"].ci_high
    pref = m.preference_metrics(
        ["A", "B", "A", "B"],
        ["A", "A", "A", "B"],
        length_diff=[10, -5, 30, 0],
        pairs=(["A", "A"], ["B", "A"]),
        n_resamples=50,
    )
    assert pref["agreement"].value == 0.75 and pref["position_consistency"].value == 0.5
    assert pref["tie_rate"].value == 0.0 and "length_bias" in pref

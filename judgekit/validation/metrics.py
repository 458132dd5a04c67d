"""How well a judge agrees with labels, and how well raters agree with each other.

Every statistic comes from a well-kept library (scikit-learn, scipy, statsmodels, krippendorff); this module
only picks the right one, feeds it the judged items that succeeded, and adds a percentile-bootstrap interval
(`bootstrap`). Failed judgements never reach these functions: the caller counts them (``n_failed``).

Groups, by what a judge kind returns:

- verdicts (binary, correctness; labels 1/0): `verdict_metrics` — accuracy, Cohen's kappa, TPR, TNR,
  precision, F1, the confusion matrix, and with ``p_yes`` the ECE, Brier score and AUC;
- scores (pointwise, rubric; numeric labels): `score_metrics` — Spearman, Kendall's tau, Pearson, MAE;
- preferences (pairwise, comparative; labels "A"/"B"/"tie"): `preference_metrics` — agreement, Cohen's kappa,
  tie rate, position consistency (the same pair judged in both orders) and length bias.

Length bias is the slope of a least-squares line (`scipy.stats.linregress`) of the judge's *excess* verdict
(the judge's verdict minus the label: for preferences 1 = A, 0.5 = tie, 0 = B) on the length difference in
hundreds of characters (response1 - response2; for verdicts, the prediction's length). 0 means the judge's
errors do not move with length; +0.05 means 5 points more "A" (or "yes") than the labels say per 100 extra
characters.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judgekit.errors import MissingDependencyError

try:
    import krippendorff as _krippendorff
    import numpy as np
    from scipy import stats as _stats
    from sklearn import metrics as _sk
    from statsmodels.stats import inter_rater as _inter_rater
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        f'judgekit.validation needs the validate extra: pip install "judgekit[validate]" ({_exc.name} is missing)'
    ) from _exc

__all__ = [
    "Metric",
    "accuracy",
    "agreement",
    "auc",
    "bootstrap",
    "brier",
    "cohen_kappa",
    "confusion_matrix",
    "ece",
    "f1",
    "fleiss_kappa",
    "kendall_tau",
    "krippendorff_alpha",
    "length_bias",
    "mae",
    "pearson",
    "position_consistency",
    "precision",
    "preference_metrics",
    "score_metrics",
    "spearman",
    "tie_rate",
    "tnr",
    "tpr",
    "verdict_metrics",
]

PREFERENCES = ("A", "B", "tie")
_PREFERENCE_VALUE = {"A": 1.0, "tie": 0.5, "B": 0.0}
_FLIP = {"A": "B", "B": "A", "tie": "tie"}


@dataclass(frozen=True)
class Metric:
    """One figure and its bootstrap 95% interval (None where it has no interval or is undefined)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


# ------------------------------------------------------------------------------------- single statistics
# Each takes equal-length sequences of succeeded judgements and returns a float (nan where undefined).


def accuracy(labels: Sequence[Any], verdicts: Sequence[Any]) -> float:
    """Share of verdicts equal to the label (`sklearn.metrics.accuracy_score`)."""
    return float(_sk.accuracy_score(labels, verdicts))


agreement = accuracy
"""For preferences: share of verdicts ("A"/"B"/"tie") equal to the label."""


def cohen_kappa(
    rater1: Sequence[Any], rater2: Sequence[Any], weights: Literal["linear", "quadratic"] | None = None
) -> float:
    """Cohen's kappa between two raters (or a judge and the labels) (`sklearn.metrics.cohen_kappa_score`);
    ``weights`` for ordinal ratings."""
    return float(_sk.cohen_kappa_score(rater1, rater2, weights=weights))


def tpr(labels: Sequence[int], verdicts: Sequence[int]) -> float:
    """True positive rate (recall of label 1)."""
    return float(_sk.recall_score(labels, verdicts, pos_label=1, zero_division=np.nan))


def tnr(labels: Sequence[int], verdicts: Sequence[int]) -> float:
    """True negative rate (recall of label 0)."""
    return float(_sk.recall_score(labels, verdicts, pos_label=0, zero_division=np.nan))


def precision(labels: Sequence[int], verdicts: Sequence[int]) -> float:
    """Share of "yes" verdicts whose label is 1."""
    return float(_sk.precision_score(labels, verdicts, pos_label=1, zero_division=np.nan))


def f1(labels: Sequence[int], verdicts: Sequence[int]) -> float:
    """Harmonic mean of precision and TPR."""
    return float(_sk.f1_score(labels, verdicts, pos_label=1, zero_division=np.nan))


def confusion_matrix(
    labels: Sequence[Any], verdicts: Sequence[Any], classes: Sequence[Any] = (0, 1)
) -> list[list[int]]:
    """Counts: row = label, column = verdict, both in the order of ``classes``."""
    return _sk.confusion_matrix(labels, verdicts, labels=list(classes)).tolist()


def spearman(labels: Sequence[float], scores: Sequence[float]) -> float:
    """Spearman's rank correlation (`scipy.stats.spearmanr`)."""
    return float(_stats.spearmanr(labels, scores).statistic)


def kendall_tau(labels: Sequence[float], scores: Sequence[float]) -> float:
    """Kendall's tau-b (`scipy.stats.kendalltau`)."""
    return float(_stats.kendalltau(labels, scores).statistic)


def pearson(labels: Sequence[float], scores: Sequence[float]) -> float:
    """Pearson's correlation (`scipy.stats.pearsonr`)."""
    if len(labels) < 2:
        return math.nan
    return float(_stats.pearsonr(labels, scores).statistic)


def mae(labels: Sequence[float], scores: Sequence[float]) -> float:
    """Mean absolute error (`sklearn.metrics.mean_absolute_error`)."""
    return float(_sk.mean_absolute_error(labels, scores))


def brier(labels: Sequence[int], p_yes: Sequence[float]) -> float:
    """Mean squared error of ``p_yes`` against the labels (`sklearn.metrics.brier_score_loss`)."""
    return float(_sk.brier_score_loss(labels, p_yes, pos_label=1))


def auc(labels: Sequence[int], p_yes: Sequence[float]) -> float:
    """Area under the ROC curve of ``p_yes`` (`sklearn.metrics.roc_auc_score`); nan with one class only."""
    if len(set(np.asarray(labels).tolist())) < 2:
        return math.nan
    return float(_sk.roc_auc_score(labels, p_yes))


def ece(labels: Sequence[int], p_yes: Sequence[float], n_bins: int = 10) -> float:
    """Expected calibration error: over ``n_bins`` equal-width bins of ``p_yes`` (binned as
    `sklearn.calibration.calibration_curve` bins them), the item-weighted mean of |share of label 1 - mean
    p_yes|, which is sum over bins of |labels summed - p_yes summed| / n."""
    y, p = np.asarray(labels, dtype=float), np.asarray(p_yes, dtype=float)
    if not len(p):
        return math.nan
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], p)
    gaps = np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins)
    return float(np.abs(gaps).sum() / len(p))


def tie_rate(verdicts: Sequence[str]) -> float:
    """Share of preference verdicts that are "tie"."""
    return float(np.mean([v == "tie" for v in verdicts])) if len(verdicts) else math.nan


def position_consistency(first: Sequence[str], second: Sequence[str]) -> float:
    """Share of pairs judged the same way in both orders: ``second[i]`` judged (response2, response1), so it
    is consistent when it is the mirror of ``first[i]`` (A <-> B, a tie stays a tie)."""
    if not len(first):
        return math.nan
    return float(np.mean([_FLIP.get(a) == b for a, b in zip(first, second, strict=True)]))


def length_bias(length_diff: Sequence[float], excess: Sequence[float]) -> float:
    """Slope of the judge's excess verdict (verdict - label) on the length difference, in hundreds of
    characters (`scipy.stats.linregress`); nan when the lengths do not vary."""
    x = np.asarray(length_diff, dtype=float) / 100.0
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan
    return float(_stats.linregress(x, np.asarray(excess, dtype=float)).slope)


# ---------------------------------------------------------------------------------------- raters agreeing


def fleiss_kappa(ratings: Sequence[Sequence[Any]]) -> float:
    """Fleiss' kappa of a table ``ratings[item][rater]`` of categories, every item rated by the same number of
    raters (`statsmodels.stats.inter_rater.fleiss_kappa`)."""
    table, _ = _inter_rater.aggregate_raters(np.asarray(ratings, dtype=object))
    return float(_inter_rater.fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(
    reliability_data: Sequence[Sequence[Any]], level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal"
) -> float:
    """Krippendorff's alpha of ``reliability_data[rater][item]`` (None or nan: not rated) at the given level of
    measurement (`krippendorff.alpha`). Nominal data may be strings."""
    rows = [[None if _missing(v) else v for v in row] for row in reliability_data]
    values = [v for row in rows for v in row if v is not None]
    if level == "nominal" and any(isinstance(v, str) for v in values):
        codes = {v: float(i) for i, v in enumerate(sorted(set(values), key=str))}
        data = np.array([[np.nan if v is None else codes[v] for v in row] for row in rows], dtype=float)
    else:
        data = np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=float)
    return float(_krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# -------------------------------------------------------------------------------------------- bootstrap


def bootstrap(
    statistic: Callable[..., float],
    *columns: Sequence[Any],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Metric:
    """``statistic(*columns)`` with a percentile-bootstrap interval: the columns are resampled together
    (rows with replacement), ``n_resamples`` times. Resamples where the statistic is undefined (nan: one class
    only, constant input) are left out; with fewer than two rows there is no interval.

    The statistics of this module are computed on all resamples at once by a numpy twin (`_RESAMPLED`,
    tested equal to the library function on resamples); any other statistic is called once per resample."""
    arrays = [np.asarray(c) for c in columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined resamples (constant input, one class) are expected
        value = _finite(statistic(*arrays))
        n = len(arrays[0]) if arrays else 0
        if value is None or n < 2 or n_resamples < 1:
            return Metric(value)
        rows = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
        twin = _RESAMPLED.get(statistic)
        if twin is not None:
            draws = np.asarray(twin(*(a[rows] for a in arrays)), dtype=float)
        else:
            draws = np.array([statistic(*(a[r] for a in arrays)) for r in rows], dtype=float)
    draws = draws[np.isfinite(draws)]
    if not draws.size:
        return Metric(value)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Metric(value, float(low), float(high))


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# Numpy twins of the statistics over a (resamples, n) array of each column: one value per resample. Only for
# the speed of the bootstrap (a library call per resample costs milliseconds); tests check each against the
# library function it stands for.


def _ratio(num: Any, den: Any) -> Any:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den != 0)


def _r_kappa(y: Any, v: Any) -> Any:
    observed = (y == v).mean(-1)
    expected = sum((y == c).mean(-1) * (v == c).mean(-1) for c in np.unique(np.concatenate([y.ravel(), v.ravel()])))
    return _ratio(observed - expected, 1.0 - expected)


def _r_pearson(x: Any, y: Any) -> Any:
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    return _ratio((xc * yc).sum(-1), np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1)))


def _r_auc(y: Any, p: Any) -> Any:
    positives = y.sum(-1)
    negatives = y.shape[-1] - positives
    rank_sum = (_stats.rankdata(p, axis=-1) * y).sum(-1)
    return _ratio(rank_sum - positives * (positives + 1) / 2.0, positives * negatives)


def _r_ece(y: Any, p: Any, n_bins: int = 10) -> Any:
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], p)
    gaps = y - p
    return sum(np.abs((gaps * (bins == b)).sum(-1)) for b in range(n_bins)) / p.shape[-1]


def _r_length_bias(x: Any, excess: Any) -> Any:
    xc = x / 100.0 - (x / 100.0).mean(-1, keepdims=True)
    return _ratio((xc * (excess - excess.mean(-1, keepdims=True))).sum(-1), (xc * xc).sum(-1))


def _r_position_consistency(first: Any, second: Any) -> Any:
    mirrored = np.vectorize(lambda a: _FLIP.get(a), otypes=[object])(first)
    return (mirrored == second).mean(-1)


_RESAMPLED: dict[Callable[..., float], Callable[..., Any]] = {
    accuracy: lambda y, v: (y == v).mean(-1),
    cohen_kappa: _r_kappa,
    tpr: lambda y, v: _ratio(((y == 1) & (v == 1)).sum(-1), (y == 1).sum(-1)),
    tnr: lambda y, v: _ratio(((y == 0) & (v == 0)).sum(-1), (y == 0).sum(-1)),
    precision: lambda y, v: _ratio(((y == 1) & (v == 1)).sum(-1), (v == 1).sum(-1)),
    f1: lambda y, v: _ratio(2 * ((y == 1) & (v == 1)).sum(-1), (y == 1).sum(-1) + (v == 1).sum(-1)),
    pearson: _r_pearson,
    spearman: lambda x, y: _r_pearson(_stats.rankdata(x, axis=-1), _stats.rankdata(y, axis=-1)),
    mae: lambda y, s: np.abs(y - s).mean(-1),
    brier: lambda y, p: ((p - y) ** 2).mean(-1),
    auc: _r_auc,
    ece: _r_ece,
    tie_rate: lambda v: (v == "tie").mean(-1),
    position_consistency: _r_position_consistency,
    length_bias: _r_length_bias,
}


# ---------------------------------------------------------------------------------------- metric groups


def verdict_metrics(
    labels: Sequence[int],
    verdicts: Sequence[int],
    *,
    p_yes: Sequence[float] | None = None,
    lengths: Sequence[float] | None = None,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> dict[str, Metric]:
    """Binary verdicts (1/0) against labels (1/0): accuracy, cohen_kappa, tpr, tnr, precision, f1; with
    ``p_yes``: ece, brier, auc; with ``lengths`` (of the predictions): length_bias."""
    y, v = np.asarray(labels, dtype=int), np.asarray(verdicts, dtype=int)
    out = {
        name: bootstrap(fn, y, v, n_resamples=n_resamples, seed=seed)
        for name, fn in (
            ("accuracy", accuracy),
            ("cohen_kappa", cohen_kappa),
            ("tpr", tpr),
            ("tnr", tnr),
            ("precision", precision),
            ("f1", f1),
        )
    }
    if p_yes is not None:
        p = np.asarray(p_yes, dtype=float)
        for name, fn in (("ece", ece), ("brier", brier), ("auc", auc)):
            out[name] = bootstrap(fn, y, p, n_resamples=n_resamples, seed=seed)
    if lengths is not None:
        out["length_bias"] = bootstrap(
            length_bias, np.asarray(lengths, dtype=float), v - y, n_resamples=n_resamples, seed=seed
        )
    return out


def score_metrics(
    labels: Sequence[float], scores: Sequence[float], *, n_resamples: int = 1000, seed: int | None = 0
) -> dict[str, Metric]:
    """Numeric scores against numeric labels: spearman, kendall_tau, pearson, mae."""
    y, s = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    return {
        name: bootstrap(fn, y, s, n_resamples=n_resamples, seed=seed)
        for name, fn in (("spearman", spearman), ("kendall_tau", kendall_tau), ("pearson", pearson), ("mae", mae))
    }


def preference_metrics(
    labels: Sequence[str],
    verdicts: Sequence[str],
    *,
    length_diff: Sequence[float] | None = None,
    pairs: tuple[Sequence[str], Sequence[str]] | None = None,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> dict[str, Metric]:
    """Preferences ("A"/"B"/"tie") against labels: agreement, cohen_kappa, tie_rate; with ``length_diff``
    (len(response1) - len(response2)): length_bias; with ``pairs`` (the verdicts of each pair in its first and
    its swapped order): position_consistency."""
    y, v = np.asarray(labels, dtype=object), np.asarray(verdicts, dtype=object)
    out = {
        "agreement": bootstrap(agreement, y, v, n_resamples=n_resamples, seed=seed),
        "cohen_kappa": bootstrap(cohen_kappa, y, v, n_resamples=n_resamples, seed=seed),
        "tie_rate": bootstrap(tie_rate, v, n_resamples=n_resamples, seed=seed),
    }
    if length_diff is not None:
        excess = np.array([_PREFERENCE_VALUE[a] - _PREFERENCE_VALUE[b] for a, b in zip(v, y, strict=True)])
        out["length_bias"] = bootstrap(
            length_bias, np.asarray(length_diff, dtype=float), excess, n_resamples=n_resamples, seed=seed
        )
    if pairs is not None:
        first, second = (np.asarray(p, dtype=object) for p in pairs)
        out["position_consistency"] = bootstrap(position_consistency, first, second, n_resamples=n_resamples, seed=seed)
    return out

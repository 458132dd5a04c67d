"""Valid estimates from few human labels: prediction-powered inference (PPI++) for a mean.

The question: what is the accuracy (or mean score) of the model being evaluated? A judge labels many items
cheaply but with errors; people label a few items well. ``ppi_mean`` uses the judge's labels on all items and
corrects their bias with the items that have both a judge and a human label, giving an interval that is
valid (it covers the true mean at the nominal rate, whatever the judge's errors) and, with a useful judge,
narrower than the interval from the human labels alone (`classical_mean`).

The estimator is power-tuned PPI (Angelopoulos, Duchi and Zrnic, "PPI++: Efficient Prediction-Powered
Inference", 2023): with lambda in [0, 1] chosen from the data to minimise the variance,

    value = mean(lambda * judged_unlabelled) + mean(human - lambda * judged_labelled)

with a normal interval from the two terms' standard errors. lambda = 1 is plain PPI, lambda = 0 ignores the
judge. It matches ``ppi_py.ppi_mean_ci`` / ``ppi_mean_pointestimate`` (the ``ppi-python`` package; tested).
Every function works along the last axis, so many datasets of the same size can be estimated at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

from judgekit.errors import ConfigError

__all__ = ["Estimate", "classical_mean", "ppi_mean"]


class Estimate(NamedTuple):
    """A point estimate and its (1 - alpha) confidence interval."""

    value: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def ppi_mean(
    judged_unlabelled: Sequence[float],
    judged_labelled: Sequence[float],
    human_labels: Sequence[float],
    alpha: float = 0.05,
    *,
    lam: float | None = None,
) -> Estimate:
    """The mean of the human labels over the whole population, from the judge's values on many unlabelled
    items and on the labelled items, and the human labels of the latter (same order). ``lam`` fixes lambda
    (1: plain PPI); by default it is tuned. Returns an `Estimate` with a (1 - alpha) interval."""
    value, low, high = ppi_mean_arrays(judged_unlabelled, judged_labelled, human_labels, alpha, lam=lam)
    return Estimate(float(value), float(low), float(high))


def classical_mean(human_labels: Sequence[float], alpha: float = 0.05) -> Estimate:
    """The mean of the human labels alone with its normal (1 - alpha) interval: what PPI is compared with."""
    value, low, high = classical_mean_arrays(human_labels, alpha)
    return Estimate(float(value), float(low), float(high))


def ppi_mean_arrays(
    judged_unlabelled: Any, judged_labelled: Any, human_labels: Any, alpha: float = 0.05, *, lam: float | None = None
) -> tuple[Any, Any, Any]:
    """`ppi_mean` along the last axis: arrays ``(..., N)``, ``(..., n)``, ``(..., n)`` give (value, low, high)
    arrays of shape ``(...)``."""
    yhat_u, yhat, y = _arrays(judged_unlabelled, judged_labelled, human_labels)
    _check_alpha(alpha)
    n, big_n = y.shape[-1], yhat_u.shape[-1]
    if lam is None:
        lam = _tuned_lambda(yhat_u, yhat, y)
    elif not 0.0 <= lam <= 1.0:
        raise ConfigError(f"lam must lie in [0, 1], got {lam}", "lam")
    lam = np.asarray(lam, dtype=float)[..., None]
    value = (lam * yhat_u).mean(-1) + (y - lam * yhat).mean(-1)
    stderr = np.sqrt((lam * yhat_u).std(-1) ** 2 / big_n + (y - lam * yhat).std(-1) ** 2 / n)
    half = _z(alpha) * stderr
    return value, value - half, value + half


def classical_mean_arrays(human_labels: Any, alpha: float = 0.05) -> tuple[Any, Any, Any]:
    """`classical_mean` along the last axis."""
    y = np.asarray(human_labels, dtype=float)
    if y.shape[-1] < 2:
        raise ConfigError("an interval needs at least two human labels", "human_labels")
    _check_alpha(alpha)
    value = y.mean(-1)
    half = _z(alpha) * y.std(-1) / np.sqrt(y.shape[-1])
    return value, value - half, value + half


def _tuned_lambda(yhat_u: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The variance-minimising lambda, clipped to [0, 1]: cov(human, judge) / ((1 + n/N) var(judge)), from
    the plain-PPI estimate's gradients as in PPI++ for a mean (0 when the judge's values do not vary)."""
    n, big_n = y.shape[-1], yhat_u.shape[-1]
    centred_y = y - y.mean(-1, keepdims=True)
    centred_yhat = yhat - yhat.mean(-1, keepdims=True)
    cov = 2.0 * (centred_y * centred_yhat).sum(-1) / n
    var = np.var(np.concatenate([yhat, yhat_u], axis=-1), axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(var > 0, cov / (2.0 * (1.0 + n / big_n) * var), 0.0)
    return np.clip(lam, 0.0, 1.0)


def _arrays(judged_unlabelled: Any, judged_labelled: Any, human_labels: Any) -> tuple[np.ndarray, ...]:
    yhat_u = np.asarray(judged_unlabelled, dtype=float)
    yhat = np.asarray(judged_labelled, dtype=float)
    y = np.asarray(human_labels, dtype=float)
    if yhat.shape != y.shape:
        raise ConfigError(
            f"judged_labelled and human_labels differ in shape: {yhat.shape} vs {y.shape}", "human_labels"
        )
    if y.shape[-1] < 2 or yhat_u.shape[-1] < 1:
        raise ConfigError("PPI needs at least two labelled items and one unlabelled item", "human_labels")
    if yhat_u.shape[:-1] != y.shape[:-1]:
        raise ConfigError(
            "judged_unlabelled and human_labels must hold the same number of datasets", "judged_unlabelled"
        )
    for name, arr in (("judged_unlabelled", yhat_u), ("judged_labelled", yhat), ("human_labels", y)):
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{name} holds a missing or non-finite value (drop failed judgements first)", name)
    return yhat_u, yhat, y


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}", "alpha")


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)

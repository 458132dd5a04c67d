"""Calibrators: map a judge's raw P(yes) to a probability that matches how often "yes" is right.

``fit(p_yes, labels, method="isotonic" | "platt")`` fits with scikit-learn (isotonic regression, or a
logistic regression on logit(p) — Platt scaling) and returns a `Calibrator`: a small object that applies the
fitted map in plain Python and saves to / loads from a small JSON file. Applying one needs neither numpy nor
scikit-learn, so ``JudgeConfig(calibrator="calibrator.json")`` works with the core install.

It lives at the top level because every judge applies a calibrator at run time (`SimplifiedJudge`);
`judgekit.validation.calibration` re-exports it for code written against its old home.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from judgekit.errors import ConfigError, MissingDependencyError

__all__ = ["Calibrator", "fit", "load"]

_FORMAT = "judgekit.calibrator"
_EPS = 1e-6  # P(yes) is clipped to [eps, 1 - eps] before the logit of Platt scaling


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from raw P(yes) to calibrated P(yes): ``calibrator(0.83) -> 0.71``.

    ``method`` is ``"isotonic"`` (``params``: the breakpoints ``x`` and their values ``y``; linear in between,
    constant beyond the ends) or ``"platt"`` (``params``: ``a``, ``b``; sigmoid(a * logit(p) + b)).
    """

    method: Literal["isotonic", "platt"]
    params: dict[str, Any]
    n_fit: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method == "isotonic":
            x, y = self.params.get("x"), self.params.get("y")
            if not isinstance(x, list) or not isinstance(y, list) or not x or len(x) != len(y):
                raise ConfigError("an isotonic calibrator needs equal, non-empty lists 'x' and 'y'", "calibrator")
            if any(b < a for a, b in itertools.pairwise(x)):
                raise ConfigError("an isotonic calibrator's 'x' must be sorted", "calibrator")
        elif self.method == "platt":
            if not all(isinstance(self.params.get(k), (int, float)) for k in ("a", "b")):
                raise ConfigError("a platt calibrator needs numbers 'a' and 'b'", "calibrator")
        else:
            raise ConfigError(f"calibrator method must be 'isotonic' or 'platt', got {self.method!r}", "calibrator")

    def __call__(self, p_yes: float) -> float:
        """The calibrated probability of ``p_yes``."""
        p = float(p_yes)
        if self.method == "platt":
            p = min(max(p, _EPS), 1.0 - _EPS)
            z = self.params["a"] * math.log(p / (1.0 - p)) + self.params["b"]
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        x, y = self.params["x"], self.params["y"]
        if p <= x[0]:
            return float(y[0])
        if p >= x[-1]:
            return float(y[-1])
        i = bisect.bisect_right(x, p)
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        return float(y0 if x1 == x0 else y0 + (y1 - y0) * (p - x0) / (x1 - x0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": 1,
            "method": self.method,
            "params": self.params,
            "n_fit": self.n_fit,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the calibrator as JSON to ``path``; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Calibrator:
        """Read a calibrator written by `save`; `ConfigError` (field ``calibrator``) if it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the calibrator file {str(path)!r}: {exc.strerror}", "calibrator") from None
        except ValueError as exc:
            raise ConfigError(f"the calibrator file {str(path)!r} is not JSON: {exc}", "calibrator") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigError(f"{str(path)!r} is not a judgekit calibrator file", "calibrator")
        return cls(
            method=data.get("method"),
            params=data.get("params") or {},
            n_fit=int(data.get("n_fit") or 0),
            meta=data.get("meta") or {},
        )


load = Calibrator.load


def fit(
    p_yes: Sequence[float],
    labels: Sequence[int],
    method: Literal["isotonic", "platt"] = "isotonic",
) -> Calibrator:
    """Fit a calibrator on raw ``p_yes`` and 1/0 ``labels`` (scikit-learn: `IsotonicRegression` clipped to
    [0, 1], or an unpenalised `LogisticRegression` on logit(p_yes))."""
    try:
        import numpy as np
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError('fitting a calibrator needs: pip install "judgekit[validate]"') from exc
    p, y = np.asarray(p_yes, dtype=float), np.asarray(labels, dtype=int)
    if p.ndim != 1 or p.shape != y.shape or not len(p):
        raise ConfigError("p_yes and labels must be non-empty sequences of the same length", "p_yes")
    if not np.all((p >= 0) & (p <= 1)):
        raise ConfigError("p_yes values must lie in [0, 1]", "p_yes")
    if set(y.tolist()) - {0, 1}:
        raise ConfigError("labels must be 1 or 0", "labels")
    if method == "isotonic":
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        params = {"x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}
    elif method == "platt":
        if len(set(y.tolist())) < 2:
            raise ConfigError("platt calibration needs both labels (1 and 0) among the items", "labels")
        model = LogisticRegression(C=np.inf).fit(_logit(np, p)[:, None], y)
        params = {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
    else:
        raise ConfigError(f"method must be 'isotonic' or 'platt', got {method!r}", "method")
    return Calibrator(method=method, params=params, n_fit=len(p))


def _logit(np: Any, p: Any) -> Any:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))

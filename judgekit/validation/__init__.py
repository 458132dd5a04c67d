"""Can the judge be trusted? Agreement with human labels, bias, calibration and estimates from few labels.

Needs the ``validate`` extra (``pip install "judgekit[validate]"``: scikit-learn, scipy, statsmodels,
krippendorff, matplotlib); nothing here is imported by ``import judgekit``. See docs/validation.md.

- `validate(judge, kind, items, labels)` -> `ValidationReport` (table, JSON, HTML with figures);
- `metrics`: every metric alone, with bootstrap intervals, and agreement between raters (`cohen_kappa`,
  `fleiss_kappa`, `krippendorff_alpha`);
- `calibration`: `calibration.fit(p_yes, labels, method="isotonic" | "platt")` -> a saved/loaded `Calibrator`;
- `ppi_mean` / `classical_mean` -> `Estimate`: prediction-powered inference for a mean;
- `load_sample(kind)`: the shipped labelled sample.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Calibrator",
    "Estimate",
    "ValidationReport",
    "calibration",
    "classical_mean",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "load_sample",
    "metrics",
    "ppi_mean",
    "validate",
]

_LAZY = {
    "Calibrator": "judgekit.calibration",
    "Estimate": "judgekit.validation.ppi",
    "ValidationReport": "judgekit.validation.report",
    "classical_mean": "judgekit.validation.ppi",
    "cohen_kappa": "judgekit.validation.metrics",
    "fleiss_kappa": "judgekit.validation.metrics",
    "krippendorff_alpha": "judgekit.validation.metrics",
    "load_sample": "judgekit.validation.sample",
    "ppi_mean": "judgekit.validation.ppi",
    "validate": "judgekit.validation._run",
}


def __getattr__(name: str) -> Any:
    if name in ("calibration", "metrics"):
        return importlib.import_module(f"judgekit.validation.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judgekit.validation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""Moved to `judgekit.calibration` (a calibrator is applied at run time by every judge, not only when validating).

This module re-exports it, so ``from judgekit.validation import calibration`` keeps working.
"""

from judgekit.calibration import Calibrator, fit, load

__all__ = ["Calibrator", "fit", "load"]

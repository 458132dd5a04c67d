"""judgekit's ``lmms_eval.models`` entry point: lmms-eval loads it while it builds its model registry, which
its command line and ``lmms_eval.evaluator`` do before importing any task; it registers ``API_TYPE=judgekit``
(`judgekit.integrations.lmms_eval`). lmms-eval 0.7.3 loads no entry points for ``llm_judge`` itself."""

from __future__ import annotations

import importlib
import sys

_MODULE = "judgekit.integrations.lmms_eval"


def register() -> tuple[()]:
    """Register judgekit's provider; returns the model manifests lmms-eval expects from this group: none."""
    module = sys.modules.get(_MODULE)
    if module is not None and not hasattr(module, "register"):
        return ()  # that module is being imported (importing lmms-eval got here): it registers itself when done
    importlib.import_module(_MODULE).register()
    return ()

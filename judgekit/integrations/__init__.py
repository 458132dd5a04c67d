"""judgekit inside other tools: lmms-eval's ``llm_judge`` (`lmms_eval`), Inspect scorers (`inspect`) and
OpenTelemetry (`otel`). Each module imports its tool's package; import the one you use (docs/integrations.md).

`provenance` is what each of them reports about the evaluator behind a judgement."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["error_name", "provenance", "template_hash"]


def error_name(error_type: Any) -> str | None:
    """A result's ``error_type`` as a plain string (it may be an enum member whose value is the name)."""
    return None if error_type is None else str(getattr(error_type, "value", error_type))


def template_hash(template: str | None) -> str | None:
    """``sha256:<16 hex>`` of a prompt template: which prompt judged, without its text."""
    if template is None:
        return None
    return "sha256:" + hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def provenance(
    *, kind: str, backend: str, model: str | None, template: str | None, calibrator: str | None
) -> dict[str, str]:
    """Who judged: judgekit's version, the backend, the model, the prompt template (its hash), the kind and the
    calibrator; unknown ones are left out."""
    from judgekit import __version__

    found = {
        "version": __version__,
        "backend": backend,
        "model": model,
        "kind": kind,
        "prompt_template_hash": template_hash(template),
        "calibrator": calibrator,
    }
    return {key: value for key, value in found.items() if value}

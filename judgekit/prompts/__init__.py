"""The prompt of a judge kind: its template (``*.txt`` files beside this module, or a registered kind's own
``prompt``) filled with the kind's values.

Reading and filling template text is `judgekit.templates` (re-exported here: ``fill_template``,
``template_fields``), which knows no kind; this module picks the template of a kind from `judgekit.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judgekit import kinds
from judgekit.errors import TemplateError
from judgekit.templates import builtin_template, fill_template, template_fields

__all__ = [
    "CUSTOM_PROMPT_FIELDS",
    "KINDS",
    "build_prompt",
    "custom_prompt_fields",
    "fill_template",
    "load_template",
    "template_fields",
]


def custom_prompt_fields() -> frozenset[str]:
    """Fields a ``custom_prompt`` may name (``{pred}`` is the old lmms-eval spelling of ``{prediction}``),
    besides the other values of its kind (`judgekit.kinds.KindSpec.placeholders`) and any extra keyword
    argument the custom prompt names."""
    return frozenset(
        {name for spec in kinds.KINDS.values() for name in spec.all_fields}
        | {"pred", "min_score", "max_score", "positive", "negative"}
    )


def __getattr__(name: str) -> Any:
    # The old constants, now read from the kind registry at each use (a registered kind shows up).
    if name == "KINDS":
        return kinds.kind_names()
    if name == "CUSTOM_PROMPT_FIELDS":
        return custom_prompt_fields()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_template(name: str) -> str:
    """The template of the judge kind ``name`` (a registered kind's own ``prompt`` text, else the built-in file
    ``<name>.txt`` here), or of another built-in prompt such as ``decision_binary``."""
    spec = kinds.KINDS.get(name) if isinstance(name, str) else None
    if spec is not None and spec.prompt is not None:
        return spec.prompt
    try:
        return builtin_template(name)
    except TemplateError as exc:
        raise TemplateError(f"{exc}; judge kinds: {', '.join(kinds.KINDS)}", "kind") from None


def build_prompt(kind: str, values: Mapping[str, Any], custom_prompt: str | None = None) -> str:
    """The prompt for ``kind``: the built-in template, or ``custom_prompt`` limited to the documented
    fields plus any extra ones the caller passed in ``values``."""
    if custom_prompt is None:
        return fill_template(load_template(kind), values)
    if not isinstance(custom_prompt, str):
        raise TemplateError(f"custom_prompt must be a string, got {type(custom_prompt).__name__}", "custom_prompt")
    return fill_template(custom_prompt, values, allowed=custom_prompt_fields() | set(values))

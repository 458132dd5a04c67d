"""Prompt templates (``*.txt`` files beside this module) and the one builder that fills them safely.

Templates name fields as ``{field}``; ``{{`` and ``}}`` stand for literal braces. Filling is a single
pass over the template: a value is inserted as it is and never read again, so braces, quotes or
template-like text inside a question, answer or prediction cannot break or change a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from judgekit import kinds
from judgekit.errors import TemplateError

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


_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_template(name: str) -> str:
    """The template of the judge kind ``name`` (a registered kind's own ``prompt`` text, else the built-in file
    ``<name>.txt`` here), or of another built-in prompt such as ``decision_binary``."""
    spec = kinds.KINDS.get(name) if isinstance(name, str) else None
    if spec is not None and spec.prompt is not None:
        return spec.prompt
    return _builtin_template(name)


@cache
def _builtin_template(name: str) -> str:
    path = resources.files(__package__).joinpath(f"{name}.txt")
    if not name.isidentifier() or not path.is_file():
        raise TemplateError(f"no built-in prompt {name!r}; judge kinds: {', '.join(kinds.KINDS)}", "kind")
    return path.read_text(encoding="utf-8")


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a template uses."""
    return set(_fields(template))


def _fields(template: str) -> frozenset[str]:
    return _compiled(template)[2]


@lru_cache(maxsize=256)
def _compiled(template: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """``template`` split once into literal text (``{{``/``}}`` already undone) and the field names between."""
    literals: list[str] = []
    names: list[str] = []
    text: list[str] = []
    end = 0
    for match in _TOKEN.finditer(template):
        text.append(template[end : match.start()])
        end = match.end()
        if match.group(1) is None:
            text.append(match.group(0)[0])
        else:
            literals.append("".join(text))
            names.append(match.group(1))
            text = []
    text.append(template[end:])
    literals.append("".join(text))
    return tuple(literals), tuple(names), frozenset(names)


def fill_template(template: str, values: Mapping[str, Any], *, allowed: Iterable[str] | None = None) -> str:
    """Fill ``template`` in one pass. ``None`` values become empty text.

    A field that is not in ``values`` (or, with ``allowed``, not allowed) raises `TemplateError`
    listing what may be used.
    """
    names = _fields(template)
    permitted = set(values) if allowed is None else set(allowed)
    unknown = sorted(names - permitted)
    if unknown:
        raise TemplateError(
            f"prompt template uses unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"available: {', '.join('{' + a + '}' for a in sorted(permitted))} "
            "(write {{ and }} for literal braces)",
            field="custom_prompt",
        )

    literals, fields, _ = _compiled(template)
    parts: list[str] = [""] * (2 * len(fields) + 1)
    parts[::2] = literals
    parts[1::2] = ["" if (value := values.get(name)) is None else str(value) for name in fields]
    return "".join(parts)


def build_prompt(kind: str, values: Mapping[str, Any], custom_prompt: str | None = None) -> str:
    """The prompt for ``kind``: the built-in template, or ``custom_prompt`` limited to the documented
    fields plus any extra ones the caller passed in ``values``."""
    if custom_prompt is None:
        return fill_template(load_template(kind), values)
    if not isinstance(custom_prompt, str):
        raise TemplateError(f"custom_prompt must be a string, got {type(custom_prompt).__name__}", "custom_prompt")
    return fill_template(custom_prompt, values, allowed=custom_prompt_fields() | set(values))

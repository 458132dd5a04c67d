"""Prompt template text: the built-in files (``judgekit/prompts/*.txt``), the fields a template names, and the one
builder that fills a template safely. Knows no judge kind (`judgekit.prompts` picks a kind's template).

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

from judgekit.errors import TemplateError

__all__ = ["builtin_template", "fill_template", "template_fields"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FOLDER = resources.files(__package__).joinpath("prompts")


@cache
def builtin_template(name: str) -> str:
    """The text of the built-in prompt file ``<name>.txt``; `TemplateError` naming ``kind`` when there is none."""
    path = _FOLDER.joinpath(f"{name}.txt")
    if not isinstance(name, str) or not name.isidentifier() or not path.is_file():
        raise TemplateError(f"no built-in prompt {name!r}", "kind")
    return path.read_text(encoding="utf-8")


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a template uses."""
    return set(_compiled(template)[2])


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
    literals, fields, names = _compiled(template)
    permitted = set(values) if allowed is None else set(allowed)
    unknown = sorted(names - permitted)
    if unknown:
        raise TemplateError(
            f"prompt template uses unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"available: {', '.join('{' + a + '}' for a in sorted(permitted))} "
            "(write {{ and }} for literal braces)",
            field="custom_prompt",
        )
    parts: list[str] = [""] * (2 * len(fields) + 1)
    parts[::2] = literals
    parts[1::2] = ["" if (value := values.get(name)) is None else str(value) for name in fields]
    return "".join(parts)

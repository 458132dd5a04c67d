"""One spec per judge kind: the single place that says what a kind takes, asks and returns.

Everything that branches on a kind (the judging layer, prompts, parsing, scoring, the CLI, the judge
server, the providers that judge fields rather than text) reads `KindSpec` here. Adding a kind means adding
one entry to `KINDS` (plus its prompt file and parser); see docs/contributing.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from judgekit.errors import ConfigError

__all__ = ["KINDS", "SERVER_KINDS", "KindSpec", "get_kind", "kind_names"]


@dataclass(frozen=True)
class KindSpec:
    """What one judge kind takes, asks and returns.

    - ``fields``: required inputs, in the order of the ``evaluate_*`` method's positional arguments.
    - ``optional_fields``: further inputs (a reference ``answer``, ``context``).
    - ``options``: settings of the kind (``output_format``, ``score_range``, ``swap``, ``answer_type``).
    - ``slot``: where the parsed value goes in a `~judgekit.types.JudgeResult` (``result`` or ``scores``).
    - ``verdict``: the value is a yes/no verdict (binary, correctness).
    - ``logprob``: the log-probability score it supports (``p_yes``, ``expected_score``) or None.
    - ``scorable``: a judge server / reward adapter can turn its result into one score in [0, 1].
    - ``template``: the prompt file under ``judgekit/prompts/``.
    """

    name: str
    method: str
    fields: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    slot: Literal["result", "scores"] = "result"
    verdict: bool = False
    logprob: Literal["p_yes", "expected_score"] | None = None
    scorable: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        return self.name

    @property
    def async_method(self) -> str:
        return "a" + self.method

    @property
    def all_fields(self) -> tuple[str, ...]:
        return self.fields + self.optional_fields

    @property
    def uses_score_range(self) -> bool:
        return "score_range" in self.options

    @property
    def swappable(self) -> bool:
        return "swap" in self.options


_SPECS = (
    KindSpec(
        "binary", "evaluate_binary", ("question", "answer", "prediction"),
        options=("output_format", "answer_type"), verdict=True, logprob="p_yes", scorable=True,
    ),
    KindSpec(
        "correctness", "evaluate_correctness", ("question", "answer", "prediction"),
        options=("answer_type",), verdict=True, logprob="p_yes", scorable=True,
    ),
    KindSpec(
        "comparative", "evaluate_comparative", ("question", "response1", "response2"),
        optional_fields=("context",), options=("score_range", "swap"), slot="scores",
    ),
    KindSpec(
        "rubric", "evaluate_with_rubric", ("question", "prediction", "rubric"),
        optional_fields=("answer", "context"), options=("score_range",), slot="scores", aliases=("with_rubric",),
    ),
    KindSpec(
        "pointwise", "evaluate_pointwise", ("question", "response"),
        optional_fields=("answer", "context"), options=("score_range",), slot="scores",
        logprob="expected_score", scorable=True,
    ),
    KindSpec(
        "pairwise", "evaluate_pairwise", ("question", "response1", "response2"),
        optional_fields=("context",), options=("swap",),
    ),
)

KINDS: Mapping[str, KindSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
"""Every judge kind by name, in documentation order."""

_BY_NAME = {**{alias: spec for spec in _SPECS for alias in spec.aliases}, **KINDS}

SERVER_KINDS: tuple[str, ...] = ("auto", *(spec.name for spec in _SPECS if spec.scorable))
"""Kinds a judge server (or one of its requests) may name; ``auto`` picks by whether an answer is given."""


def kind_names() -> tuple[str, ...]:
    """The names of all judge kinds."""
    return tuple(KINDS)


def get_kind(name: str, *, field: str = "kind") -> KindSpec:
    """The spec of kind ``name`` (or an alias such as ``with_rubric``); `ConfigError` naming ``field``
    with a "did you mean" otherwise."""
    spec = _BY_NAME.get(name) if isinstance(name, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(name), list(_BY_NAME), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown judge kind {name!r}{hint} (kinds: {', '.join(KINDS)})", field)
    return spec

"""One spec per judge kind: the single place that says what a kind takes, asks and returns.

Everything that branches on a kind (the judging layer, prompts, parsing, scoring, the CLI, the judge
server, the providers that judge fields rather than text) reads `KindSpec` here. Adding a kind means adding
one entry to `KINDS` (plus its prompt file and parser); see docs/contributing.md.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from judgekit import parsing
from judgekit.errors import ConfigError
from judgekit.questions import (
    DecisionSpec,
    ask_better,
    ask_criteria,
    ask_score,
    combine_better,
    read_better,
    read_pair,
    read_score,
    read_scores,
    read_verdict,
    yes_no,
)

if TYPE_CHECKING:
    from judgekit.config import JudgeConfig

__all__ = [
    "CALL_OPTIONS",
    "CUSTOM",
    "KINDS",
    "METADATA_KEYS",
    "REQUEST_OPTIONS",
    "SERVER_KINDS",
    "VERDICT_WORDS",
    "KindSpec",
    "get_kind",
    "kind_names",
    "suggest",
]

VERDICT_WORDS: Mapping[str, tuple[str, str]] = MappingProxyType({"0/1": ("1", "0"), "yes/no": ("Yes", "No")})
"""The (positive, negative) words a verdict is asked for and written in, by ``output_format``."""

REQUEST_OPTIONS = ("temperature", "max_tokens", "system_prompt")
"""Per-call overrides of the judge's `~judgekit.JudgeConfig` that every kind accepts."""

CALL_OPTIONS = ("custom_prompt", "images", "logprob_score", "n_samples", *REQUEST_OPTIONS)
"""Keyword options every ``evaluate_*`` method accepts, besides its kind's own."""

METADATA_KEYS = ("id", "pair_id", "kind", "label")
"""Keys of a (labelled) item that are about the item, not judge inputs: ``judgekit batch`` and ``validate``
keep them out of the judge call (``batch`` carries them to its output)."""


def suggest(name: str, known: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` when ``name`` is close to one of ``known``, else ``""``."""
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class KindSpec:
    """What one judge kind takes, asks and returns.

    - ``fields``: required inputs, in the order of the ``evaluate_*`` method's positional arguments.
    - ``optional_fields``: further inputs (a reference ``answer``, ``context``).
    - ``options``: settings of the kind (``output_format``, ``score_range``, ``swap``, ``answer_type``).
    - ``slot``: where the parsed value goes in a `~judgekit.types.JudgeResult` (``result`` or ``scores``).
    - ``verdict``: the value is a yes/no verdict (binary, correctness); the prompt's ``{positive}`` and
      ``{negative}`` come from `verdict_words`.
    - ``logprob``: the log-probability score it supports (``p_yes``, ``expected_score``) or None.
    - ``scorable``: a judge server / reward adapter can turn its result into one score in [0, 1].
    - ``parser``: the `judgekit.parsing` function that reads a reply; ``parser_options`` the resolved
      options it takes as keywords (see `parse`).
    - ``native_score``: a backend-native ``score`` (a reward-model head's scalar) stands for the parsed value.
    - ``prepare``: turns structured inputs (a rubric) into prompt values and extra options; see `prompt_values`;
      ``extra_placeholders`` names the prompt values it adds.
    - ``combine``: with ``swap`` (which judges again with the last two ``fields`` exchanged), merges the two
      orders' values into ``(result, scores, agreed)``.
    - ``decision``: how a decision backend asks it (typed questions answered with probabilities, one request;
      `judgekit.questions`), or None.
    - ``template``: the prompt file under ``judgekit/prompts/`` (``<name>.txt``).
    - ``caller_prompt``: the caller brings the prompt (or messages) and the parser: `CUSTOM`, which has no
      template and is not one of `KINDS`.
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
    parser: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    parser_options: tuple[str, ...] = ()
    native_score: bool = False
    extra_placeholders: tuple[str, ...] = ()
    prepare: Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None = field(
        default=None, compare=False, repr=False
    )
    combine: Callable[[Any, Any], tuple[Any, Any, bool]] | None = field(default=None, compare=False, repr=False)
    decision: DecisionSpec | None = field(default=None, compare=False, repr=False)
    caller_prompt: bool = False

    @property
    def template(self) -> str:
        return self.name

    @property
    def async_method(self) -> str:
        return "a" + self.method

    @cached_property
    def all_fields(self) -> tuple[str, ...]:
        return self.fields + self.optional_fields

    @property
    def uses_score_range(self) -> bool:
        return "score_range" in self.options

    @property
    def swappable(self) -> bool:
        return "swap" in self.options

    @cached_property
    def keywords(self) -> tuple[str, ...]:
        """Every keyword an ``evaluate_*`` call of this kind takes (a custom prompt may add its placeholders)."""
        return self.all_fields + self.options + CALL_OPTIONS

    @cached_property
    def _keyword_set(self) -> frozenset[str]:
        return frozenset(self.keywords)

    @cached_property
    def placeholders(self) -> frozenset[str]:
        """The ``{fields}`` a prompt of this kind can name (`prompt_values` fills them all)."""
        names = set(self.all_fields)
        if "prediction" in names:
            names.add("pred")  # the old lmms-eval spelling
        if self.verdict:
            names |= {"positive", "negative"}
        if self.uses_score_range:
            names |= {"min_score", "max_score"}
        if "context" in names:
            names.add("context_section")
        if "answer" in self.optional_fields:
            names.add("reference_section")
        return frozenset(names | set(self.extra_placeholders))

    def check_keywords(self, given: Collection[str], extra: Collection[str] = ()) -> None:
        """`ConfigError` naming the first of ``given`` that is neither a keyword of this kind nor in ``extra``
        (the placeholders of the custom prompt in use), with a "did you mean"."""
        for name in given:
            if name not in self._keyword_set and name not in extra:
                known = {*self.keywords, *extra}
                hint = suggest(name, known)
                note = "" if extra else " (an extra field is allowed only when custom_prompt names it as {field})"
                raise ConfigError(f"{self.method} got an unknown option {name!r}{hint}{note}", name)

    def verdict_words(self, output_format: str | None) -> tuple[str, str]:
        """The (positive, negative) words of the verdict: by ``output_format`` for a kind that takes one,
        else yes/no."""
        if "output_format" not in self.options:
            return VERDICT_WORDS["yes/no"]
        words = VERDICT_WORDS.get(output_format) if isinstance(output_format, str) else None
        if words is None:
            raise ConfigError(
                f"output_format must be {' or '.join(map(repr, VERDICT_WORDS))}, got {output_format!r}", "output_format"
            )
        return words

    def resolve_options(self, given: Mapping[str, Any], config: JudgeConfig) -> dict[str, Any]:
        """This kind's options with the judge's defaults filled in and checked (``swap`` is False unless set)."""
        resolved: dict[str, Any] = {}
        for name in self.options:
            value = given.get(name)
            if name == "output_format":
                value = value or config.output_format
                self.verdict_words(value)
            elif name == "score_range":
                value = _score_range(value) if value is not None else config.score_range
            elif name == "swap":
                value = bool(value)
            elif name == "parse" and value is not None and not callable(value):
                raise ConfigError(f"parse must be a function str -> value (or None), got {type(value).__name__}", name)
            resolved[name] = value
        return resolved

    def prompt_values(
        self, inputs: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The values a prompt of this kind is filled with, and options that ``prepare`` derived from the inputs
        (a rubric's ``criteria``). ``inputs`` holds the fields (and extra custom-prompt fields)."""
        values = dict(inputs)
        derived: dict[str, Any] = {}
        if "prediction" in self.all_fields:
            values["pred"] = inputs.get("prediction")
        if self.verdict:
            values["positive"], values["negative"] = self.verdict_words(options.get("output_format"))
        if self.uses_score_range:
            low, high = options["score_range"]
            values["min_score"], values["max_score"] = _num(low), _num(high)
        if "context" in self.all_fields:
            values["context_section"] = _section("Context", inputs.get("context"))
        if "answer" in self.optional_fields:
            values["reference_section"] = _section("Reference Answer", inputs.get("answer"), lead="\n")
        if self.prepare is not None:
            more, derived = self.prepare(inputs, options)
            values.update(more)
        return values, derived

    def parse(self, text: str, options: Mapping[str, Any]) -> Any:
        """The value of a reply: ``parser(text, **options named by parser_options)``; raises `ParseError`."""
        if self.parser is None:
            raise TypeError(f"judge kind {self.name!r} has no parser")
        return self.parser(text, **{name: options[name] for name in self.parser_options})


def _score_range(value: Any) -> tuple[float, float]:
    try:
        low, high = value
        ok = low < high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"score_range must be (low, high) with low < high, got {value}", "score_range")
    return float(low), float(high)


def _section(title: str, text: str | None, lead: str = "") -> str:
    return f"{lead}[{title}]\n{text}\n[End of {title}]\n\n" if text else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _criteria(rubric: Any) -> dict[str, str]:
    if isinstance(rubric, Mapping):
        criteria = {str(k): str(v or "") for k, v in rubric.items()}
    elif isinstance(rubric, Sequence) and not isinstance(rubric, str):
        criteria = {str(k): "" for k in rubric}
    else:
        raise ConfigError("rubric must be a dict {criterion: description} or a list of criteria", "rubric")
    if not criteria:
        raise ConfigError("rubric must name at least one criterion", "rubric")
    return criteria


def _prepare_rubric(inputs: Mapping[str, Any], options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rubric as prompt lines plus a JSON example of the reply; ``criteria`` for the parser and the task."""
    criteria = _criteria(inputs.get("rubric"))
    lines = [f"- {name}: {desc}" if desc else f"- {name}" for name, desc in criteria.items()]
    example = json.dumps(dict.fromkeys(criteria, _num(options["score_range"][1])))
    return {"rubric": "\n".join(lines), "example": example}, {"criteria": criteria}


def _combine_scores(first: tuple[float, float], second: tuple[float, float]) -> tuple[None, tuple[float, float], bool]:
    """``second`` judged (response2, response1): undo the swap, average, and check both orders agree."""
    s1, s2 = (first[0] + second[1]) / 2, (first[1] + second[0]) / 2
    agreed = _sign(first[0] - first[1]) == _sign(second[1] - second[0])
    return None, (s1, s2), agreed


def _combine_preferences(first: str, second: str) -> tuple[str, float, bool]:
    """``second`` judged with A and B swapped: map it back, then agree -> that side, else "tie"."""
    second_unswapped = "B" if second == "A" else "A"
    share_a = ((first == "A") + (second_unswapped == "A")) / 2
    agreed = first == second_unswapped
    return (first if agreed else "tie"), share_a, agreed


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


_SPECS = (
    KindSpec(
        "binary",
        "evaluate_binary",
        ("question", "answer", "prediction"),
        options=("output_format", "answer_type"),
        verdict=True,
        logprob="p_yes",
        scorable=True,
        parser=parsing.parse_binary,
        parser_options=("output_format",),
        decision=DecisionSpec(
            "decision_binary",
            yes_no("Is the model prediction correct: does its final answer match the reference answer?"),
            read_verdict,
        ),
    ),
    KindSpec(
        "correctness",
        "evaluate_correctness",
        ("question", "answer", "prediction"),
        options=("answer_type",),
        verdict=True,
        logprob="p_yes",
        scorable=True,
        parser=parsing.parse_correctness,
        decision=DecisionSpec(
            "decision_correctness",
            yes_no("Is the solution's final answer equivalent to the correct answer?"),
            read_verdict,
        ),
    ),
    KindSpec(
        "comparative",
        "evaluate_comparative",
        ("question", "response1", "response2"),
        optional_fields=("context",),
        options=("score_range", "swap"),
        slot="scores",
        parser=parsing.parse_comparative,
        parser_options=("score_range",),
        combine=_combine_scores,
        decision=DecisionSpec(
            "decision_comparative",
            ask_score(
                *(
                    (
                        f"response{n}",
                        f"Rate Response {n} for helpfulness, relevance, accuracy and level of detail, "
                        "from {low} (worst) to {high} (best).",
                    )
                    for n in (1, 2)
                )
            ),
            read_pair,
        ),
    ),
    KindSpec(
        "rubric",
        "evaluate_with_rubric",
        ("question", "prediction", "rubric"),
        optional_fields=("answer", "context"),
        options=("score_range",),
        slot="scores",
        aliases=("with_rubric",),
        parser=parsing.parse_rubric,
        parser_options=("criteria", "score_range"),
        prepare=_prepare_rubric,
        extra_placeholders=("example",),
        decision=DecisionSpec(
            "decision_rubric",
            ask_criteria("Score the response on the criterion {name}{about}, from {low} (worst) to {high} (best)."),
            read_scores,
        ),
    ),
    KindSpec(
        "pointwise",
        "evaluate_pointwise",
        ("question", "response"),
        optional_fields=("answer", "context"),
        options=("score_range",),
        slot="scores",
        logprob="expected_score",
        scorable=True,
        parser=parsing.parse_pointwise,
        parser_options=("score_range",),
        native_score=True,
        decision=DecisionSpec(
            "decision_pointwise",
            ask_score(
                (
                    "score",
                    "How helpful, correct and complete is the response as an answer to the question? "
                    "Rate it from {low} (worst) to {high} (best).",
                )
            ),
            read_score,
        ),
    ),
    KindSpec(
        "pairwise",
        "evaluate_pairwise",
        ("question", "response1", "response2"),
        optional_fields=("context",),
        options=("swap",),
        parser=parsing.parse_pairwise,
        combine=_combine_preferences,
        decision=DecisionSpec(
            "decision_pairwise", ask_better("Which response is better?"), read_better, combine=combine_better
        ),
    ),
)

KINDS: Mapping[str, KindSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
"""Every built-in judge kind (a prompt template and a parser of its own) by name, in documentation order."""

CUSTOM = KindSpec(
    "custom",
    "evaluate_custom",
    (),
    optional_fields=("prompt", "messages"),
    options=("parse",),
    parser=parsing.parse_custom,
    parser_options=("parse",),
    caller_prompt=True,
)
"""The caller's own prompt (or messages) read by the caller's own parser (`SimplifiedJudge.evaluate_custom`).
Not in `KINDS` (no template, nothing a CLI flag or a judge server could fill); `get_kind("custom")` finds it."""

_BY_NAME = {**{alias: spec for spec in _SPECS for alias in spec.aliases}, **KINDS, CUSTOM.name: CUSTOM}

SERVER_KINDS: tuple[str, ...] = ("auto", *(spec.name for spec in _SPECS if spec.scorable))
"""Kinds a judge server (or one of its requests) may name; ``auto`` picks by whether an answer is given."""


def kind_names() -> tuple[str, ...]:
    """The names of the built-in judge kinds (`KINDS`; not ``custom``)."""
    return tuple(KINDS)


def get_kind(name: str, *, field: str = "kind") -> KindSpec:
    """The spec of kind ``name`` (or an alias such as ``with_rubric``); `ConfigError` naming ``field``
    with a "did you mean" otherwise."""
    spec = _BY_NAME.get(name) if isinstance(name, str) else None
    if spec is None:
        hint = suggest(str(name), _BY_NAME)
        raise ConfigError(f"unknown judge kind {name!r}{hint} (kinds: {', '.join([*KINDS, CUSTOM.name])})", field)
    return spec

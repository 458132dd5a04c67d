"""One spec per judge kind: the single place that says what a kind takes, asks and returns.

Everything that branches on a kind (the judging layer, prompts, parsing, scoring, the CLI, the judge
server, the providers that judge fields rather than text) reads `KindSpec` here, from the registry at the
time of use. The registry is open: `register_kind` adds a kind (its prompt, parser and scale travel in its
spec), and an installed package adds kinds through the ``judgekit.kinds`` entry-point group, loaded on first
use. See docs/contributing.md ("Add a kind").
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Literal, Protocol

from judgekit import parsers
from judgekit.errors import ConfigError, ParseError
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
from judgekit.templates import builtin_template, template_fields

__all__ = [
    "BUILTIN_KINDS",
    "CALL_OPTIONS",
    "CUSTOM",
    "ENTRY_POINT_GROUP",
    "GROUP_KINDS",
    "KINDS",
    "METADATA_KEYS",
    "PARSERS",  # noqa: F822 (read from the registry at each use, see __getattr__)
    "REQUEST_OPTIONS",
    "SERVER_KINDS",  # noqa: F822 (read from the registry at each use, see __getattr__)
    "VERDICT_WORDS",
    "JudgeDefaults",
    "KindSpec",
    "get_kind",
    "kind_names",
    "kind_of_method",
    "register_kind",
    "server_kinds",
    "suggest",
    "unregister_kind",
]

ENTRY_POINT_GROUP = "judgekit.kinds"
"""Entry-point group through which an installed package adds kinds: each entry point names a `KindSpec`, a
sequence of them, or a function returning either (see `register_kind`)."""

VERDICT_WORDS: Mapping[str, tuple[str, str]] = MappingProxyType({"0/1": ("1", "0"), "yes/no": ("Yes", "No")})
"""The (positive, negative) words a verdict is asked for and written in, by ``output_format``."""

REQUEST_OPTIONS = ("temperature", "max_tokens", "system_prompt")
"""Per-call overrides of the judge's `~judgekit.JudgeConfig` that every kind accepts."""

CALL_OPTIONS = ("custom_prompt", "images", "logprob_score", "n_samples", *REQUEST_OPTIONS)
"""Keyword options every ``evaluate_*`` method accepts, besides its kind's own."""

METADATA_KEYS = ("id", "pair_id", "kind", "label", "part")
"""Keys of a (labelled) item that are about the item, not judge inputs: ``judgekit batch`` and ``validate``
keep them out of the judge call (``batch`` carries them to its output)."""


class JudgeDefaults(Protocol):
    """The judge settings a kind falls back on (`~judgekit.JudgeConfig` is one): see `KindSpec.resolve_options`."""

    @property
    def output_format(self) -> str: ...

    @property
    def score_range(self) -> tuple[float, float]: ...


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
    - ``parser``: the `judgekit.parsers` function that reads a reply; ``parser_options`` the resolved
      options it takes as keywords (see `parse`).
    - ``native_score``: a backend-native ``score`` (a reward-model head's scalar) stands for the parsed value.
    - ``prepare``: turns structured inputs (a rubric) into prompt values and extra options; see `prompt_values`;
      ``extra_placeholders`` names the prompt values it adds.
    - ``combine``: with ``swap`` (which judges again with the last two ``fields`` exchanged), merges the two
      orders' values into ``(result, scores, agreed)``.
    - ``decision``: how a decision backend asks it (typed questions answered with probabilities, one request;
      `judgekit.questions`), or None.
    - ``scale``: the kind's own (low, high) score scale (a 1-7 Likert kind: ``(1, 7)``). A kind with a scale
      is never rescaled by the judge's ``score_range``: its prompt's ``{min_score}``/``{max_score}`` and the
      judge server's [0, 1] score (`judgekit.scoring`) use this scale.
    - ``prompt``: the prompt template text (``{field}`` placeholders, see `judgekit.prompts`); None: the
      built-in file ``judgekit/prompts/<name>.txt`` (``template``).
    - ``caller_prompt``: the caller brings the prompt (or messages) and the parser: `CUSTOM`, which has no
      template and is not one of `KINDS`.
    - ``group``: judges a GRPO group of responses together (`GROUP_KINDS`, `SimplifiedJudge.evaluate_group`);
      ``unit`` names the kind each comparison of a group kind is judged as (``tournament``: ``pairwise``),
      None when the whole group is one request (``listwise``).
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
    scale: tuple[float, float] | None = None
    prompt: str | None = field(default=None, repr=False)
    group: bool = False
    unit: str | None = None

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
        if self.uses_score_range or self.scale is not None:
            names |= {"min_score", "max_score"}
        if "context" in names:
            names.add("context_section")
        if "answer" in self.optional_fields:
            names.add("reference_section")
        return frozenset(names | set(self.extra_placeholders))

    def bind(self, args: Sequence[Any], given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(fields, options)`` of a call ``method(*args, **given)``: positional arguments fill `fields` in
        order, the rest of the fields come by keyword; a missing or doubled field is a `TypeError`, as Python's
        own for a method with these parameters."""
        if len(args) > len(self.fields):
            raise TypeError(f"{self.method}() takes {len(self.fields)} positional arguments but {len(args)} were given")
        options = dict(given)
        fields = dict(zip(self.fields, args, strict=False))
        for name in self.fields:
            if name in fields and name in options:
                raise TypeError(f"{self.method}() got multiple values for argument {name!r}")
            if name not in fields:
                if name not in options:
                    raise TypeError(f"{self.method}() missing required argument: {name!r}")
                fields[name] = options.pop(name)
        return fields, options

    def check_keywords(self, given: Collection[str], extra: Collection[str] = ()) -> None:
        """`ConfigError` naming the first of ``given`` that is neither a keyword of this kind nor in ``extra``
        (the placeholders of the custom prompt in use), with a "did you mean"."""
        for name in given:
            if name not in self._keyword_set and name not in extra:
                known = {*self.keywords, *extra}
                hint = suggest(name, known)
                note = "" if extra else " (an extra field is allowed only when custom_prompt names it as {field})"
                raise ConfigError(f"{self.method} got an unknown option {name!r}{hint}{note}", name)

    def check_fields(self, given: Mapping[str, Any]) -> None:
        """`ConfigError` naming the first required field that is None: a kind that checks against a reference
        never judges without one (an empty reference would be sent and the verdict look fine)."""
        for name in self.fields:
            if given.get(name) is None:
                what = "a reference answer" if name == "answer" else "a value"
                raise ConfigError(f"{self.method} needs {what} for {name!r}, got None", name)

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

    def resolve_options(self, given: Mapping[str, Any], config: JudgeDefaults) -> dict[str, Any]:
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
        if self.uses_score_range or self.scale is not None:
            low, high = options["score_range"] if self.uses_score_range else self.scale  # type: ignore[misc]
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
        """The value of a reply: ``parser(text, **options named by parser_options)``.

        Raises `ParseError` and nothing else: any exception from the parser (a ``KeyError``, a ``ValueError``)
        means the reply could not be read, so it becomes a `ParseError` naming it, and a judgement with it a
        failure with a reason."""
        if self.parser is None:
            raise TypeError(f"judge kind {self.name!r} has no parser")
        try:
            return self.parser(text, **{name: options[name] for name in self.parser_options})
        except ParseError:
            raise
        except Exception as exc:
            message = f"{self.name}: the parser raised {type(exc).__name__}: {exc}"
            raise ParseError(message, raw_text=text, kind=self.name) from exc


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


def _group_seed(question: Any, responses: Sequence[str]) -> int:
    """The shuffle seed of a group when the caller gives none: from its content, so the same group is shown in
    the same order (and a cached reply stays valid) while different groups get different orders."""
    digest = hashlib.sha256(json.dumps([str(question), list(responses)]).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _prepare_listwise(inputs: Mapping[str, Any], options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The group's responses shuffled (by ``seed``) and numbered [1]..[G]; ``order`` (the input index shown at
    each position) and ``seed`` go to the parser, which undoes the shuffle, and to the result."""
    responses = inputs.get("responses")
    if isinstance(responses, str) or not isinstance(responses, Sequence) or not responses:
        raise ConfigError("responses must be a non-empty list of the group's responses", "responses")
    if not all(isinstance(r, str) for r in responses):
        raise ConfigError("responses must be strings", "responses")
    seed = options.get("seed")
    if seed is None:
        seed = _group_seed(inputs.get("question"), responses)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}", "seed")
    order = list(range(len(responses)))
    random.Random(seed).shuffle(order)
    block = "\n\n".join(f"[{k + 1}]\n{responses[i]}\n[End of {k + 1}]" for k, i in enumerate(order))
    high = float(options["score_range"][1])
    example = json.dumps({"scores": [int(high) if high.is_integer() else high] * len(responses)})
    return {"responses": block, "n": len(responses), "example": example}, {"order": order, "seed": seed}


_SPECS = (
    KindSpec(
        "binary",
        "evaluate_binary",
        ("question", "answer", "prediction"),
        options=("output_format", "answer_type"),
        verdict=True,
        logprob="p_yes",
        scorable=True,
        parser=parsers.parse_binary,
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
        parser=parsers.parse_correctness,
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
        parser=parsers.parse_comparative,
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
        parser=parsers.parse_rubric,
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
        parser=parsers.parse_pointwise,
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
        parser=parsers.parse_pairwise,
        combine=_combine_preferences,
        decision=DecisionSpec(
            "decision_pairwise", ask_better("Which response is better?"), read_better, combine=combine_better
        ),
    ),
)

_GROUP_SPECS = (
    KindSpec(
        "listwise",
        "evaluate_group",
        ("question", "responses"),
        optional_fields=("answer", "context"),
        options=("score_range", "seed"),
        slot="scores",
        parser=parsers.parse_listwise,
        parser_options=("order", "score_range"),
        prepare=_prepare_listwise,
        extra_placeholders=("n", "example"),
        group=True,
    ),
    KindSpec(
        "tournament",
        "evaluate_group",
        ("question", "responses"),
        optional_fields=("answer", "context"),
        slot="scores",
        group=True,
        unit="pairwise",
    ),
)

GROUP_KINDS: Mapping[str, KindSpec] = MappingProxyType({spec.name: spec for spec in _GROUP_SPECS})
"""Kinds that judge a GRPO group of responses together (`SimplifiedJudge.evaluate_group`): ``listwise`` (one
request shows the whole group, shuffled) and ``tournament`` (pairwise comparisons in both orders, fitted with
Bradley-Terry). Not in `KINDS`: they take a list of responses and give one result per member."""

CUSTOM = KindSpec(
    "custom",
    "evaluate_custom",
    (),
    optional_fields=("prompt", "messages"),
    options=("parse",),
    parser=parsers.parse_custom,
    parser_options=("parse",),
    caller_prompt=True,
)
"""The caller's own prompt (or messages) read by the caller's own parser (`SimplifiedJudge.evaluate_custom`).
Not in `KINDS` (no template, nothing a CLI flag or a judge server could fill); `get_kind("custom")` finds it."""

BUILTIN_KINDS: tuple[KindSpec, ...] = _SPECS
"""The kinds judgekit ships (each with a method of its own on `SimplifiedJudge`), in documentation order."""

_registry: dict[str, KindSpec] = {spec.name: spec for spec in _SPECS}
_aliases: dict[str, KindSpec] = {alias: spec for spec in _SPECS for alias in spec.aliases}
_lock = threading.RLock()
_plugins_loaded = False


def _kinds() -> dict[str, KindSpec]:
    """The registry, with the ``judgekit.kinds`` entry points loaded on first use."""
    global _plugins_loaded
    if not _plugins_loaded:
        with _lock:
            if not _plugins_loaded:
                _plugins_loaded = True
                for entry in entry_points(group=ENTRY_POINT_GROUP):
                    _load_plugin(entry)
    return _registry


def _load_plugin(entry: Any) -> None:
    from loguru import logger

    try:
        found = entry.load()
        if callable(found) and not isinstance(found, KindSpec):
            found = found()
        specs = [found] if isinstance(found, KindSpec) else list(found or ())
        for spec in specs:
            if _registry.get(spec.name) is not spec:
                register_kind(spec)
    except Exception as exc:  # a broken plugin must not take judgekit down; it says so
        logger.warning("judgekit: the kind plugin {!r} ({}) was not loaded: {}", entry.name, entry.value, exc)


class _Registry(Mapping[str, KindSpec]):
    """A read-only, live view of the registered kinds (built-ins first, then in registration order)."""

    def __getitem__(self, name: str) -> KindSpec:
        return _kinds()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_kinds()))

    def __len__(self) -> int:
        return len(_kinds())

    def __contains__(self, name: object) -> bool:
        return name in _kinds()

    def __repr__(self) -> str:
        return f"KINDS({', '.join(_kinds())})"


KINDS: Mapping[str, KindSpec] = _Registry()
"""Every registered judge kind (a prompt template and a parser of its own) by name: the built-ins in
documentation order, then those added by `register_kind` or an entry point. Read at use time: a kind
registered later shows up here."""


def register_kind(spec: KindSpec, *, replace: bool = False) -> KindSpec:
    """Add ``spec`` to the registry; from then on every layer knows it: `SimplifiedJudge` (its ``method`` and
    ``a<method>``), ``evaluate_batch(spec.name, ...)``, `judgekit.Jury`, the CLI's ``--kind``, the judge server
    (when ``scorable``), ``JudgeConfig.judge_type``. Returns ``spec`` (usable on a module-level constant).

    Checked here, so a mistake shows at registration rather than at the first judgement: the name and method
    are identifiers and not taken (``replace=True`` swaps a kind of the same name), the method starts with
    ``evaluate_``, a ``parser`` is given, the prompt exists (``prompt`` text, or the built-in file) and names
    only values the kind fills (`KindSpec.placeholders`), and a ``scale`` is (low, high) with low < high.
    """
    if not isinstance(spec, KindSpec):
        raise ConfigError(f"register_kind takes a KindSpec, got {type(spec).__name__}", "spec")
    where = f"register_kind({spec.name!r})"
    if not (isinstance(spec.name, str) and spec.name.isidentifier()) or spec.name in (CUSTOM.name, *GROUP_KINDS):
        raise ConfigError(f"{where}: the name must be an identifier other than 'custom' and the group kinds", "name")
    if spec.group:
        raise ConfigError(f"{where}: group kinds are built in (listwise, tournament), not registered", "group")
    if not spec.method.startswith("evaluate_") or not spec.method.isidentifier():
        raise ConfigError(f"{where}: method must be 'evaluate_<something>', got {spec.method!r}", "method")
    if spec.parser is None or spec.caller_prompt:
        raise ConfigError(f"{where}: a registered kind needs a parser (a function str -> value)", "parser")
    if spec.scale is not None:
        _score_range(spec.scale)
        if spec.uses_score_range:
            raise ConfigError(f"{where}: a kind has its own scale or takes score_range, not both", "scale")
    with _lock:
        current = _kinds()
        old = current.get(spec.name)
        if old is not None and not replace:
            raise ConfigError(f"{where}: the kind {spec.name!r} is registered already (replace=True swaps it)", "name")
        if spec.method in ("evaluate_batch", "evaluate_group", CUSTOM.method):
            raise ConfigError(f"{where}: the method {spec.method!r} is taken by SimplifiedJudge", "method")
        for other in current.values():
            if other is not old and spec.method == other.method:
                raise ConfigError(f"{where}: the method {spec.method!r} belongs to the kind {other.name!r}", "method")
        for alias in (spec.name, *spec.aliases):
            owner = _aliases.get(alias) if alias == spec.name else current.get(alias) or _aliases.get(alias)
            if owner is not None and owner is not old:
                raise ConfigError(f"{where}: the alias {alias!r} belongs to the kind {owner.name!r}", "aliases")
        template = spec.prompt if spec.prompt is not None else builtin_template(spec.template)
        unknown = sorted(template_fields(template) - spec.placeholders)
        if unknown:
            raise ConfigError(
                f"{where}: the prompt names {', '.join('{' + u + '}' for u in unknown)}, which the kind does not "
                f"fill; it may name {', '.join('{' + p + '}' for p in sorted(spec.placeholders))}",
                "prompt",
            )
        if old is not None:
            unregister_kind(old.name)
        current[spec.name] = spec
        _aliases.update(dict.fromkeys(spec.aliases, spec))
    return spec


def unregister_kind(name: str) -> KindSpec:
    """Remove the kind ``name`` (a test's cleanup, a plugin's replacement); returns its spec."""
    with _lock:
        spec = get_kind(name)
        if spec is CUSTOM:
            raise ConfigError("the custom kind cannot be removed", "kind")
        del _kinds()[spec.name]
        for alias in spec.aliases:
            _aliases.pop(alias, None)
    return spec


def server_kinds() -> tuple[str, ...]:
    """Kinds a judge server (or one of its requests) may name: ``auto`` (which picks by whether an answer is
    given) and every registered ``scorable`` kind."""
    return ("auto", *(name for name, spec in KINDS.items() if spec.scorable))


def __getattr__(name: str) -> Any:
    # The old constants, now read from the registry at each use.
    if name == "SERVER_KINDS":
        return server_kinds()
    if name == "PARSERS":  # the parser of each kind (also `judgekit.parsing.PARSERS`)
        return {kind: spec.parser for kind, spec in KINDS.items() if spec.parser is not None}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def kind_of_method(name: str) -> KindSpec | None:
    """The registered kind whose ``evaluate_*`` method, or its async twin ``aevaluate_*``, is ``name``."""
    if not name.startswith(("evaluate_", "aevaluate_")):
        return None
    return next((spec for spec in KINDS.values() if name in (spec.method, spec.async_method)), None)


def kind_names() -> tuple[str, ...]:
    """The names of the registered judge kinds (`KINDS`; not ``custom``)."""
    return tuple(KINDS)


def get_kind(name: str, *, field: str = "kind") -> KindSpec:
    """The spec of kind ``name`` (or an alias such as ``with_rubric``); `ConfigError` naming ``field``
    with a "did you mean" otherwise."""
    known = _kinds()
    spec = None
    if isinstance(name, str):
        spec = (
            known.get(name) or _aliases.get(name) or GROUP_KINDS.get(name) or (CUSTOM if name == CUSTOM.name else None)
        )
    if spec is None:
        names = [*known, *_aliases, *GROUP_KINDS, CUSTOM.name]
        hint = suggest(str(name), names)
        listed = ", ".join([*known, *GROUP_KINDS, CUSTOM.name])
        raise ConfigError(f"unknown judge kind {name!r}{hint} (kinds: {listed})", field)
    return spec

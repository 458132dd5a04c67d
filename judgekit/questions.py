"""Typed questions for decision backends: the building blocks of each kind's `DecisionSpec`. Pure: no I/O.

A decision backend (`judgekit.providers.decisions`, `judgekit.providers.systemone`) generates no text: it answers
typed questions about one input with a probability per option, read from the model's next-token scores. Each
judge kind's entry in `judgekit.kinds` holds its `DecisionSpec`: the input it shows (a prompt file
``decision_<kind>.txt``), the questions it asks in ONE request, and how the answers become its result. The
askers and readers the kinds use are here:

- a yes/no question (`yes_no`), read as ``p_yes`` with verdict ``p_yes >= threshold`` (`read_verdict`);
- a score question whose levels cover ``score_range`` (`ask_score`), read as the expected score (`read_score`,
  `read_scores` for several);
- a choice between A and B (`ask_better`), read as ``result`` "A"/"B" and ``p_a`` (`read_better`).

A provider turns `Question` into its wire shape and the reply into `Answer`; `DecisionSpec.judge` turns the
answers into a `Judgement` (the values of a `~judgekit.types.JudgeResult`). Nothing here knows a wire format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from judgekit.errors import ConfigError
from judgekit.parsers import Verdict
from judgekit.templates import builtin_template, fill_template

__all__ = [
    "MAX_LEVELS",
    "Answer",
    "DecisionSpec",
    "Judgement",
    "Option",
    "Question",
    "ask_better",
    "ask_criteria",
    "ask_score",
    "combine_better",
    "finite_probability",
    "read_better",
    "read_pair",
    "read_score",
    "read_scores",
    "read_verdict",
    "score_levels",
    "yes_no",
]

MAX_LEVELS = 10
"""Most levels a score question has (vLLM labels them 0-9); a wider ``score_range`` gets evenly spaced levels."""

QuestionType = Literal["yes_no", "choice", "score"]


@dataclass(frozen=True)
class Option:
    """One option of a choice question, or one level of a score question (``value``: the score it stands for)."""

    name: str
    description: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class Question:
    """A typed question: ``yes_no`` (a predicate), ``choice`` (one of ``options``) or ``score`` (ordered levels)."""

    name: str
    type: QuestionType
    instructions: str
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Answer:
    """A backend's answer to one question. ``probabilities`` maps each option name (yes_no: "yes"/"no"; score:
    the level's name) to its probability; ``label_mass`` and ``confidence`` are the backend's diagnostics when
    it gives them. ``refused`` is set (and the rest empty) when the model declined the question."""

    name: str
    probabilities: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    label_mass: float | None = None
    refused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept on `~judgekit.types.JudgeResponse.decisions` (and in a reply cache)."""
        return {"probabilities": self.probabilities, "confidence": self.confidence, "label_mass": self.label_mass}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> Answer:
        return cls(name, dict(data.get("probabilities") or {}), data.get("confidence"), data.get("label_mass"))


@dataclass
class Judgement:
    """What a decision backend judged: ``value`` goes in the kind's slot (``result`` or ``scores``); ``score`` is
    the native number the scoring rules read (P(yes), the expected score); ``extra`` holds ``p_yes`` /
    ``expected_score`` / ``p_a``, the ``distribution`` and the diagnostics (``label_mass``, ``confidence``)."""

    value: Any
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def score_levels(score_range: Sequence[float]) -> tuple[Option, ...]:
    """The levels of a score question over ``score_range``: its integers when there are at most `MAX_LEVELS`,
    else `MAX_LEVELS` evenly spaced values from low to high."""
    low, high = float(score_range[0]), float(score_range[1])
    if low.is_integer() and high.is_integer() and high - low + 1 <= MAX_LEVELS:
        values = [low + i for i in range(int(high - low) + 1)]
    else:
        step = (high - low) / (MAX_LEVELS - 1)
        values = [low + i * step for i in range(MAX_LEVELS)]
    return tuple(Option(_label(v), value=v) for v in values)


def _label(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


# -- reading answers ------------------------------------------------------------------------------------


def _p(answer: Answer, option: str) -> float:
    return float(answer.probabilities.get(option, 0.0))


def _expected(answer: Answer, question: Question) -> float:
    """The expected score: each level's value weighted by its probability (renormalised over the levels)."""
    pairs = [(o.value, _p(answer, o.name)) for o in question.options]
    total = sum(p for _, p in pairs)
    return sum(v * p for v, p in pairs) / total  # type: ignore[operator]


def _diagnostics(answers: Mapping[str, Answer], names: Sequence[str], *, keyed: bool) -> dict[str, Any]:
    """``label_mass`` and ``confidence``: one number for a one-question kind, {name: number} otherwise."""
    out: dict[str, Any] = {}
    for key in ("label_mass", "confidence"):
        values = {name: getattr(answers[name], key) for name in names}
        if all(v is None for v in values.values()):
            continue
        out[key] = values if keyed else values[names[0]]
    return out


# -- the kinds ---------------------------------------------------------------------------------------------


Asker = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Question]]
Reader = Callable[[list[Question], Mapping[str, Answer], Mapping[str, Any]], Judgement]


@dataclass(frozen=True)
class DecisionSpec:
    """How one judge kind is asked of a decision backend (the ``decision`` of its `~judgekit.kinds.KindSpec`).

    ``ask(fields, options) -> [Question]`` builds the questions of one request; ``read(questions, answers,
    options) -> Judgement`` reads them back; ``combine(first, second)`` (optional) merges the results of the two
    orders of a ``swap`` into updates of the merged result. ``template`` is the prompt file of the input.
    """

    template: str
    ask: Asker
    read: Reader
    combine: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None

    def input_text(self, fields: Mapping[str, Any]) -> str:
        """The input every question is about: the kind's template filled with the task's fields."""
        values = {
            **fields,
            "context_section": _section("Context", fields.get("context")),
            "reference_section": _section("Reference Answer", fields.get("answer"), lead="\n"),
        }
        return fill_template(builtin_template(self.template), values)

    def judge(self, task: Any, decisions: Mapping[str, Mapping[str, Any]], threshold: float = 0.5) -> Judgement:
        """The `Judgement` of a `~judgekit.types.JudgeTask` from a backend's answers
        (`~judgekit.types.JudgeResponse.decisions`); ``threshold`` turns P(yes) into a verdict."""
        answers = {name: Answer.from_dict(name, data) for name, data in decisions.items()}
        return self.read(self.ask(task.fields, task.options), answers, {"threshold": threshold, **task.options})


def _section(title: str, text: Any, lead: str = "") -> str:
    return f"{lead}[{title}]\n{text}\n[End of {title}]\n\n" if text else ""


def _range(options: Mapping[str, Any]) -> tuple[float, float]:
    low, high = options.get("score_range") or (1, 10)
    return float(low), float(high)


def yes_no(instructions: str) -> Asker:
    """One yes/no question, ``verdict``."""
    return lambda fields, options: [Question("verdict", "yes_no", instructions)]


def read_verdict(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """``p_yes``; the verdict is ``p_yes >= threshold``: 1/0, or "yes"/"no" with ``output_format="yes/no"``."""
    answer = answers["verdict"]
    p_yes = _p(answer, "yes") / ((_p(answer, "yes") + _p(answer, "no")) or 1.0)
    positive = p_yes >= float(options.get("threshold", 0.5))  # JudgeConfig.decision_threshold, checked there
    value: Any = int(positive)
    if options.get("output_format") == "yes/no":
        value = Verdict("yes" if positive else "no")
    extra = {"p_yes": p_yes, "distribution": {"yes": p_yes, "no": 1.0 - p_yes}}
    return Judgement(value, score=p_yes, extra={**extra, **_diagnostics(answers, ["verdict"], keyed=False)})


def ask_score(*names_and_texts: tuple[str, str]) -> Asker:
    """One score question per ``(name, instructions)``, levels over ``score_range``; ``{low}`` and ``{high}`` in
    the instructions become its ends."""

    def ask(fields: Mapping[str, Any], options: Mapping[str, Any]) -> list[Question]:
        low, high = _range(options)
        levels = score_levels((low, high))
        return [
            Question(name, "score", text.format(low=_label(low), high=_label(high)), levels)
            for name, text in names_and_texts
        ]

    return ask


def _distribution(answer: Answer, question: Question) -> dict[str, float]:
    return {o.name: _p(answer, o.name) for o in question.options}


def read_scores(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """Score questions: the expected score of each, keyed by question name (a rubric's criteria)."""
    expected = {q.name: _expected(answers[q.name], q) for q in questions}
    distributions = {q.name: _distribution(answers[q.name], q) for q in questions}
    names = [q.name for q in questions]
    return Judgement(expected, extra={"distribution": distributions, **_diagnostics(answers, names, keyed=True)})


def read_pair(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """Two score questions (comparative): the expected scores as a pair, in question order."""
    judgement = read_scores(questions, answers, options)
    judgement.value = tuple(judgement.value.values())
    return judgement


def read_score(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """One score question: the expected score (also the native ``score``) and its distribution."""
    [question] = questions
    expected = _expected(answers[question.name], question)
    extra = {"expected_score": expected, "distribution": _distribution(answers[question.name], question)}
    return Judgement(expected, score=expected, extra={**extra, **_diagnostics(answers, [question.name], keyed=False)})


def ask_better(instructions: str) -> Asker:
    """A choice ``better`` between A (the first response) and B."""
    choices = (Option("A", "Response A"), Option("B", "Response B"))
    return lambda fields, options: [Question("better", "choice", instructions, choices)]


def read_better(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """``p_a`` = P(A); ``result`` the likelier response."""
    answer = answers["better"]
    p_a = _p(answer, "A") / ((_p(answer, "A") + _p(answer, "B")) or 1.0)
    extra = {"p_a": p_a, "distribution": {"A": p_a, "B": 1.0 - p_a}}
    return Judgement("A" if p_a >= 0.5 else "B", extra={**extra, **_diagnostics(answers, ["better"], keyed=False)})


def combine_better(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """``swap``: the second result judged B as A, so P(original A) averages ``p_a`` and 1 - the second ``p_a``."""
    if first.get("p_a") is None or second.get("p_a") is None:
        return {}
    p_a = (first["p_a"] + 1.0 - second["p_a"]) / 2
    return {"p_a": p_a, "scores": p_a}


def ask_criteria(instructions: str) -> Asker:
    """One score question per rubric criterion (``options["criteria"]``); ``{name}``, ``{about}`` (the
    criterion's description in parentheses), ``{low}`` and ``{high}`` fill the instructions."""
    return lambda fields, options: _ask_rubric(instructions, options)


def _ask_rubric(instructions: str, options: Mapping[str, Any]) -> list[Question]:
    criteria = options.get("criteria")
    if not isinstance(criteria, Mapping) or not criteria:
        raise ConfigError("rubric must name at least one criterion", "rubric")
    low, high = _range(options)
    levels = score_levels((low, high))
    questions = []
    for name, description in criteria.items():
        about = f" ({description})" if description else ""
        text = instructions.format(name=repr(name), about=about, low=_label(low), high=_label(high))
        questions.append(Question(str(name), "score", text, levels))
    return questions


def finite_probability(value: Any) -> float | None:
    """``value`` as a probability in [0, 1], or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None

"""Typed questions for decision backends, and what each judge kind asks and reads. Pure: no I/O.

A decision backend (`judgekit.providers.decisions`, `judgekit.providers.systemone`) generates no text: it answers
typed questions about one input with a probability per option, read from the model's next-token scores. Each
judge kind names its `DecisionSpec` in the kind spec (`judgekit.kinds`): the input it shows (a prompt file
``decision_<kind>.txt``), the questions it asks in ONE request, and how the answers become its result:

- binary / correctness: one yes/no question; ``p_yes``; verdict = ``p_yes >= threshold``;
- pointwise: one score question whose levels cover ``score_range``; ``scores`` = the expected score;
- pairwise: one choice between A and B; ``result`` "A"/"B" and ``p_a``;
- comparative: two score questions (response 1, response 2); rubric: one score question per criterion.

A provider turns `Question` into its wire shape and the reply into `Answer`; `DecisionSpec.read` turns the
answers into a `Judgement` (the values of a `~judgekit.types.JudgeResult`). Nothing here knows a wire format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from judgekit.errors import ConfigError
from judgekit.parsing import Verdict
from judgekit.prompts import fill_template, load_template

__all__ = [
    "DECISIONS",
    "MAX_LEVELS",
    "Answer",
    "DecisionSpec",
    "Judgement",
    "Option",
    "Question",
    "read_decisions",
    "score_levels",
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


@dataclass(frozen=True)
class DecisionSpec:
    """How one judge kind is asked of a decision backend.

    ``ask(fields, options) -> [Question]`` builds the questions of one request; ``read(questions, answers,
    options) -> Judgement`` reads them back. ``template`` is the prompt file of the input (``decision_<kind>``).
    """

    template: str
    ask: Callable[[Mapping[str, Any], Mapping[str, Any]], list[Question]]
    read: Callable[[list[Question], Mapping[str, Answer], Mapping[str, Any]], Judgement]

    def input_text(self, fields: Mapping[str, Any]) -> str:
        """The input every question is about: the kind's template filled with the task's fields."""
        values = {
            **fields,
            "context_section": _section("Context", fields.get("context")),
            "reference_section": _section("Reference Answer", fields.get("answer"), lead="\n"),
        }
        return fill_template(load_template(self.template), values)


def _section(title: str, text: Any, lead: str = "") -> str:
    return f"{lead}[{title}]\n{text}\n[End of {title}]\n\n" if text else ""


def _range(options: Mapping[str, Any]) -> tuple[float, float]:
    low, high = options.get("score_range") or (1, 10)
    return float(low), float(high)


def _threshold(options: Mapping[str, Any]) -> float:
    threshold = options.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"decision_threshold must be a probability in [0, 1], got {threshold!r}", "threshold")
    return float(threshold)


def _yes_no(instructions: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], list[Question]]:
    return lambda fields, options: [Question("verdict", "yes_no", instructions)]


def _read_verdict(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    answer = answers["verdict"]
    p_yes = _p(answer, "yes") / ((_p(answer, "yes") + _p(answer, "no")) or 1.0)
    positive = p_yes >= _threshold(options)
    value: Any = int(positive)
    if options.get("output_format") == "yes/no":
        value = Verdict("yes" if positive else "no")
    extra = {"p_yes": p_yes, "distribution": {"yes": p_yes, "no": 1.0 - p_yes}}
    return Judgement(value, score=p_yes, extra={**extra, **_diagnostics(answers, ["verdict"], keyed=False)})


def _ask_pointwise(fields: Mapping[str, Any], options: Mapping[str, Any]) -> list[Question]:
    low, high = _range(options)
    text = (
        f"How helpful, correct and complete is the response as an answer to the question? "
        f"Rate it from {_label(low)} (worst) to {_label(high)} (best)."
    )
    return [Question("score", "score", text, score_levels((low, high)))]


def _distribution(answer: Answer, question: Question) -> dict[str, float]:
    return {o.name: _p(answer, o.name) for o in question.options}


def _read_scores(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    """Score questions: the expected score of each, keyed by question name."""
    expected = {q.name: _expected(answers[q.name], q) for q in questions}
    distributions = {q.name: _distribution(answers[q.name], q) for q in questions}
    names = [q.name for q in questions]
    return Judgement(expected, extra={"distribution": distributions, **_diagnostics(answers, names, keyed=True)})


def _read_pointwise(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    [question] = questions
    expected = _expected(answers[question.name], question)
    extra = {"expected_score": expected, "distribution": _distribution(answers[question.name], question)}
    return Judgement(expected, score=expected, extra={**extra, **_diagnostics(answers, ["score"], keyed=False)})


def _ask_pairwise(fields: Mapping[str, Any], options: Mapping[str, Any]) -> list[Question]:
    choices = (Option("A", "Response A"), Option("B", "Response B"))
    return [Question("better", "choice", "Which response is better?", choices)]


def _read_pairwise(questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]) -> Judgement:
    answer = answers["better"]
    p_a = _p(answer, "A") / ((_p(answer, "A") + _p(answer, "B")) or 1.0)
    extra = {"p_a": p_a, "distribution": {"A": p_a, "B": 1.0 - p_a}}
    return Judgement("A" if p_a >= 0.5 else "B", extra={**extra, **_diagnostics(answers, ["better"], keyed=False)})


def _ask_comparative(fields: Mapping[str, Any], options: Mapping[str, Any]) -> list[Question]:
    low, high = _range(options)
    levels = score_levels((low, high))
    return [
        Question(
            name,
            "score",
            f"Rate Response {n} for helpfulness, relevance, accuracy and level of detail, "
            f"from {_label(low)} (worst) to {_label(high)} (best).",
            levels,
        )
        for n, name in ((1, "response1"), (2, "response2"))
    ]


def _read_comparative(
    questions: list[Question], answers: Mapping[str, Answer], options: Mapping[str, Any]
) -> Judgement:
    judgement = _read_scores(questions, answers, options)
    judgement.value = (judgement.value["response1"], judgement.value["response2"])
    return judgement


def _ask_rubric(fields: Mapping[str, Any], options: Mapping[str, Any]) -> list[Question]:
    criteria = options.get("criteria")
    if not isinstance(criteria, Mapping) or not criteria:
        raise ConfigError("rubric must name at least one criterion", "rubric")
    low, high = _range(options)
    levels = score_levels((low, high))
    questions = []
    for name, description in criteria.items():
        about = f" ({description})" if description else ""
        text = f"Score the response on the criterion {name!r}{about}, from {_label(low)} to {_label(high)}."
        questions.append(Question(str(name), "score", text, levels))
    return questions


DECISIONS: Mapping[str, DecisionSpec] = {
    "binary": DecisionSpec(
        "decision_binary",
        _yes_no("Is the model prediction correct: does its final answer match the reference answer?"),
        _read_verdict,
    ),
    "correctness": DecisionSpec(
        "decision_correctness",
        _yes_no("Is the solution's final answer equivalent to the correct answer?"),
        _read_verdict,
    ),
    "pointwise": DecisionSpec("decision_pointwise", _ask_pointwise, _read_pointwise),
    "pairwise": DecisionSpec("decision_pairwise", _ask_pairwise, _read_pairwise),
    "comparative": DecisionSpec("decision_comparative", _ask_comparative, _read_comparative),
    "rubric": DecisionSpec("decision_rubric", _ask_rubric, _read_scores),
}
"""The decision mapping of every judge kind (moves into `judgekit.kinds` once the kind spec can hold it)."""


def read_decisions(task: Any, decisions: Mapping[str, Mapping[str, Any]], threshold: float = 0.5) -> Judgement:
    """The `Judgement` of a `~judgekit.types.JudgeTask` from a decision backend's answers
    (`~judgekit.types.JudgeResponse.decisions`); ``threshold`` turns P(yes) into a verdict."""
    spec = DECISIONS[task.kind]
    answers = {name: Answer.from_dict(name, data) for name, data in decisions.items()}
    return spec.read(spec.ask(task.fields, task.options), answers, {"threshold": threshold, **task.options})


def finite_probability(value: Any) -> float | None:
    """``value`` as a probability in [0, 1], or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None

"""Ready parsers for the reply formats evaluation tasks ask their judges for.

Pass one as ``parse=`` to `SimplifiedJudge.evaluate_custom` (or call it on a reply). Each reads the judge's
final answer (reasoning split off) and returns a value only when the reply states it unambiguously; anything
else raises `ParseError` saying why: an empty reply, a refusal, a number out of range, two different
verdicts. None of them guesses, falls back to a default or reads a number out of an explanation.

=========================  ==========================================  =====================================
parser                     reads                                       returns
=========================  ==========================================  =====================================
``NumberInRange(0, 1)``    ``0.5``, ``0.5\\nExplanation...``,           ``0.5`` (float)
                           ``0.5 The prediction...``, ``Score: 0.8``,
                           ``**Rating:** 7/10``, ``Rating: 7 out of 10``
``BracketedNumber(0, 1)``  ``...reasoning. The score: [[0.5]]``         ``0.5`` (float)
``BracketedVerdict()``     ``My final verdict is tie: [[A=B]]``         ``"A=B"``
``PredScoreDict((0, 5))``  ``{'pred': 'yes', 'score': 4}``              ``PredScore(Verdict('yes'), 4)``
=========================  ==========================================  =====================================

The parsers are small frozen dataclasses: they print their settings and pickle (for process pools).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

from judgekit.errors import ConfigError, ParseError
from judgekit.parsers import Verdict, _normalize, split_reasoning

__all__ = [
    "ARENA_VERDICTS",
    "BracketedNumber",
    "BracketedVerdict",
    "NumberInRange",
    "PredScore",
    "PredScoreDict",
]

_KIND = "custom"
_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"


def _fail(raw_text: Any, message: str) -> NoReturn:
    raise ParseError(message, raw_text=raw_text if isinstance(raw_text, str) else None, kind=_KIND)


def _final_answer(text: Any, expected: str) -> str:
    """The reply without its reasoning, normalized (NFKC, LF line ends); raises when nothing is left."""
    if not isinstance(text, str) or not text.strip():
        _fail(text, f"expected {expected}, but the reply is empty")
    answer = _normalize(split_reasoning(text)[0]).strip()
    if not answer:
        _fail(text, f"expected {expected}, but the reply has no answer after its reasoning (cut off?)")
    return answer


def _check_range(low: float, high: float, field: str) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be numbers (low, high), got ({low!r}, {high!r})", field) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{field} must be finite with low < high, got ({low:g}, {high:g})", field)
    return low, high


def _in_range(raw: str, value: float, low: float, high: float) -> float:
    if not math.isfinite(value):
        _fail(raw, f"the score {value} is not a finite number")
    if not low <= value <= high:
        _fail(raw, f"the score {value:g} is out of range [{low:g}, {high:g}]")
    return value


def _agreed(raw: str, values: list[Any], what: str, expected: str) -> Any:
    if not values:
        _fail(raw, f"expected {expected}, found no {what}")
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        _fail(raw, f"conflicting {what}s: {', '.join(map(str, distinct))}")
    return distinct[0]


# ------------------------------------------------------------------------------------------ a score line

# A score label: up to three words ending in a score word ("Score", "Correctness", "My final rating").
_LABEL = r"(?:[A-Za-z]+[ \t]+){0,3}(?:score|rating|correctness|grade)"
_LABEL_RE = re.compile(rf"(?P<label>{_LABEL})[ \t]*[:=]", re.IGNORECASE)
_VALUE_RE = re.compile(
    rf"[ \t]*(?P<num>{_NUM})(?:[ \t]*(?:/|out[ \t]+of)[ \t]*(?P<den>{_NUM}))?(?P<rest>.*)", re.IGNORECASE
)
# What may follow a score: nothing or a full stop; else a separator ("0.5 The prediction...", "0.5 (partly
# right)", "0.5 - partly right", "Score: 1. The prediction...") and prose in which every number belongs to a
# word ("step 2", "x = -1"). A number standing alone or after "or", "to", "-" may be another score:
# "0.5 - 1.0", "0.5 (or 1.0)", "3-4" are not read.
_REST_END_RE = re.compile(r"[ \t]*\.?[ \t]*")
_REST_START_RE = re.compile(r"[ \t]|[.,;:][ \t]")
_REST_NUMBER_RE = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?")
_COMPETING_WORDS = frozenset({
    "or", "to", "and", "nor", "maybe", "perhaps", "possibly", "either", "even", "vs", "versus", "than",
    "is", "be", "was", "score", "scores", "rating", "grade", "point", "points", "out",
})  # fmt: skip
_LINE_START_RE = re.compile(r"^[#> \t]*(?:[-\u2022][ \t]+(?=[A-Za-z]))?")


@dataclass(frozen=True)
class _ScoreRange:
    """A parser of one score in ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _check_range(self.low, self.high, type(self).__name__)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class NumberInRange(_ScoreRange):
    """A score in ``[low, high]`` stated on its own line: ``0.5``, ``0.5\\nExplanation...``, ``Score: 0.8``.

    Read are: the first line when it starts with a number (optionally labelled), and every line that states
    a labelled score (``Score: 8``, ``Correctness: 0.5``, ``**Final rating:** 7/10``) anywhere in the reply;
    they must all agree. ``N/high`` and ``N out of high`` read as N. A number may be followed by nothing, a
    full stop, or prose after a separator (``0.7 The prediction names one of the two``, ``4 (minor issue in
    step 2)``, ``0.4 - partly right``, ``Score: 1. The prediction...``) in which every number belongs to a
    word (``step 2``, ``x = -1``). A bare number on a later line, a number inside a sentence (``"I'd give it
    0.8"``), a list item (``"1. The answer..."``) and a refusal are not scores: the reply is then a
    `ParseError`, as is a score out of range, a labelled line that does not hold one clean number, or an
    ambiguous one: two different scores, a range (``3-4``, ``0.5 - 1.0``), an alternative (``0.5 (or 1.0)``).
    """

    def __call__(self, text: str) -> float:
        expected = f"a score in [{self.low:g}, {self.high:g}]"
        answer = _final_answer(text, expected)
        lines = [line for line in (_clean_line(raw) for raw in answer.split("\n")) if line]
        values = []
        for index, line in enumerate(lines):
            labelled = _LABEL_RE.match(line)
            if labelled is None and index > 0:  # a bare number on a later line may be anything
                continue
            value = self._value(text, line[labelled.end() :] if labelled else line, labelled is not None)
            if value is not None:
                values.append(value)
            elif labelled:
                _fail(text, f"expected {expected}; the line {line[:80]!r} does not hold one clean score")
        return _agreed(text, values, "score", expected)

    def _value(self, raw: str, text: str, labelled: bool) -> float | None:
        match = _VALUE_RE.fullmatch(text)
        if match is None or not _rest_ok(match["rest"], match["num"], labelled):
            return None
        value = float(match["num"])
        if match["den"] is not None and float(match["den"]) != self.high:
            _fail(raw, f"the score {match[0].strip()!r} is not out of {self.high:g}")
        return _in_range(raw, value, self.low, self.high)


def _rest_ok(rest: str, number: str, labelled: bool) -> bool:
    """Whether what follows a number leaves it plainly the score (see ``_REST_END_RE``)."""
    if _REST_END_RE.fullmatch(rest):
        return True
    if not labelled and number.isdigit() and rest[:1] in ".)":
        return False  # "1. The prediction gives ...": a list item
    if not _REST_START_RE.match(rest):
        return False  # "3-4", "0.5%", "0.5x"
    for other in _REST_NUMBER_RE.finditer(rest):
        before = rest[: other.start()].rstrip()
        words = [w.lower() for w in re.findall(r"[A-Za-z]+", before)[-2:]]
        if not re.search(r"[A-Za-z]$", before):
            if not before.endswith("="):
                return False  # "0.5 - 1.0", "(0.6)", "3, 4": a number of its own
        elif words[-1] in _COMPETING_WORDS or (words[-1] in ("of", "a") and words[0] in _COMPETING_WORDS):
            return False  # "or 1.0", "a score of 5", "out of 5"
    return True


def _clean_line(line: str) -> str:
    """A line without markdown emphasis, a heading/quote mark or a bullet before a label."""
    return _LINE_START_RE.sub("", line.replace("*", "").replace("`", "")).strip()


# ----------------------------------------------------------------------------------------- [[brackets]]

_BRACKETS_RE = re.compile(r"\[\[([^\[\]\n]{0,40})\]\]")


@dataclass(frozen=True)
class BracketedNumber(_ScoreRange):
    """A score in ``[low, high]`` written in double brackets, as in ``The correctness score: [[0.5]]``.

    Every ``[[...]]`` in the final answer must hold the same number; none, a non-number (``[[score]]``),
    two different numbers or a number out of range is a `ParseError`. Single brackets (``[1]``, often a
    citation) are never read.
    """

    def __call__(self, text: str) -> float:
        expected = f"a score in [{self.low:g}, {self.high:g}] as [[score]]"
        answer = _final_answer(text, expected)
        values = []
        for body in _BRACKETS_RE.findall(answer):
            body = body.strip().strip("*").strip()
            if not re.fullmatch(_NUM, body):
                _fail(text, f"expected {expected}, found [[{body}]]")
            values.append(_in_range(text, float(body), self.low, self.high))
        return _agreed(text, values, "bracketed score", expected)


ARENA_VERDICTS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
"""The five verdicts of arena-style pairwise prompts (Arena-Hard, WildVision): A much better ... B much better."""


@dataclass(frozen=True)
class BracketedVerdict:
    """A verdict in double brackets, one of ``choices``: ``My final verdict is tie: [[A=B]]`` -> ``"A=B"``.

    Spaces inside the brackets are ignored (``[[A > B]]``). Every ``[[...]]`` in the final answer must be
    the same offered verdict: none, one not offered (``[[A<B]]``) or two different ones is a `ParseError`.
    Nothing outside the brackets is read (the prose "A>B" is not a verdict).
    """

    choices: tuple[str, ...] = ARENA_VERDICTS

    def __post_init__(self) -> None:
        choices = (self.choices,) if isinstance(self.choices, str) else tuple(self.choices)
        if not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ConfigError("BracketedVerdict.choices must be non-empty strings", "choices")
        object.__setattr__(self, "choices", tuple(_squeeze(c) for c in choices))

    def __call__(self, text: str) -> str:
        expected = f"one of {', '.join(f'[[{c}]]' for c in self.choices)}"
        answer = _final_answer(text, expected)
        found = []
        for body in _BRACKETS_RE.findall(answer):
            verdict = _squeeze(body.strip("*"))
            if verdict not in self.choices:
                _fail(text, f"expected {expected}, found [[{body}]]")
            found.append(verdict)
        return _agreed(text, found, "verdict", expected)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ------------------------------------------------------------------------------------------- dict-like

_DICT_RE = re.compile(r"\{[^{}]*\}")


class PredScore(NamedTuple):
    """A yes/no prediction with a score; unpacks like lmms-eval's ``[pred, score]``."""

    pred: Verdict
    score: float


@dataclass(frozen=True)
class PredScoreDict:
    """A dict written as Python or JSON, ``{'pred': 'yes', 'score': 4}``, as the video-QA judges reply.

    Read with `ast.literal_eval` (JSON ``true``/``null`` via `json.loads`), never ``eval``. ``pred`` must
    be exactly yes or no (any case, surrounding spaces and a full stop allowed) and comes back as a
    `~judgekit.parsing.Verdict`; ``score`` a number (or a numeric string) in ``score_range``, kept as
    written (``4.8`` stays 4.8, ``4.0`` becomes 4). Text around the dict is not read, nor are braces with
    no ``key: value`` in them (``{...} (the {answer} matches)``). No dict, a missing key, another pred
    ("maybe", "not sure"), a score out of range, dict-like text in braces that is not a literal dict
    (``{pred: yes}``), or two dicts that disagree is a `ParseError`.
    """

    score_range: tuple[float, float] = (0, 5)
    pred_key: str = "pred"
    score_key: str = "score"

    def __post_init__(self) -> None:
        try:
            low, high = self.score_range
        except (TypeError, ValueError):
            raise ConfigError(f"score_range must be (low, high), got {self.score_range!r}", "score_range") from None
        object.__setattr__(self, "score_range", _check_range(low, high, "score_range"))

    def __call__(self, text: str) -> PredScore:
        expected = f"a dict {{'{self.pred_key}': 'yes' or 'no', '{self.score_key}': number}}"
        answer = _final_answer(text, expected)
        # Braces with no "key: value" in them are prose ("the {answer} matches"), not a dict to read.
        found = [self._read(text, body, expected) for body in _DICT_RE.findall(answer) if ":" in body]
        return _agreed(text, found, "dict", expected)

    def _read(self, raw: str, body: str, expected: str) -> PredScore:
        value = _literal(body)
        if not isinstance(value, dict):
            _fail(raw, f"expected {expected}, found {body[:80]!r}")
        missing = [key for key in (self.pred_key, self.score_key) if key not in value]
        if missing:
            _fail(raw, f"expected {expected}; the dict has no {' or '.join(map(repr, missing))}")
        pred, score = value[self.pred_key], value[self.score_key]
        word = pred.strip().rstrip(".").strip().lower() if isinstance(pred, str) else None
        if word not in ("yes", "no"):
            _fail(raw, f"{self.pred_key!r} must be 'yes' or 'no', got {pred!r}")
        number = _plain_number(score)
        if number is None:
            _fail(raw, f"{self.score_key!r} must be a number, got {score!r}")
        number = _in_range(raw, number, *self.score_range)
        return PredScore(Verdict(word), int(number) if number.is_integer() else number)


def _literal(body: str) -> Any:
    """``body`` as a Python literal, else as JSON; None when it is neither."""
    try:
        return ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _plain_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(_NUM, value.strip()):
        return float(value)
    return None

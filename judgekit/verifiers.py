"""Deterministic answer checking: is the final answer in a model's reply the reference answer?

`verify_answer` compares a prediction with a reference answer by one of four rules:

- ``choice``: an option letter A-J (``"(B)"``, ``"B."``, ``"Option B"``, ``"the answer is B"``);
- ``number``: numeric equality within ``rel_tol`` (thousands separators, fractions, percents, units);
- ``math``: symbolic equality with `math-verify <https://github.com/huggingface/Math-Verify>`_;
- ``text``: exact match after normalisation (case, punctuation, articles, whitespace).

Everything here is pure and deterministic, and odd input strings never raise: an empty or unreadable
prediction is simply judged incorrect, with the reason in `Verification.detail`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from judgekit import instructions as instructions  # judgekit.verifiers.instructions: ready instruction checks
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.final_answer import doubt_in, settle
from judgekit.parsers import split_reasoning

__all__ = [
    "ANSWER_TYPES",
    "Verification",
    "detect_answer_type",
    "extract_final_answer",
    "parse_number",
    "verify_answer",
]

ANSWER_TYPES = ("choice", "number", "math", "text")
"""The rules `verify_answer` knows, in the order `detect_answer_type` tries them."""

_TYPE_NAMES = {
    "choice": "choice",
    "multiple_choice": "choice",
    "number": "number",
    "math": "math",
    "math_expressions": "math",
    "text": "text",
}

_MATH_VERIFY_MISSING = 'the rules judge needs math-verify for math answers: pip install "judgekit[rules]"'


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify_answer`.

    ``rule`` is the rule that decided (``"choice"``, ``"number"``, ``"math"`` or ``"text"``; a math answer
    that math-verify cannot read is decided by ``"number"`` or ``"text"``). ``detail`` explains the verdict
    in a few words, e.g. ``"number: 1/2 == 0.5"``. ``extracted`` is the final answer taken from the
    prediction (for ``choice``, the chosen letter when one was found).
    """

    correct: bool
    rule: str
    detail: str
    extracted: str


# ------------------------------------------------------------------------------------------ final answer


@dataclass(frozen=True)
class _Final:
    text: str
    boxed: bool  # taken from \boxed{...} / \fbox{...}
    after: str = ""  # the reply after the final answer
    around: str = ""  # a boxed answer's line, the box written as _BOX_MARK


_SENTENCE_END_RE = re.compile(r"(?<=[^\s.])\.\s+(?=[A-Z(\[])")
_BOX_MARK = "\u2063ANSWER\u2063"  # a boxed answer in its line (an invisible separator keeps it one word)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(\{)?")
_BARE_BOX_RE = re.compile(r"[ \t]*([^\s$]+)")  # \boxed 5
_MARKER_RE = re.compile(
    r"\b(?P<final>final\s+)?answer\b(?P<sep>[ \t]*(?:is\b[ \t]*:?|:|=))?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _last_boxed(text: str) -> tuple[int, int, int, int] | None:
    """Where the last ``\\boxed{...}`` / ``\\fbox{...}`` that closes is: ``(start, content start, content
    end, end)`` (one pass, braces balanced)."""
    opens: set[int] = set()
    found: tuple[int, int, int] | None = None  # (where, content start, content end)
    for match in _BOX_RE.finditer(text):
        if match[1]:
            opens.add(match.end() - 1)
        else:  # \boxed 5
            bare = _BARE_BOX_RE.match(text, match.end())
            if bare:
                found = (match.start(), bare.start(1), bare.end(1))
    if opens:
        stack: list[int] = []
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char == "{":
                stack.append(i)
            elif char == "}" and stack:
                start = stack.pop()
                if start in opens and (found is None or start > found[0]):
                    found = (start, start + 1, i)
            i += 1
    if found is None:
        return None
    end = found[2] + 1 if text[found[2] : found[2] + 1] == "}" else found[2]
    return found[0], found[1], found[2], end


def _tidy(text: str) -> str:
    text = text.strip().strip("*").strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text


def _next_line(text: str, start: int) -> tuple[str, int]:
    """The next non-empty line after ``start`` and where it ends."""
    for match in re.finditer(r"[^\n]*", text[start:]):
        if match[0].strip():
            return match[0], start + match.end()
    return "", len(text)


def _last_marked(text: str) -> tuple[str, int] | None:
    """What follows the last "final answer: X" (else the last "answer: X" / "the answer is X"), and where
    the line that holds it ends."""
    found: dict[bool, tuple[str, int]] = {}
    for match in _MARKER_RE.finditer(text):
        rest = match["rest"].strip()
        if match["sep"] is None and (match["final"] is None or rest):
            continue  # a bare "answer" in prose; "Final Answer" alone on its line announces the next one
        line, end = (rest, match.end()) if rest else _next_line(text, match.end())
        sentence = _SENTENCE_END_RE.search(line)  # "12. She started with 20 ...": the rest explains
        if sentence:
            end -= len(line) - sentence.start()
            line = line[: sentence.start()]
        value = _tidy(line)
        if value:
            found[match["final"] is not None] = (value, end)
    return found.get(True, found.get(False))


def _extract(answer: str) -> _Final:
    """The final answer of a reply whose reasoning is already removed."""
    boxed = _last_boxed(answer)
    if boxed is not None:
        start, inner, inner_end, end = boxed
        line_start, line_end = answer.rfind("\n", 0, start) + 1, answer.find("\n", end)
        line_end = len(answer) if line_end < 0 else line_end
        around = answer[line_start:start] + _BOX_MARK + answer[end:line_end]
        return _Final(answer[inner:inner_end].strip(), True, answer[line_end:], around)
    plain = answer.replace("**", "")
    marked = _last_marked(plain)
    if marked is not None:
        return _Final(marked[0], False, plain[marked[1] :])
    lines = [line for line in plain.splitlines() if line.strip()]
    return _Final(_tidy(lines[-1]) if lines else "", boxed=False)


def extract_final_answer(text: str) -> str:
    """The final answer in a model's reply.

    ``<think>...</think>`` reasoning is dropped first. Then: the content of the last ``\\boxed{...}`` (or
    ``\\fbox{...}``, braces balanced); else what follows the last ``final answer:`` / ``answer:`` /
    ``the answer is`` on its line, up to the end of its first sentence (case-insensitive, markdown ``**``
    and a trailing period removed; a "final answer" marker wins over a plain "answer" one); else the last
    non-empty line. ``""`` when nothing is left. `verify_answer` then reads what that answer asserts
    (`judgekit.final_answer.settle`: negated, corrected-away and parenthetical parts left out).
    """
    answer = split_reasoning(_text(text))[0]
    return _extract(answer).text if answer else ""


# --------------------------------------------------------------------------------------------- numbers

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(
    rf"""
    (?P<sign>[+-])?\s*(?P<cur>[$€£¥₹])?\s*(?P<sign2>[+-])?\s*
    (?:
        (?P<whole>\d+)\s+(?P<mnum>\d+)\s*/\s*(?P<mden>\d+)
      | \\[dt]?frac\s*\{{\s*(?P<lnum>[+-]?(?:{_NUM}))\s*\}}\s*\{{\s*(?P<lden>[+-]?(?:{_NUM}))\s*\}}
      | \\[dt]?frac(?P<snum>\d)(?P<sden>\d)
      | (?P<fnum>{_NUM})\s*/\s*(?P<fden>{_NUM})
      | (?P<dec>{_NUM})
        (?:[eE](?P<exp>[+-]?\d+)|\s*(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*\{{?\s*(?P<exp2>[+-]?\d+)\s*\}}?)?
    )
    \s*(?P<pct>%|per\s*cent\b)?
    (?P<rest>.*)
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)
_NUMBER_TOKEN_RE = re.compile(
    rf"""
    (?:(?<![\w)\]}}])[+-])?\s*
    (?:
        \\[dt]?frac\s*\{{[^{{}}]*\}}\s*\{{[^{{}}]*\}}
      | [$€£¥₹]?(?:\d+[ \t]+\d+\s*/\s*\d+|(?:{_NUM})\s*/\s*(?:{_NUM})|(?:{_NUM})(?:[eE][+-]?\d+)?)
    )
    (?:\s*(?:%|per\s*cent\b))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
# Unit words after a number are ignored: any word of 3+ letters with a vowel ("meters", "apples") or one of
# these abbreviations; a lone variable ("2x", "2 pi") is not a unit.
_UNITS = frozenset(
    {
        "m",
        "cm",
        "mm",
        "km",
        "nm",
        "um",
        "µm",
        "μm",
        "g",
        "kg",
        "mg",
        "lb",
        "lbs",
        "oz",
        "s",
        "ms",
        "min",
        "h",
        "hr",
        "hrs",
        "ft",
        "yd",
        "mi",
        "in",
        "l",
        "ml",
        "dl",
        "cl",
        "mph",
        "kph",
        "kmh",
        "hz",
        "khz",
        "mhz",
        "ghz",
        "kb",
        "mb",
        "gb",
        "tb",
        "w",
        "kw",
        "kwh",
        "mw",
        "v",
        "mv",
        "kv",
        "ma",
        "kj",
        "cal",
        "kcal",
        "pa",
        "kpa",
        "mpa",
        "atm",
        "mol",
        "mmol",
        "rpm",
        "db",
        "px",
        "pt",
        "st",
        "nd",
        "rd",
        "th",
        "sq",
        "usd",
        "eur",
        "gbp",
    }
)
_DASHES = {0x2212: "-", 0x2012: "-", 0x2013: "-", 0xFE63: "-", 0xFF0D: "-"}
_LATEX_TEXT_RE = re.compile(
    r"\\(?:text|textrm|textbf|textit|mathrm|mathbf|mbox|textnormal|operatorname)\s*\{([^{}]*)\}"
)


def _strip_delimiters(text: str) -> str:
    text = text.strip()
    for left, right in (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$", "$")):
        if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
            inner = text[len(left) : len(text) - len(right)]
            if "$" not in inner:
                return inner.strip()
    return text


def _prepare_number_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    text = _strip_delimiters(text)
    for old, new in (("\\%", "%"), ("\\$", "$"), ("{,}", ","), ("\\,", ""), ("\\!", ""), ("\\ ", " "), ("~", " ")):
        text = text.replace(old, new)
    text = _LATEX_TEXT_RE.sub(r" \1 ", text)
    text = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\degree\b", "°", text)
    return text.strip().rstrip(".").strip()


def _units_ok(rest: str) -> bool:
    rest = re.sub(r"\^\s*\{?\s*-?\d+\s*\}?|[²³]", "", rest).strip()
    if not rest:
        return True
    if re.search(r"\d", rest) or re.sub(r"[^\W\d_]+|[°\s/.\-·*()]", "", rest):
        return False
    for word in re.findall(r"[^\W\d_]+", rest):
        lower = word.lower()
        if lower not in _UNITS and not (len(lower) >= 3 and re.search(r"[aeiouy]", lower)):
            return False
    return True


def _to_float(text: str) -> float:
    return float(text.replace(",", ""))


def _parse_number(text: str) -> tuple[float, bool] | None:
    """``(value, is_percent)`` of a text that is one number, else None. ``"50%"`` -> ``(0.5, True)``."""
    match = _NUMBER_RE.fullmatch(_prepare_number_text(text))
    if match is None or not _units_ok(match["rest"]):
        return None
    try:
        if match["whole"] is not None:
            value = int(match["whole"]) + int(match["mnum"]) / int(match["mden"])
        elif match["lnum"] is not None:
            value = _to_float(match["lnum"]) / _to_float(match["lden"])
        elif match["snum"] is not None:
            value = int(match["snum"]) / int(match["sden"])
        elif match["fnum"] is not None:
            value = _to_float(match["fnum"]) / _to_float(match["fden"])
        else:
            value = _to_float(match["dec"])
            exponent = match["exp"] or match["exp2"]
            if exponent is not None:
                value *= 10.0 ** int(exponent)
    except (ArithmeticError, ValueError):
        return None
    if (match["sign"] == "-") != (match["sign2"] == "-"):
        value = -value
    percent = match["pct"] is not None
    if percent:
        value /= 100
    if math.isnan(value):
        return None
    return value, percent


def parse_number(text: str) -> float | None:
    """The number a text states, or None when it is not exactly one number.

    Reads ``"1,234.5"``, ``"-2.5e3"``, ``"2.5 \\times 10^3"``, ``"3/4"``, ``"1 1/2"``, ``"\\frac{1}{2}"``,
    ``"$12.50"``, ``"50%"`` (-> 0.5), ``"−3"`` (unicode minus) and ``"$3$"``. Trailing unit words are ignored
    (``"12 cm"``, ``"12cm"``, ``"1,000 meters"``, ``"5 m/s^2"``, ``"90°"``); a trailing variable is not
    (``"2x"`` -> None). ``"12 and 13"`` and ``"abc"`` -> None.
    """
    parsed = _parse_number(_text(text))
    return parsed[0] if parsed else None


def _last_number(text: str) -> tuple[tuple[float, bool], str] | None:
    prepared = _prepare_number_text(text)
    for match in reversed(list(_NUMBER_TOKEN_RE.finditer(prepared))):
        token = match[0].strip()
        parsed = _parse_number(token)
        if parsed is not None:
            return parsed, token
    return None


# ------------------------------------------------------------------------------------------ answer types

_GOLD_CHOICE_RE = re.compile(r"[(\[]?\s*([A-Ja-j])\s*[)\]]?\s*[.:]?")
_MATH_FUNCS = frozenset(
    {
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "log",
        "ln",
        "exp",
        "sqrt",
        "pi",
        "lim",
        "max",
        "min",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "det",
        "gcd",
        "lcm",
        "mod",
        "frac",
        "dfrac",
        "tfrac",
        "cdot",
        "times",
        "infty",
        "inf",
        "le",
        "ge",
        "leq",
        "geq",
        "ne",
        "neq",
        "in",
        "cup",
        "cap",
        "pm",
        "mp",
        "div",
        "circ",
        "text",
        "mathrm",
        "left",
        "right",
        "boxed",
    }
)
_PROSE_SHORT = frozenset(
    {
        "is",
        "so",
        "be",
        "to",
        "we",
        "it",
        "at",
        "as",
        "of",
        "or",
        "an",
        "by",
        "on",
        "if",
        "am",
        "do",
        "go",
        "my",
        "no",
        "us",
        "he",
        "me",
    }
)
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]+(?![A-Za-z])")


def _is_prose_word(word: str) -> bool:
    lower = word.lower()
    return lower not in _MATH_FUNCS and (len(lower) >= 3 or lower in _PROSE_SHORT)


def _unwrap(text: str) -> str:
    """``text`` without math delimiters, ``\\boxed{}`` around the whole of it, ``\\text{}`` and ``**``."""
    text = _strip_delimiters(text.replace("**", "").strip())
    boxed = re.fullmatch(r"\\(?:boxed|fbox)\s*\{(.*)\}", text, re.DOTALL)
    if boxed:
        text = boxed[1].strip()
    return _LATEX_TEXT_RE.sub(r"\1", text).strip()


def _looks_math(text: str) -> bool:
    if re.search(r"[\\^=<>≤≥≠√π∞∫∑±]|sqrt|frac|\bpi\b", text):
        return True
    if re.fullmatch(r"[\[({].*\d.*[\])}]", text, re.DOTALL) and "," in text and not re.search(r"[A-Za-z]{3,}", text):
        return True  # a tuple, interval or set: (1, 2], {1, 2, 3}
    if not re.search(r"[A-Za-z]", text) or any(_is_prose_word(w) for w in _WORD_RE.findall(text)):
        return False
    return bool(re.search(r"[-+*/]|\d[A-Za-z]|[A-Za-z]\s*\(", text))


def detect_answer_type(answer: str) -> str:
    """The rule that suits a reference answer: ``"choice"`` (one letter A-J, optionally ``"(B)"``, ``"B."``,
    ``"B)"``), ``"number"`` (`parse_number` reads it), ``"math"`` (LaTeX or an expression: ``\\``, ``^``,
    ``=``, ``sqrt``, ``frac``, ``pi``, a tuple or interval, variables with operators such as ``"2x+1"``),
    else ``"text"``."""
    text = _text(answer).strip()
    if _GOLD_CHOICE_RE.fullmatch(_unwrap(text)):
        return "choice"
    if parse_number(text) is not None:
        return "number"
    if _looks_math(text):
        return "math"
    return "text"


def _resolve_type(answer_type: str | None, answer: str) -> str:
    if answer_type is None:
        return detect_answer_type(answer)
    name = _TYPE_NAMES.get(str(answer_type).strip().lower()) if isinstance(answer_type, str) else None
    if name is None:
        raise ConfigError(
            f"answer_type must be one of {', '.join(ANSWER_TYPES)} (or MULTIPLE_CHOICE, NUMBER, MATH_EXPRESSIONS, "
            f"TEXT), got {answer_type!r}",
            field="answer_type",
        )
    return name


# ---------------------------------------------------------------------------------------------- choice

_LONE_CHOICE_RE = re.compile(r"[\s(\[{*_`'\"]*(?:(?:option|choice)[\s(\[]*)?([A-Ja-j])[\s)\]}*_`'\".:]*", re.IGNORECASE)
_FORMATTED_CHOICE_RES = (
    re.compile(r"\(\s*([A-Ja-j])\s*\)"),
    re.compile(r"\[\s*([A-Ja-j])\s*\]"),
    re.compile(r"(?:^|(?<=\n))[ \t>*_-]*([A-J])[.):](?=\s|$)"),
    re.compile(r"(?<![\w(\[])([A-J])\)(?!\w)"),
    re.compile(r"\b(?:option|choice|letter|answer(?:\s+is)?)\s*:?\s*\(?([A-Ja-j])(?![\w'’])", re.IGNORECASE),
)
_STANDALONE_RE = re.compile(r"(?<![\w'’\-])([A-J])(?![\w'’\-])(?P<after>[ \t]+[a-z]+)?")
# After a standalone "A", these words keep it an option ("A or B", "A is correct"); any other lowercase word
# makes it the article ("A cat ...").
_A_CONNECTORS = frozenset(
    {
        "or",
        "and",
        "nor",
        "is",
        "was",
        "vs",
        "versus",
        "seems",
        "looks",
        "appears",
        "would",
        "should",
        "could",
        "might",
        "must",
        "can",
        "will",
        "also",
        "too",
        "only",
        "because",
        "since",
        "as",
        "then",
        "but",
    }
)


def _choice_letters(text: str) -> tuple[list[str], list[str]]:
    """Distinct formatted letters ("(B)", "B.", "Option B") and standalone ones ("B", "A or B"), in order."""
    formatted: dict[str, int] = {}
    for pattern in _FORMATTED_CHOICE_RES:
        for match in pattern.finditer(text):
            formatted.setdefault(match[1].upper(), match.start())
    standalone: dict[str, int] = {}
    for match in _STANDALONE_RE.finditer(text):
        letter = match[1]
        if letter == "I":
            continue  # the pronoun; option I counts only when formatted or alone
        if letter == "A" and match["after"] and match["after"].strip() not in _A_CONNECTORS:
            continue  # the article
        standalone.setdefault(letter, match.start())
    return sorted(formatted, key=formatted.get), sorted(standalone, key=standalone.get)  # type: ignore[arg-type]


def _chosen_letter(final: str, answer: str) -> tuple[str | None, list[str]]:
    """``(letter, [])`` when the prediction chose one option, ``(None, candidates)`` otherwise."""
    text = _unwrap(final)
    lone = _LONE_CHOICE_RE.fullmatch(text)
    if lone:
        return lone[1].upper(), []
    formatted, standalone = _choice_letters(text)
    candidates = formatted or standalone
    if len(candidates) == 1:
        return candidates[0], []
    if candidates:
        return None, candidates
    # Nothing in the final answer: a line of the reply that is only a letter ("B" then an explanation).
    lines = {m[1].upper() for line in answer.splitlines() if (m := _LONE_CHOICE_RE.fullmatch(_unwrap(line)))}
    if len(lines) == 1:
        return lines.pop(), []
    return None, sorted(lines)


def _gold_letter(answer: str) -> str | None:
    text = _unwrap(answer)
    match = _GOLD_CHOICE_RE.fullmatch(text) or re.match(
        r"(?:option|choice)?\s*[(\[]?\s*([A-Ja-j])\s*(?:[)\].:]|$)", text, re.IGNORECASE
    )
    return match[1].upper() if match else None


def _verify_choice(final: _Final, answer: str, gold: str) -> Verification:
    expected = _gold_letter(gold)
    if expected is None:
        detail = f"choice: the reference answer {gold!r} is not an option letter"
        return Verification(False, "choice", detail, final.text)
    letter, candidates = _chosen_letter(final.text, answer)
    if letter is None:
        if candidates:
            return Verification(False, "choice", f"ambiguous choice: {', '.join(sorted(candidates))}", final.text)
        return Verification(False, "choice", f"choice: no option letter found, expected {expected}", final.text)
    return Verification(letter == expected, "choice", f"choice: predicted {letter}, expected {expected}", letter)


# ---------------------------------------------------------------------------------------------- number


def _numbers_equal(pred: tuple[float, bool], gold: tuple[float, bool], rel_tol: float) -> str | None:
    """None when different; else "" or " (as a percent)". A percent also matches its number: 50% == 0.5 == 50."""
    pred_values = [(pred[0], "")] + ([(pred[0] * 100, " (as a percent)")] if pred[1] else [])
    gold_values = [(gold[0], "")] + ([(gold[0] * 100, " (as a percent)")] if gold[1] else [])
    for p, p_note in pred_values:
        for g, g_note in gold_values:
            if math.isclose(p, g, rel_tol=rel_tol, abs_tol=1e-9):
                return p_note or g_note
    return None


_MATHY_RE = re.compile(r"[\\^√π]|sqrt|\bpi\b")
_MATH_VERIFY_MAX_CHARS = 1000  # longer text is no final answer; math-verify would only be slow on it


def _sympy_number(text: str) -> float | None:
    """The value of a closed-form expression (``\\frac{\\sqrt{2}}{2}``) via math-verify, when it is installed."""
    try:
        from math_verify import parse
        from sympy import Basic
    except ImportError:
        return None
    try:
        for item in parse(_as_latex(text), parsing_timeout=_timeout()):
            if isinstance(item, Basic) and item.is_number:
                value = complex(item.evalf())
                if abs(value.imag) < 1e-12 and math.isfinite(value.real):
                    return value.real
    except Exception:
        return None
    return None


def _prediction_number(final: str) -> tuple[tuple[float, bool], str] | None:
    parsed = _parse_number(final)
    if parsed is not None:
        return parsed, final
    if len(final) <= _MATH_VERIFY_MAX_CHARS and _MATHY_RE.search(final):
        value = _sympy_number(final)
        if value is not None:
            return (value, False), final
    return _last_number(final)


def _verify_number(final: _Final, gold: str, rel_tol: float) -> Verification | None:
    """None when the reference answer is not a number."""
    expected = _parse_number(gold)
    if expected is None:
        return None
    found = _prediction_number(final.text)
    if found is None:
        detail = f"number: no number in the prediction, expected {gold.strip()}"
        return Verification(False, "number", detail, final.text)
    value, shown = found
    note = _numbers_equal(value, expected, rel_tol)
    sign = "!=" if note is None else "=="
    return Verification(note is not None, "number", f"number: {shown} {sign} {gold.strip()}{note or ''}", final.text)


# ------------------------------------------------------------------------------------------------ math

_DELIMITED_RE = re.compile(r"\$|\\\(|\\\[|\\boxed|\\fbox")


MATH_TIMEOUT_S = 5
"""Seconds math-verify may spend parsing or comparing one answer (a guard against pathological LaTeX)."""


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only works in the main thread; elsewhere run without one."""
    if threading.current_thread() is threading.main_thread():
        return MATH_TIMEOUT_S
    _quiet_timeout_warning()
    return None


class _NoTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


_filter_installed = False


def _quiet_timeout_warning() -> None:
    """Drop math-verify's "Timeout is disabled" warning: running without its timeout is deliberate here."""
    global _filter_installed
    if not _filter_installed:
        for name in ("math_verify.parser", "math_verify.grader"):
            logging.getLogger(name).addFilter(_NoTimeoutWarning())
        _filter_installed = True


def _as_latex(text: str) -> str:
    text = text.strip()
    return text if _DELIMITED_RE.search(text) else f"${text}$"


def _math_tail(text: str) -> str:
    """The expression at the end of a sentence: "Therefore x = 3" -> "x = 3"."""
    end = 0
    for match in _WORD_RE.finditer(text):
        if _is_prose_word(match[0]):
            end = match.end()
    return text[end:].strip().strip(":,;").strip().rstrip(".").strip()


def _math_verify() -> tuple[Callable[..., Any], Callable[..., Any]]:
    try:
        from math_verify import parse, verify
    except ImportError:
        raise MissingDependencyError(_MATH_VERIFY_MISSING, field="answer_type") from None
    return parse, verify


def _verify_math(final: _Final, answer: str, gold: str, rel_tol: float) -> Verification:
    parse, verify = _math_verify()
    timeout = _timeout()

    def read(source: str) -> list[Any]:
        if len(source) > _MATH_VERIFY_MAX_CHARS:
            return []
        try:
            return list(parse(source, parsing_timeout=timeout))
        except Exception:
            return []

    gold_parsed = read(_as_latex(gold))
    if final.boxed:
        sources = [f"\\boxed{{{final.text}}}"]
    elif _DELIMITED_RE.search(final.text):
        sources = [final.text]
    else:
        tail = _math_tail(final.text)
        sources = ([f"${tail}$"] if tail else []) + [final.text]
    pred_parsed: list[Any] = []
    for source in sources:
        pred_parsed = read(source)
        if pred_parsed:
            break
    if not gold_parsed or not pred_parsed:
        side = "the reference answer" if not gold_parsed else "the prediction"
        fallback = _verify_number(final, gold, rel_tol) or _verify_text(final, answer, gold)
        return Verification(
            fallback.correct, fallback.rule, f"{fallback.detail} (math-verify could not read {side})", final.text
        )
    try:
        same = bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:
        same = False
    shown = pred_parsed[-1] if isinstance(pred_parsed[-1], str) else final.text
    return Verification(same, "math", f"math: {shown} {'==' if same else '!='} {gold.strip()}", final.text)


# ------------------------------------------------------------------------------------------------ text

_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
_STRIPPED_SYMBOLS = frozenset("$`^~|")


def _normalize_text(text: str) -> str:
    text = _LATEX_TEXT_RE.sub(r"\1", unicodedata.normalize("NFKC", text)).lower()
    text = "".join(
        " " if unicodedata.category(char).startswith("P") or char in _STRIPPED_SYMBOLS else char for char in text
    )
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def _verify_text(final: _Final, answer: str, gold: str) -> Verification:
    expected = _normalize_text(gold)
    got = _normalize_text(final.text)
    if got == expected or _normalize_text(answer) == expected:
        return Verification(True, "text", f"text: {expected!r} matches", final.text)
    return Verification(False, "text", f"text: {got!r} != {expected!r}", final.text)


# ------------------------------------------------------------------------------------------------ entry


def verify_answer(
    prediction: str, answer: str, answer_type: str | None = None, *, rel_tol: float = 1e-4
) -> Verification:
    """Check the final answer in ``prediction`` against the reference ``answer``.

    ``answer_type`` picks the rule: ``None`` detects it from ``answer`` (`detect_answer_type`); else
    ``"choice"``, ``"number"``, ``"math"``, ``"text"`` or the names ``"MULTIPLE_CHOICE"``, ``"NUMBER"``,
    ``"MATH_EXPRESSIONS"``, ``"TEXT"`` (case-insensitive). An unknown name raises `ConfigError`; a math
    answer without math-verify installed raises `MissingDependencyError`. Odd strings never raise.

    - choice: the one option letter of the final answer; several different letters are "ambiguous choice".
    - number: equal within ``rel_tol`` (and 1e-9 absolute). A percent equals both its fraction and its
      number: ``"50%"`` matches ``"0.5"`` and ``"50"``. A final answer that is not one number is read by
      math-verify when it is LaTeX, else its last number counts ("Therefore x = 3." -> 3).
    - math: math-verify's ``verify(parse(answer), parse(prediction))``; when it cannot read either side, the
      number rule decides if the reference is a number, else the text rule.
    - text: equal after normalisation (NFKC, lowercase, no punctuation, no articles, single spaces); the
      whole prediction equal to the answer also counts.
    """
    if not isinstance(rel_tol, (int, float)) or not rel_tol >= 0:
        raise ConfigError(f"rel_tol must be a number >= 0, got {rel_tol!r}", field="rel_tol")
    pred, gold = _text(prediction), _text(answer)
    rule = _resolve_type(answer_type, gold)
    if not pred.strip():
        return Verification(False, rule, "empty prediction", "")
    body = split_reasoning(pred)[0]
    if not body:
        return Verification(False, rule, "empty prediction: it holds only reasoning, no final answer", "")
    final = _extract(body)
    if not gold.strip():
        return Verification(False, rule, "empty reference answer", final.text)
    try:
        return _settled_verdict(final, body, gold, rule, rel_tol)
    except ConfigError:
        raise
    except Exception as exc:  # a safety net: odd input is judged incorrect, never raised
        return Verification(False, rule, f"{rule}: could not verify ({type(exc).__name__})", final.text)


def _by_rule(final: _Final, body: str, gold: str, rule: str, rel_tol: float) -> Verification:
    if rule == "choice":
        return _verify_choice(final, body, gold)
    if rule == "number":
        return _verify_number(final, gold, rel_tol) or _verify_text(final, body, gold)
    if rule == "math":
        return _verify_math(final, body, gold, rel_tol)
    return _verify_text(final, body, gold)


def _settled_verdict(final: _Final, body: str, gold: str, rule: str, rel_tol: float) -> Verification:
    """The rule's verdict on what the final answer asserts (`judgekit.final_answer.settle`: negated,
    corrected-away and parenthetical parts left out). It is refused, with the reason, when the answer hedges
    ("maybe", "X or Y") or the reply rejects the reference ("not X", "X is wrong"); a correct verdict also
    when the reply rejects its boxed answer, takes the answer back after it ("actually ...") or states
    several numbers."""
    if final.boxed:
        line = settle(final.around)
        asserted, stated = final, line.asserted.replace(_BOX_MARK, final.text)
        rejected = [r.replace(_BOX_MARK, final.text) for r in line.rejected]
    else:
        line = settle(final.text)
        asserted, stated, rejected = _Final(_tidy(line.asserted), False), line.asserted, list(line.rejected)
    verdict = _by_rule(asserted, body, gold, rule, rel_tol)
    if verdict.detail.startswith("ambiguous"):  # the rule's own reason (several option letters)
        return verdict
    tail = settle(final.after)
    rejected += tail.rejected
    doubt = doubt_in(stated, gold) or doubt_in(tail.asserted, gold, after=True)
    if doubt:
        return _refused(verdict, f"ambiguous: {doubt}, no single answer stated for sure")
    named = next((r for r in rejected if _mentions(r, gold, rule, rel_tol)), None)
    if named is not None:
        return _refused(verdict, f"the reply rejects {named!r}")
    if not verdict.correct:
        return verdict
    if final.boxed and _BOX_MARK not in line.asserted:
        return _refused(verdict, "the reply rejects its boxed answer")
    if tail.corrected:
        return _refused(verdict, "the reply takes its final answer back after it")
    numbers = _distinct_numbers(_result_part(asserted.text)) if verdict.rule == "number" else []
    if not final.boxed and len(numbers) > 1:
        return _refused(verdict, f"ambiguous: the final answer states several numbers ({', '.join(numbers)})")
    return verdict


def _refused(verdict: Verification, why: str) -> Verification:
    return Verification(False, verdict.rule, f"{why}; not accepted ({verdict.detail})", verdict.extracted)


_RESULT_RE = re.compile(r"=|\b(?:is|are|was|equals|makes|gives|be)\b", re.IGNORECASE)


def _result_part(text: str) -> str:
    """What follows the last "=" / "is" ("12 times 7 is 84" -> "84") when it holds a number, else ``text``."""
    parts = _RESULT_RE.split(text)
    return parts[-1] if re.search(r"\d", parts[-1]) else text


def _distinct_numbers(text: str) -> list[str]:
    """The numbers ``text`` states, one per value (an exponent's digits are no number of their own)."""
    seen: dict[float, str] = {}
    prepared = _prepare_number_text(text)
    for match in _NUMBER_TOKEN_RE.finditer(prepared):
        if prepared[: match.start()].rstrip().endswith("^"):
            continue
        parsed = _parse_number(match[0].strip())
        if parsed is not None:
            seen.setdefault(parsed[0], match[0].strip())
    return list(seen.values())


def _mentions(text: str, gold: str, rule: str, rel_tol: float) -> bool:
    """Whether ``text`` names the reference answer anywhere (a number, an option letter, the words)."""
    if rule == "choice":
        expected = _gold_letter(gold)
        formatted, standalone = _choice_letters(_unwrap(text))
        return expected is not None and (expected in formatted or expected in standalone)
    expected_number = _parse_number(gold)
    if expected_number is not None:
        for match in _NUMBER_TOKEN_RE.finditer(_prepare_number_text(text)):
            found = _parse_number(match[0].strip())
            if found is not None and _numbers_equal(found, expected_number, rel_tol) is not None:
                return True
    words = _normalize_text(gold)
    return bool(words) and f" {words} " in f" {_normalize_text(text)} "

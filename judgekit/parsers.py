"""Turn a judge model's reply text into a verdict: pure functions, no I/O.

The verdict is read from the judge's *final answer* only. Reasoning (``<think>`` blocks and the like) is
split off first, and a number or word somewhere in an explanation never counts: ``"10"``, ``"0.1"``, ``"-1"``
or ``"Score: 10"`` are not the verdict 1. A reply that cannot be read raises `ParseError` saying what was
expected; no parser ever falls back to a default value.

This module knows no judge kind: `judgekit.kinds` names the parser of each kind (its ``KindSpec.parser``), and
`judgekit.parsing` is the public face of both (these functions and ``PARSERS``, the parser of each kind).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn

from judgekit.errors import ConfigError, ParseError

__all__ = [
    "Verdict",
    "parse_binary",
    "parse_comparative",
    "parse_correctness",
    "parse_custom",
    "parse_json",
    "parse_listwise",
    "parse_pairwise",
    "parse_pointwise",
    "parse_rubric",
    "parse_tagged_number",
    "parse_verdict_token",
    "read_tag",
    "split_reasoning",
]


class Verdict(str):
    """'yes' / 'no' whose truth value is the verdict: ``bool(Verdict('no')) is False``.

    Old lmms-eval task code does ``1 if result['result'] else 0``; a plain ``"no"`` string would be truthy.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Verdict:
        word = value.strip().lower() if isinstance(value, str) else value
        if word not in ("yes", "no"):
            raise ValueError(f"Verdict must be 'yes' or 'no', got {value!r}")
        return super().__new__(cls, word)

    def __bool__(self) -> bool:
        return str.__eq__(self, "yes")

    def __repr__(self) -> str:
        return f"Verdict({str(self)!r})"


# --------------------------------------------------------------------------------------------- text helpers

_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
# what may follow a score: "8", "8.", "8 - clear", "8 (good)", "8 out of 10"; never "2 paragraphs"
_SCORE_END = r"(?!\.?\d)(?=[ \t]*(?:$|[,;.!?)\]*_`(|\-–—]|out[ \t]+of\b|points?\b|pts\b))"
_NUMBER_RE = re.compile(rf"(?P<num>{_NUM})(?:\s*/\s*{_NUM})?")  # "8" or "8/10" (take 8)
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_EDGE_CHARS = "\"'`“”‘’«»[](){}*_$"
_TRAIL_PUNCT = ".!:;,"


def _normalize(text: str) -> str:
    """NFKC (full-width digits/colons, NBSP -> plain), LF line endings, no zero-width characters."""
    text = unicodedata.normalize("NFKC", text)
    return _ZERO_WIDTH_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _strip_decorations(text: str) -> str:
    """Strip whitespace, quotes, brackets, markdown and ``$`` from both ends and punctuation from the end."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or text[start] in _EDGE_CHARS):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGE_CHARS or text[end - 1] in _TRAIL_PUNCT):
        end -= 1
    return text[start:end]


def _number(text: str) -> float | None:
    """A finite number written as ``8``, ``8.5``, ``**8**`` or ``8/10`` (-> 8); else None."""
    match = _NUMBER_RE.fullmatch(_strip_decorations(text))
    if match is None:
        return None
    value = float(match["num"])
    return value if math.isfinite(value) else None


class _Tag(NamedTuple):
    body: str
    start: int
    end: int
    text: str


@lru_cache(maxsize=256)
def _tag_patterns(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The opening and closing patterns of ``<name>`` reply tags, compiled once per tag on first use."""
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise ValueError(f"a reply tag name is a word (letters, digits, _ or -), got {name!r}")
    tag = re.escape(name)
    return re.compile(rf"<\s*{tag}\s*>", re.IGNORECASE), re.compile(rf"<\s*/\s*{tag}\s*>", re.IGNORECASE)


def _last_match(pattern: re.Pattern[str], text: str, endpos: int | None = None) -> re.Match[str] | None:
    matches = deque(pattern.finditer(text, 0, len(text) if endpos is None else endpos), maxlen=1)
    return matches[0] if matches else None


def _last_tag(text: str, name: str) -> _Tag | None:
    """The last complete ``<name>...</name>`` (the innermost one when nested), found in linear time."""
    opening, closing = _tag_patterns(name)
    last_close = _last_match(closing, text)
    last_open = _last_match(opening, text, last_close.start()) if last_close else None
    close = closing.search(text, last_open.end()) if last_open else None
    if last_open is None or close is None:
        return None
    return _Tag(
        text[last_open.end() : close.start()], last_open.start(), close.end(), text[last_open.start() : close.end()]
    )


def _fail(kind: str, raw_text: str, message: str) -> NoReturn:
    raise ParseError(f"{kind}: {message}", raw_text=raw_text, kind=kind)


def _answer_part(text: str, kind: str, expected: str, *, normalize: bool = True) -> str:
    """The reply without its reasoning; raises when nothing is left."""
    if not isinstance(text, str) or not text.strip():
        _fail(kind, text, f"expected {expected}, but the reply is empty")
    answer, _ = split_reasoning(text)
    answer = _normalize(answer).strip() if normalize else answer
    if not answer:
        _fail(kind, text, f"expected {expected}, but the reply has no answer after its reasoning (cut off?)")
    return answer


def _check_range(kind: str, raw_text: str, what: str, value: float, score_range: tuple[float, float] | None) -> float:
    if score_range is not None:
        low, high = score_range
        if not low <= value <= high:
            _fail(kind, raw_text, f"{what} is {value:g}, out of range [{low:g}, {high:g}]")
    return value


def _validate_range(score_range: tuple[float, float] | None) -> None:
    if score_range is None:
        return
    try:
        low, high = score_range
        valid = float(low) <= float(high)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ConfigError(f"score_range must be (low, high) with low <= high, got {score_range!r}", field="score_range")


# ------------------------------------------------------------------------------------------------ reasoning

_REASONING_TAGS = "think|thinking|reasoning"
_REASONING_TAG_RE = re.compile(rf"<\s*(?P<close>/)?\s*(?:{_REASONING_TAGS})\s*>", re.IGNORECASE)
_REASONING_TAG_SPLIT_RE = re.compile(rf"<\s*/?\s*(?:{_REASONING_TAGS})\s*>", re.IGNORECASE)


def split_reasoning(text: str, reasoning: str | None = None) -> tuple[str, str | None]:
    """Separate reasoning from the answer: returns ``(answer_text.strip(), reasoning or None)``.

    Removes every ``<think>``/``<thinking>``/``<reasoning>`` block (case-insensitive, multi-line). A closing tag
    with no opening tag before it (Qwen3 puts ``<think>`` in the prompt) makes everything before the last closing
    tag reasoning. An opening tag that is never closed means the reply was cut off while thinking: the answer is
    ``''``. ``reasoning`` (a provider's reasoning_content) comes first in the combined reasoning, joined by ``\\n``.
    """
    parts: list[str] = [reasoning] if reasoning else []
    tags = list(_REASONING_TAG_RE.finditer(text))
    cursor = 0
    if tags and tags[0]["close"]:  # the reply starts inside the reasoning
        last_close = next(tag for tag in reversed(tags) if tag["close"])
        parts.append(text[: last_close.start()])
        cursor = last_close.end()
        tags = [tag for tag in tags if tag.start() >= cursor]
    answer: list[str] = []
    opened: re.Match[str] | None = None
    for tag in tags:
        if opened is None and not tag["close"]:
            answer.append(text[cursor : tag.start()])
            opened = tag
        elif opened is not None and tag["close"]:
            parts.append(text[opened.end() : tag.start()])
            opened, cursor = None, tag.end()
        elif opened is None:  # a stray closing tag: everything before it is reasoning
            parts.extend([*answer, text[cursor : tag.start()]])
            answer, cursor = [], tag.end()
    if opened is None:
        answer.append(text[cursor:])
    else:  # never closed: the reply was cut off while thinking
        parts.extend([*answer, text[opened.end() :]])
        answer = []
    pieces = (piece.strip() for part in parts for piece in _REASONING_TAG_SPLIT_RE.split(part))
    return "".join(answer).strip(), "\n".join(piece for piece in pieces if piece) or None


# -------------------------------------------------------------------------------------------------- JSON

_FENCE_RE = re.compile(r"```(?:[ \t]*json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_DECODER = json.JSONDecoder()
_OBJECT_START_RE = re.compile(r'\{(?=\s*["}])')


def _find_json(text: str, *, embedded: bool, objects_only: bool = True) -> tuple[Any, int] | None:
    """``(value, end offset)`` of: the whole text as JSON, else the last fenced block, else (``embedded``) the
    first balanced ``{...}`` object. ``objects_only`` skips values that are not dicts."""

    def wanted(value: Any) -> bool:
        return isinstance(value, dict) or not objects_only

    try:
        value = json.loads(text)
        if wanted(value):
            return value, len(text)
    except (ValueError, RecursionError):
        pass
    for fence in reversed(list(_FENCE_RE.finditer(text))):
        try:
            value = json.loads(fence[1])
        except (ValueError, RecursionError):
            continue
        if wanted(value):
            return value, fence.end()
    if embedded:
        for brace in _OBJECT_START_RE.finditer(text):
            try:
                value, end = _DECODER.raw_decode(text, brace.start())
            except (ValueError, RecursionError):
                continue
            return value, end
    return None


def _json_number(value: Any) -> float | None:
    """A JSON score: a number, a numeric string or ``{"score": number}``."""
    if isinstance(value, dict):
        scores = [v for k, v in value.items() if str(k).strip().lower() == "score"]
        return _json_number(scores[0]) if scores and not isinstance(scores[0], dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _number(_normalize(value))
    return None


def _dicts_to_search(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The object itself, then its dict values (``{"scores": {...}}``)."""
    return [obj, *(value for value in obj.values() if isinstance(value, dict))]


# ------------------------------------------------------------------------------------------- binary verdicts

_POSITIVE = frozenset({"1", "yes", "y", "correct", "true", "right"})
_NEGATIVE = frozenset({"0", "no", "n", "incorrect", "false", "wrong"})
_ONE_ZERO_FLOAT_RE = re.compile(r"([01])\.0+")
_VERDICT_KEYS = ("verdict", "judgement", "judgment", "correct", "is_correct", "result", "score", "answer")
_VERDICT_TAGS = ("answer", "verdict", "score")
_BOXED_RE = re.compile(r"\\boxed\s*\{(?P<body>(?:[^{}]|\{[^{}]*\})*)\}")
_LATEX_TEXT_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_MARKER_RE = re.compile(
    r"(?:^|(?<=[.!?]))[ \t]*"  # at a line start or after a sentence: never "reference answer:"
    r"(?:[>#*_\-+•][ \t>#*_\-+•]*)?"  # bullets, quotes, headings, bold
    r"(?:(?:my|the|our|overall)\s+)?"
    r"(?P<label>(?:final\s+)?(?:answer|verdict|judge?ment|score|output|result|decision|correct(?:ness)?))"
    r"[*_]*[ \t]*[:=][*_]*\s*(?P<value>\S+)?",
    re.IGNORECASE | re.MULTILINE,
)

_TokenReader = Callable[[str], bool | None]


def parse_verdict_token(token: str) -> bool | None:
    """True for a positive verdict token, False for a negative one, None if ``token`` is not a verdict token.

    Surrounding whitespace, quotes, brackets, markdown and trailing ``.!:;,`` are ignored; ``1.0``/``0.0`` count.
    ``"10"``, ``"0.1"``, ``"-1"``, ``"1/1"`` or ``"partially correct"`` are not verdict tokens.
    """
    if not isinstance(token, str):
        return None
    word = _strip_decorations(_normalize(token)).casefold()
    if word in _POSITIVE:
        return True
    if word in _NEGATIVE:
        return False
    match = _ONE_ZERO_FLOAT_RE.fullmatch(word)
    return match[1] == "1" if match else None


def _correctness_token(token: str) -> bool | None:
    """`parse_verdict_token`, plus "equivalent" / "not equivalent"."""
    verdict = parse_verdict_token(token)
    if verdict is not None or not isinstance(token, str):
        return verdict
    phrase = " ".join(_strip_decorations(_normalize(token)).casefold().split())
    return {"equivalent": True, "not equivalent": False}.get(phrase)


def _json_verdict(value: Any, read: _TokenReader) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True if value == 1 else False if value == 0 else None
    return read(value) if isinstance(value, str) else None


def _marker_verdict(answer: str, marker: re.Match[str], read: _TokenReader) -> bool | None:
    """The verdict after a marker: its first word, else the rest of its line ("not equivalent")."""
    if marker["value"] is None:
        return None
    verdict = read(marker["value"])
    if verdict is None:
        line_end = answer.find("\n", marker.start("value"))
        verdict = read(answer[marker.start("value") : None if line_end < 0 else line_end])
    return verdict


def _last_line_verdict(answer: str, read: _TokenReader) -> tuple[bool, int] | None:
    """``(verdict, offset)`` when the last non-empty line is a single verdict token."""
    lines = [line for line in answer.split("\n") if line.strip()]
    if not lines:
        return None
    verdict = read(lines[-1])
    return None if verdict is None else (verdict, answer.rfind(lines[-1]))


_LEADING_YES_NO_RE = re.compile(r"\s*(yes|no)\s*[,.!;:\u2014-]\s", re.IGNORECASE)


class _VerdictReader:
    """Reads one binary verdict from an answer, following the documented order of steps."""

    def __init__(self, raw_text: str, answer: str, kind: str, expected: str, read: _TokenReader) -> None:
        self.raw_text, self.answer, self.kind, self.expected, self.read = raw_text, answer, kind, expected, read

    def fail(self, message: str) -> NoReturn:
        _fail(self.kind, self.raw_text, message)

    def read_verdict(self) -> bool:
        for step in (self.from_json, self.from_tags, self.from_markers):
            found = step()
            if found is not None:
                self.check_nothing_later_disagrees(*found)
                return found[0]
        whole = self.read(self.answer)
        if whole is not None:
            return whole
        last_line = _last_line_verdict(self.answer, self.read)
        leading = self.from_leading_verdict()
        if last_line is not None:
            if leading is not None and leading[1] <= last_line[1] and leading[0] != last_line[0]:
                self.fail(f"expected one final verdict {self.expected}, found conflicting verdicts")
            return last_line[0]
        if leading is not None:
            self.check_nothing_later_disagrees(*leading)
            return leading[0]
        self.fail(f"expected a final verdict {self.expected}, found none in the reply")

    def from_leading_verdict(self) -> tuple[bool, int] | None:
        """A reply that gives the verdict first and explains after: a first line that is a single verdict
        token ("1\n\nExplanation: ..."), or that opens with "Yes," / "No." ("Yes, the prediction matches")."""
        first = next((line for line in self.answer.split("\n") if line.strip()), "")
        end = self.answer.find(first) + len(first)
        verdict = self.read(first)
        if verdict is not None:
            return verdict, end
        match = _LEADING_YES_NO_RE.match(first.replace("*", "").replace("_", ""))
        return (match[1].lower() == "yes", end) if match else None

    def from_json(self) -> tuple[bool, int] | None:
        found = _find_json(self.answer, embedded=False)
        if found is None:
            return None
        obj, end = found
        fields = {str(key).strip().lower(): value for key, value in obj.items()}
        key = next((key for key in _VERDICT_KEYS if key in fields), None)
        if key is None:
            return None
        verdict = _json_verdict(fields[key], self.read)
        if verdict is None:
            self.fail(f"expected a final verdict {self.expected} in the JSON reply, found {key!r}: {fields[key]!r}")
        return verdict, end

    def from_tags(self) -> tuple[bool, int] | None:
        found = [tag for name in _VERDICT_TAGS if (tag := _last_tag(self.answer, name)) is not None]
        found += [
            _Tag(match["body"], match.start(), match.end(), match[0]) for match in _BOXED_RE.finditer(self.answer)
        ]
        if not found:
            return None
        last = max(found, key=lambda tag: tag.start)
        verdict = self.read(_LATEX_TEXT_RE.sub(r"\1", last.body))
        if verdict is None:
            self.fail(f"expected a final verdict {self.expected}, found {last.text.strip()!r}")
        return verdict, last.end

    def from_markers(self) -> tuple[bool, int] | None:
        markers = list(_MARKER_RE.finditer(self.answer))
        if not markers:
            return None
        last = markers[-1]
        verdict = _marker_verdict(self.answer, last, self.read)
        if verdict is None:
            found = f"followed by {last['value']!r}" if last["value"] else "with nothing after it"
            self.fail(f"expected a final verdict {self.expected} after {last['label']!r}, found it {found}")
        return verdict, last.end()

    def check_nothing_later_disagrees(self, verdict: bool, end: int) -> None:
        """A marker or a bare last line after the chosen verdict must not contradict it."""
        later = [_marker_verdict(self.answer, marker, self.read) for marker in _MARKER_RE.finditer(self.answer, end)]
        last_line = _last_line_verdict(self.answer, self.read)
        if last_line is not None and last_line[1] >= end:
            later.append(last_line[0])
        if any(other is not None and other != verdict for other in later):
            self.fail(f"expected one final verdict {self.expected}, found conflicting verdicts")


def _read_binary(text: str, kind: str, expected: str, read: _TokenReader) -> bool:
    if isinstance(text, str) and text.isascii():  # fast path: the whole reply is one plain verdict word
        word = text.strip().lower()
        if word in _POSITIVE:
            return True
        if word in _NEGATIVE:
            return False
    answer = _answer_part(text, kind, f"a final verdict {expected}")
    return _VerdictReader(text, answer, kind, expected, read).read_verdict()


_OUTPUT_FORMATS = {"0/1": "1 or 0", "yes/no": "yes or no"}


def parse_binary(text: str, output_format: str = "0/1") -> int | Verdict:
    """A yes/no verdict: ``"0/1"`` -> int 1 or 0; ``"yes/no"`` -> ``Verdict("yes")`` / ``Verdict("no")``.

    Looks, in order, at: a JSON reply's verdict/result/correct/answer/score/judgement key; the last
    ``<answer>``/``<verdict>``/``<score>``/``\\boxed{}``; the last marker such as ``Final answer:`` or ``Verdict:``
    (its first word); the whole answer as one token; the last line as one token. A step that finds something
    that is not a verdict raises `ParseError`; so does a later marker or last line that contradicts it.
    """
    if output_format not in _OUTPUT_FORMATS:
        raise ConfigError(f"output_format must be '0/1' or 'yes/no', got {output_format!r}", field="output_format")
    verdict = _read_binary(text, "binary", _OUTPUT_FORMATS[output_format], parse_verdict_token)
    if output_format == "yes/no":
        return Verdict("yes" if verdict else "no")
    return 1 if verdict else 0


def parse_correctness(text: str) -> int:
    """1 (correct / equivalent) or 0, read like `parse_binary`; "equivalent"/"not equivalent" also count."""
    return 1 if _read_binary(text, "correctness", "1 or 0 (correct or incorrect)", _correctness_token) else 0


# ------------------------------------------------------------------------------------------------- scores

_TWO_NUMBERS_RE = re.compile(rf"(?P<a>{_NUM})(?:\s*[,;/]\s*|\s+and\s+|\s+)(?P<b>{_NUM})", re.IGNORECASE)
_PAIR_KEY_RE = re.compile(
    r"(?:score)?(?:for|of)?(?:assistant|response|model|answer|output|candidate)?([12ab])(?:score)?"
)
_PAIR_SLOT = {"1": 0, "a": 0, "2": 1, "b": 1}
_LABELLED_SCORE_RE = re.compile(
    r"(?:^|(?<=[\s,;(]))[>#*_\-+•]*(?:score\s+(?:for|of)\s+)?(?:the\s+)?"
    r"(?:assistant|response|score|model|answer|output|candidate)[ \t]*(?P<id>[12ab])(?!\w)"
    r"(?:'s)?(?:[ \t]+score)?[ \t*_]*[:=][ \t*_]*"
    rf"(?P<num>{_NUM})(?:[ \t]*/[ \t]*{_NUM})?{_SCORE_END}",
    re.IGNORECASE | re.MULTILINE,
)


def _pair_from_json(obj: dict[str, Any]) -> list[float | None] | None:
    for candidate in _dicts_to_search(obj):
        pair: list[float | None] = [None, None]
        seen = [False, False]
        for key, value in candidate.items():
            match = _PAIR_KEY_RE.fullmatch(re.sub(r"[^a-z0-9]", "", str(key).lower()))
            if match and not seen[_PAIR_SLOT[match[1]]]:
                seen[_PAIR_SLOT[match[1]]] = True
                pair[_PAIR_SLOT[match[1]]] = _json_number(value)
        if all(seen):
            return pair
    return None


def _comparative_pair(answer: str) -> list[float | None] | None:
    for line in answer.split("\n"):
        match = _TWO_NUMBERS_RE.fullmatch(_strip_decorations(line))
        if match:
            return [float(match["a"]), float(match["b"])]
    found = _find_json(answer, embedded=True)
    if found is not None:
        pair = _pair_from_json(found[0])
        if pair is not None:
            return pair
    labelled: list[float | None] = [None, None]
    seen = [False, False]
    for match in _LABELLED_SCORE_RE.finditer(answer):  # the last line for each response wins
        slot = _PAIR_SLOT[match["id"].lower()]
        labelled[slot], seen[slot] = float(match["num"]), True
    return labelled if all(seen) else None


def parse_comparative(text: str, score_range: tuple[float, float] = (1, 10)) -> tuple[float, float]:
    """Scores of response 1 and response 2, each within ``score_range`` (inclusive).

    Accepts the first line that is only two numbers (``"8 9"``, ``"8, 9"``, ``"8;9"``, ``"8 and 9"``, ``"8/9"``),
    else a JSON object (score1/score2, "Assistant 1"/"Assistant 2", response1/response2, A/B), else labelled lines
    ``Assistant 1: 8`` / ``Assistant 2: 9`` (also Response/Score/Model, 1/2 or A/B). ``"8-9"`` is not read.
    """
    _validate_range(score_range)
    kind = "comparative"
    answer = _answer_part(text, kind, "two scores")
    pair = _comparative_pair(answer)
    if pair is None:
        _fail(
            kind,
            text,
            "expected two scores ('8 9' on one line, 'Assistant 1: 8' / 'Assistant 2: 9' or JSON), "
            "found none in the reply",
        )
    scores: list[float] = []
    for index, value in enumerate(pair, start=1):
        if value is None:
            _fail(kind, text, f"expected a number as the score of response {index}")
        scores.append(_check_range(kind, text, f"the score of response {index}", value, score_range))
    return scores[0], scores[1]


_SEGMENT_SPLIT_RE = re.compile(r"[\n,;]")  # "Helpfulness: 8, Accuracy: 7" holds two segments
_LIST_PREFIX_RE = re.compile(r"[\s>#*_\-+•|]*(?:\d+[.)]\s+)?")  # "- ", "| ", "1. "
_NAME_SEPARATOR_RE = re.compile(r"[:=|]")
_SEGMENT_SCORE_RE = re.compile(rf"[ \t*_`]*(?P<num>{_NUM})(?:[ \t]*/[ \t]*{_NUM})?{_SCORE_END}")
_WORD_SEPARATOR_RE = re.compile(r"[\s_\-]+")


def _criterion_key(name: str) -> str:
    """Case-insensitive criterion name without markdown, quotes, a trailing "(1-10)" or separators."""
    name = _normalize(name).strip().strip("*_`").strip()
    if name.endswith(")") and name.rfind("(") > 0:
        name = name[: name.rfind("(")]
    return " ".join(word for word in _WORD_SEPARATOR_RE.split(_strip_decorations(name).casefold()) if word)


def _rubric_from_json(answer: str, keys: dict[str, str]) -> dict[str, float | None] | None:
    found = _find_json(answer, embedded=True)
    if found is None or not isinstance(found[0], dict):
        return None
    for candidate in _dicts_to_search(found[0]):
        scores = {
            keys[_criterion_key(str(k))]: _json_number(v)
            for k, v in candidate.items()
            if _criterion_key(str(k)) in keys
        }
        if scores:
            return scores
    return None


def _rubric_from_lines(answer: str, keys: dict[str, str]) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for segment in _SEGMENT_SPLIT_RE.split(answer):  # the last line for each criterion wins
        prefix = _LIST_PREFIX_RE.match(segment)
        separator = _NAME_SEPARATOR_RE.search(segment, prefix.end() if prefix else 0)
        score = separator and _SEGMENT_SCORE_RE.match(segment, separator.end())
        if not score:
            continue
        key = _criterion_key(segment[prefix.end() if prefix else 0 : separator.start()])
        key = key if key in keys else key.removesuffix(" score")
        if key in keys:
            scores[keys[key]] = float(score["num"])
    return scores


def parse_rubric(text: str, criteria: list[str], score_range: tuple[float, float] | None = None) -> dict[str, float]:
    """``{criterion: score}`` for every criterion, from a JSON object or ``criterion: 8`` lines.

    JSON values may be numbers or ``{"score": n}``; lines may look like ``- **Helpfulness**: 8/10`` (-> 8) or
    ``helpfulness = 8``. Names match case-insensitively. A missing criterion raises `ParseError` naming it.
    """
    if not criteria:
        raise ConfigError("criteria must name at least one criterion", field="criteria")
    _validate_range(score_range)
    kind = "rubric"
    answer = _answer_part(text, kind, f"scores for {', '.join(criteria)}")
    keys = {_criterion_key(criterion): criterion for criterion in criteria}
    scores = _rubric_from_json(answer, keys) or _rubric_from_lines(answer, keys)
    missing = [criterion for criterion in criteria if criterion not in scores]
    if missing:
        _fail(
            kind,
            text,
            f"expected a score for every criterion ('criterion: N' lines or a JSON object), "
            f"missing: {', '.join(missing)}",
        )
    result: dict[str, float] = {}
    for criterion in criteria:
        value = scores[criterion]
        if value is None:
            _fail(kind, text, f"expected a number as the score of {criterion!r}")
        result[criterion] = _check_range(kind, text, f"the score of {criterion!r}", value, score_range)
    return result


_PLAIN_NUMBER_RE = re.compile(_NUM)


def parse_pointwise(text: str, score_range: tuple[float, float] | None = None) -> float:
    """The number in the last ``<score>N</score>``, range-checked when ``score_range`` is given."""
    return parse_tagged_number(text, "score", score_range, kind="pointwise")


def parse_tagged_number(
    text: str, tag: str, score_range: tuple[float, float] | None = None, *, kind: str | None = None
) -> float:
    """The number in the last ``<tag>N</tag>`` of the final answer, range-checked when ``score_range`` is given.

    Any tag name works (its pattern is compiled on first use): a new kind reading ``<likert>5</likert>`` uses
    ``parse_tagged_number(text, "likert", (1, 7))``. ``kind`` names the kind in a `ParseError` (default: the tag).
    """
    _validate_range(score_range)
    kind = kind or tag
    example = f"<{tag}>N</{tag}>"
    answer = _answer_part(text, kind, example)
    found = _last_tag(answer, tag)
    if found is None:
        _fail(kind, text, f"expected {example}, found no <{tag}> tag in the reply")
    body = _strip_decorations(found.body)
    if not _PLAIN_NUMBER_RE.fullmatch(body):
        _fail(kind, text, f"expected a number inside <{tag}>...</{tag}>, found {found.text!r}")
    return _check_range(kind, text, "the score", float(body), score_range)


def read_tag(text: str, tag: str) -> str | None:
    """The body of the last complete ``<tag>...</tag>`` in ``text`` (stripped), or None when there is none."""
    found = _last_tag(text, tag)
    return None if found is None else found.body.strip()


_BETTER_BODY_RE = re.compile(r"(?:(?:response|assistant|model|answer|output|candidate)\s*)?([ab])", re.IGNORECASE)


def parse_pairwise(text: str) -> str:
    """``"A"`` or ``"B"`` from the last ``<better>A</better>`` (``<better>Response B</better>`` works too)."""
    kind = "pairwise"
    answer = _answer_part(text, kind, "<better>A</better> or <better>B</better>")
    tag = _last_tag(answer, "better")
    if tag is None:
        _fail(kind, text, "expected <better>A</better> or <better>B</better>, found no <better> tag in the reply")
    match = _BETTER_BODY_RE.fullmatch(_strip_decorations(tag.body))
    if match is None:
        _fail(kind, text, f"expected <better>A</better> or <better>B</better>, found {tag.text!r}")
    return match[1].upper()


def parse_listwise(
    text: str, order: Sequence[int], score_range: tuple[float, float] | None = None
) -> tuple[float, ...]:
    """A group's scores from one JSON object ``{"scores": [s_1, ..., s_G]}`` in the order shown, returned in
    input order: ``order[k]`` is the input index of the response shown as ``[k + 1]``. A reply without that
    object, with a different number of scores, or with a score that is not a number in ``score_range`` is
    a `ParseError`; no score is ever filled in."""
    _validate_range(score_range)
    kind, n = "listwise", len(order)
    answer = _answer_part(text, kind, '{"scores": [...]}', normalize=False)
    found = _find_json(answer, embedded=True)
    obj = found[0] if found is not None else None
    keys = [k for k in obj if str(k).strip().lower() == "scores"] if isinstance(obj, dict) else []
    if not keys:
        _fail(kind, text, f'expected one JSON object {{"scores": [...]}} with {n} scores, found none')
    shown = obj[keys[0]]
    if not isinstance(shown, list) or len(shown) != n:
        got = f"{len(shown)} scores" if isinstance(shown, list) else type(shown).__name__
        _fail(kind, text, f'expected "scores" to hold {n} scores (one per response shown), got {got}')
    scores: list[float] = [0.0] * n
    for k, value in enumerate(shown):
        number = None if isinstance(value, (dict, list)) else _json_number(value)
        if number is None:
            _fail(kind, text, f"the score of response [{k + 1}] is not a number: {value!r:.40}")
        scores[order[k]] = _check_range(kind, text, f"the score of response [{k + 1}]", number, score_range)
    return tuple(scores)


def parse_json(text: str) -> Any:
    """JSON mode: the whole answer as JSON, else the last fenced ``` block, else the first balanced ``{...}``."""
    answer = _answer_part(text, "json", "a JSON value", normalize=False)
    found = _find_json(answer, embedded=True, objects_only=False)
    if found is None:
        _fail("json", text, "expected a JSON value (the whole reply, a ```json block or a {...} object), found none")
    return found[0]


def parse_custom(text: str, parse: Callable[[str], Any] | None = None) -> Any:
    """The caller's own reading of a final answer (`SimplifiedJudge.evaluate_custom`): ``parse(text)``, or the
    text itself when ``parse`` is None. ``parse`` raising (any exception) or returning None is a `ParseError`
    saying so: a reply the caller's parser cannot read is never a value."""
    if parse is None:
        return text
    try:
        value = parse(text)
    except ParseError:
        raise
    except Exception as exc:
        message = f"custom: the parser raised {type(exc).__name__}: {exc}"
        raise ParseError(message, raw_text=text, kind="custom") from exc
    if value is None:
        _fail("custom", text, f"the parser {getattr(parse, '__name__', type(parse).__name__)} returned None")
    return value

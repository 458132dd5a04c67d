"""Scores from token log-probabilities: pure functions over OpenAI-format ``logprobs.content`` lists.

Each entry is ``{"token": str, "logprob": float, "top_logprobs": [{"token": str, "logprob": float}, ...]}``
(what OpenAI, vLLM, SGLang and judgekit's torch judge return). Two scores:

- `p_yes`: for binary / correctness verdicts, the probability of the positive verdict at the position of the
  *final* verdict token of the answer (never the first digit that appears): the mass of the positive token
  variants ("1", "Yes", " yes", "YES", "true", ...) over the positive + negative mass at that position.
- `expected_score`: for pointwise ``<score>N</score>`` replies, the expected integer score at the last
  ``<score>`` tag, over the integers in ``score_range``. When the score takes several tokens (tokenizers that
  split digits, as Qwen's do), the later digits are read along the sampled path: with ``8`` sampled, the
  ``</`` that follows it (the number ended) versus a ``0`` (the number goes on as ``80``) decides.

Both raise `ParseError` when the logprobs cannot give the score (none at all, no top alternatives, no
verdict or score token in the answer): a probability is never made up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from judgekit.errors import ParseError

__all__ = ["NEGATIVE_TOKENS", "POSITIVE_TOKENS", "expected_score", "p_yes", "token_distribution"]

POSITIVE_TOKENS = frozenset({"1", "yes", "true"})
"""Verdict tokens that mean "yes", compared after stripping spaces and decorations and case-folding."""
NEGATIVE_TOKENS = frozenset({"0", "no", "false"})

_DECORATION = " \t\r\n\"'`*_.,:;!()[]{}\u0120\u2581"  # also the byte-level / sentencepiece space marks
_SCORE_RE = re.compile(r"<\s*score\s*>\s*[*_\s]*(\d+)", re.IGNORECASE)
_REASONING_CLOSE_RE = re.compile(r"<\s*/\s*(?:think|thinking|reasoning)\s*>", re.IGNORECASE)
_LEADING_DIGITS = re.compile(r"\d+")


def _norm(token: str) -> str:
    return token.strip(_DECORATION).casefold()


def token_distribution(entry: dict[str, Any]) -> dict[str, float]:
    """``{token: probability}`` at one position: its ``top_logprobs`` plus the sampled token itself.

    Raises `ParseError` when the entry has no top alternatives (ask for ``top_logprobs``).
    """
    top = entry.get("top_logprobs") or []
    if not top:
        raise ParseError(
            "the backend returned no top_logprobs at the scored position (ask for top_logprobs > 0)", kind="logprobs"
        )
    dist: dict[str, float] = {}
    for alt in [*top, entry]:
        token, logprob = alt.get("token"), alt.get("logprob")
        if isinstance(token, str) and isinstance(logprob, (int, float)) and token not in dist:
            dist[token] = math.exp(logprob) if logprob > -1e30 else 0.0
    return dist


def _entries(logprobs: Sequence[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], list[str]]:
    if not logprobs:
        raise ParseError("the backend returned no logprobs", kind="logprobs")
    entries = list(logprobs)
    return entries, [str(entry.get("token") or "") for entry in entries]


def _answer_span(tokens: list[str], answer: str | None) -> tuple[str, int, int]:
    """The joined token text and the character span of the answer in it (reasoning excluded)."""
    text = "".join(tokens)
    if answer:
        start = text.rfind(answer.strip())
        if start >= 0:
            return text, start, start + len(answer.strip())
    closes = list(_REASONING_CLOSE_RE.finditer(text))
    return text, (closes[-1].end() if closes else 0), len(text)


def _offsets(tokens: list[str]) -> list[int]:
    starts, pos = [], 0
    for token in tokens:
        starts.append(pos)
        pos += len(token)
    return starts


def _token_at(starts: list[int], tokens: list[str], offset: int) -> int:
    """Index of the token covering character ``offset``."""
    for i in range(len(tokens) - 1, -1, -1):
        if starts[i] <= offset:
            return i
    return 0


def p_yes(
    logprobs: Sequence[dict[str, Any]] | None,
    answer: str | None = None,
    *,
    expected: bool | None = None,
    positive: Iterable[str] = POSITIVE_TOKENS,
    negative: Iterable[str] = NEGATIVE_TOKENS,
) -> float:
    """Probability of the positive verdict at the final verdict token of the answer.

    ``answer`` (the reply without its reasoning) limits the search to the answer; ``expected`` (the verdict
    parsed from the text) must agree with the sampled verdict token found there, else `ParseError`.
    """
    pos, neg = frozenset(map(_norm, positive)), frozenset(map(_norm, negative))
    entries, tokens = _entries(logprobs)
    _, start, end = _answer_span(tokens, answer)
    starts = _offsets(tokens)
    verdicts = pos | neg
    inside = [i for i in range(len(tokens)) if starts[i] + len(tokens[i]) > start and starts[i] < end]
    index = next((i for i in reversed(inside) if _norm(tokens[i]) in verdicts), None)
    if index is None:
        raise ParseError("no verdict token (1/0, yes/no) in the answer's logprobs", kind="logprobs")
    if expected is not None and (_norm(tokens[index]) in pos) != expected:
        raise ParseError(
            f"the last verdict token in the logprobs ({tokens[index]!r}) disagrees with the parsed verdict",
            kind="logprobs",
        )
    yes = no = 0.0
    for token, prob in token_distribution(entries[index]).items():
        word = _norm(token)
        if word in pos:
            yes += prob
        elif word in neg:
            no += prob
    if yes + no <= 0.0:
        raise ParseError("no probability mass on verdict tokens at the verdict position", kind="logprobs")
    return yes / (yes + no)


def expected_score(
    logprobs: Sequence[dict[str, Any]] | None,
    score_range: tuple[float, float],
    answer: str | None = None,
) -> float:
    """Expected integer score at the last ``<score>N</score>`` of the answer, over integers in ``score_range``."""
    entries, tokens = _entries(logprobs)
    text, start, end = _answer_span(tokens, answer)
    matches = [m for m in _SCORE_RE.finditer(text, start) if m.start() < end]
    if not matches:
        raise ParseError("no <score>N</score> in the answer's logprobs", kind="logprobs")
    number = matches[-1]
    starts = _offsets(tokens)
    first = _token_at(starts, tokens, number.start(1))
    last = _token_at(starts, tokens, number.end(1) - 1)
    # text of the first score token before the digits (a ">" in a ">8" token): alternatives must share it
    head = tokens[first][: number.start(1) - starts[first]].strip()
    low, high = math.ceil(score_range[0]), math.floor(score_range[1])
    leaves: dict[int, float] = {}

    def walk(index: int, digits: str, weight: float) -> None:
        if index >= len(tokens):  # the reply ended right after the digits
            _leaf(leaves, digits, weight)
            return
        entry = entries[index]
        sampled = tokens[index]
        for token, prob in _distribution(entry, required=index == first).items():
            rest = token
            if index == first:
                rest = token.lstrip()
                if not rest.startswith(head):
                    continue
                rest = rest[len(head) :].lstrip()
            run = _LEADING_DIGITS.match(rest)
            if run is None:
                _leaf(leaves, digits, weight * prob)  # the number ends before this token
            elif token == sampled and index <= last and run.end() == len(rest):
                walk(index + 1, digits + run.group(), weight * prob)  # follow the sampled path
            else:
                _leaf(leaves, digits + run.group(), weight * prob)  # the number ends with this token

    walk(first, "", 1.0)
    in_range = {value: w for value, w in leaves.items() if low <= value <= high}
    total = sum(in_range.values())
    if total <= 0.0:
        raise ParseError(f"no probability mass on scores in {score_range} at the score position", kind="logprobs")
    return sum(value * w for value, w in in_range.items()) / total


def _distribution(entry: dict[str, Any], *, required: bool) -> dict[str, float]:
    """`token_distribution`; past the first score token, a position without alternatives counts as certain."""
    if required or entry.get("top_logprobs"):
        return token_distribution(entry)
    return {str(entry.get("token") or ""): 1.0}


def _leaf(leaves: dict[int, float], digits: str, weight: float) -> None:
    if digits:
        value = int(digits)
        leaves[value] = leaves.get(value, 0.0) + weight

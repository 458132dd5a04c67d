"""What a final answer asserts: negated, corrected and hedged values taken apart, for the rules judge.

``"It is 5, not 4."`` asserts 5 and rejects 4; ``"The answer is 5. (4 was my first guess)"`` asserts 5;
``"4, actually 5"`` asserts 5; ``"maybe 4, maybe 5"`` and ``"either 4 or 5"`` assert nothing for sure.
`settle` splits a final answer into what it asserts and what it rejects, `doubt_in` says why a text does
not state one answer for sure; the rules judge (`judgekit.verifiers.verify_answer`) reads the asserted text
and refuses an answer that is hedged or that the reply rejects elsewhere. The reading is deliberately
cautious: a reply it cannot take apart is left as written, and anything that looks like doubt counts as doubt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Settled", "doubt_in", "settle"]

# "4, actually 5": everything before the last of these is replaced by what follows it.
_CORRECTION_RE = re.compile(
    r"\b(?:actually|correction|I\s+mean|on\s+second\s+thought|scratch\s+that|make\s+that|no\s+wait|wait|"
    r"sorry|oops|or\s+rather|just\s+kidding|kidding)\b[\s,:;.!-]*|(?:^|(?<=[\s,.;:!?]))no\s*[,.;:!-]+\s*",
    re.IGNORECASE,
)
# A clause ends at punctuation or a conjunction; what a negation covers ends with its clause.
_CLAUSE_RE = re.compile(
    r"[,;!?]|\.(?=\s|$)|\s[-\u2013\u2014]+\s|[\u2013\u2014]"
    r"|(?<!anything\s)(?<!everything\s)(?<!all\s)\bbut\b"  # "anything but 4" is a negation, not two clauses
    r"|\b(?:however|though|although|because|since|while|whereas)\b",
    re.IGNORECASE,
)
# Negation before the value: "not 4", "isn't 4", "never 4", "rather than 4", "instead of 4".
_NEGATION_RE = re.compile(
    r"\b(?:not|cannot|never|no\s+longer|instead\s+of|rather\s+than|other\s+than|except|nor|neither|"
    r"(?:anything|everything|all)\s+but)\b"
    r"|\b(?:is|are|was|were|does|do|did|ca|can|could|would|should|must|has|have|had|ai|wo)n['\u2019]?t\b",
    re.IGNORECASE,
)
# A clause that rejects what it names: "4 is wrong", "(4 was my first guess)", "4 was a typo".
_REJECTION_RE = re.compile(
    r"\b(?:wrong|incorrect|false|mistaken|mistake|error|typo|first\s+guess|initial\s+guess|first\s+thought|"
    r"ruled\s+out|eliminated|rejected|invalid|guessed)\b",
    re.IGNORECASE,
)
# Doubt: the answer is not stated for sure.
_HEDGE_RE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|presumably|likely|unlikely|might|may\s+be|could\s+be|not\s+sure|"
    r"unsure|uncertain|either|I\s+guess|or\s+so|around|about|approximately|roughly|between|if|unless|otherwise|"
    r"else|depend(?:s|ing)?)\b|\?",
    re.IGNORECASE,
)
_OR_RE = re.compile(r"\bor\b|(?<=\s)/(?=\s)", re.IGNORECASE)
# Doubt in the text after a final answer (an explanation): only words that offer another answer.
_DOUBT_AFTER_RE = re.compile(r"\b(?:maybe|perhaps|possibly|not\s+sure|unsure|or)\b", re.IGNORECASE)
# Words that leave nothing named after a negation: "4 is not right", "that's not the answer".
_FILLER_RE = re.compile(
    r"\b(?:the|a|an|it|is|be|was|equal|equals|to|right|correct|answer|true|valid|that|this|one|final|so|"
    r"option|choice|quite|really|sure)\b|[\s.,;:!*'\"`()]",
    re.IGNORECASE,
)
# An aside in parentheses that holds prose (a word of 3+ letters): "(4 was my first guess)"; never "(B)".
_ASIDE_RE = re.compile(r"\s*\((?=[^()]*[A-Za-z]{3})(?![^()]*\\)[^()]*\)")


@dataclass(frozen=True)
class Settled:
    """A final answer taken apart: ``asserted`` (the text that states the answer, rejected parts removed)
    and ``rejected`` (what the answer negates or corrects away, clause by clause). `doubt_in` says whether
    the asserted text hedges."""

    asserted: str
    rejected: tuple[str, ...]
    corrected: bool = False  # "actually", "wait", "no, ...": the text takes something back


def settle(text: str) -> Settled:
    """Take a final answer apart into what it asserts and what it rejects."""
    rejected: list[str] = []
    kept = text
    # An aside asserts nothing, and what it names is not the answer; one that hedges ("(or maybe 5)") stays.
    asides = [m for m in _ASIDE_RE.finditer(kept) if doubt_in(m[0]) is None and not _CORRECTION_RE.search(m[0])]
    for aside in reversed(asides):
        kept = kept[: aside.start()] + kept[aside.end() :]
        rejected.append(aside[0].strip()[1:-1])
    corrections = list(_CORRECTION_RE.finditer(kept))
    corrected = bool(corrections)
    if corrections:  # "4, actually 5" -> "5"; "4, actually no." withdraws the answer
        last = corrections[-1]
        rejected.append(kept[: last.start()])
        kept = kept[last.end() :]
    asserted: list[str] = []
    start = 0
    for match in [*_CLAUSE_RE.finditer(kept), None]:
        end = match.start() if match else len(kept)
        clause = kept[start:end]
        stated, against = _split_clause(clause)
        asserted.append(stated)
        if against.strip():
            rejected.append(against)
        if match:
            asserted.append(match[0] if stated.strip() else " ")  # "Not 4 but 5" -> "5", not "but 5"
            start = match.end()
    result = re.sub(r"\s+", " ", "".join(asserted)).strip(" ,;:")
    return Settled(result, tuple(r.strip() for r in rejected if r.strip()), corrected)


def doubt_in(text: str, reference: str = "", *, after: bool = False) -> str | None:
    """Why ``text`` does not state one answer for sure (a hedge word, a question, "X or Y"), or None.
    A word the ``reference`` answer itself holds ("Fight or flight") is no doubt. ``after``: ``text`` follows
    the final answer (an explanation), where only words that offer another answer count."""
    patterns = (
        ((_DOUBT_AFTER_RE, "hedged after the answer"),) if after else ((_HEDGE_RE, "hedged"), (_OR_RE, "alternatives"))
    )
    for pattern, what in patterns:
        for match in pattern.finditer(text):
            word = match[0].strip()
            if not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", reference, re.IGNORECASE):
                return f"{what} ({word!r})"
    return None


def _split_clause(clause: str) -> tuple[str, str]:
    """``(asserted, rejected)`` parts of one clause."""
    if _HEDGE_RE.search(clause):
        return clause, ""  # "not sure": the doubt stays to be seen
    if _REJECTION_RE.search(clause):
        return "", clause  # "4 was my first guess", "5 is wrong"
    negation = _NEGATION_RE.search(clause)
    if negation is None:
        return clause, ""
    after = clause[negation.end() :]
    if _FILLER_RE.sub("", after):  # "not 4", "rather than 4": the negation names what it rejects
        return clause[: negation.start()], after
    return "", clause  # "4 is not right": the clause rejects what it names

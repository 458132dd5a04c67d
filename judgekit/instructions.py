"""Ready checks for instruction following (IFEval's definitions), for hybrid rubrics and rule rewards.

Each factory returns a named ``check(response) -> bool`` to use as a rubric item's ``check``
(``{"check": instructions.words(100), "points": 1}``); ``from_ifeval`` builds one from an IFEval
``instruction_id`` and its ``kwargs``. Also reachable as ``judgekit.verifiers.instructions``.

The definitions follow IFEval (google-research ``instruction_following_eval/instructions.py``) with these
differences, on purpose: sentences are counted with IFEval's rule-based ``split_into_sentences`` logic
rewritten here (IFEval's own count uses nltk's punkt model, a data download); ``lowercase``/``uppercase``
check the case only (IFEval also requires ``langdetect`` to say English); ``starts_with`` matches its phrase
literally at the start of the response (IFEval matches it as a regex at the start of any line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from judgekit.errors import ConfigError

__all__ = [
    "Relation",
    "bullets",
    "count_sentences",
    "count_words",
    "ends_with",
    "from_ifeval",
    "json_format",
    "keyword_frequency",
    "keywords_absent",
    "keywords_present",
    "lowercase",
    "no_commas",
    "paragraphs",
    "sentences",
    "split_sentences",
    "starts_with",
    "uppercase",
    "words",
]

Relation = Literal["at least", "less than"]
Check = Callable[[str], bool]

_ABBREVIATIONS = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Prof|Inc|Ltd|Jr|Sr|Co|vs|etc|e\.g|i\.e|Ph\.D)\.", re.IGNORECASE)
_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")  # U.S.A.
_PROTECTED = (
    (re.compile(r"(\d)\.(\d)"), r"\1<prd>\2"),  # 3.14
    (re.compile(r"\.(com|net|org|io|gov|edu|me)\b"), r"<prd>\1"),  # example.com
    (re.compile(r"(?<=\s)([A-Za-z])\.(?= )"), r"\1<prd>"),  # a single initial: J. Smith
)


def _named(check: Check, name: str) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


def _compare(count: int, n: int, relation: Relation) -> bool:
    if relation == "at least":
        return count >= n
    if relation == "less than":
        return count < n
    raise ConfigError(f"relation must be 'at least' or 'less than', got {relation!r}", "relation")


def count_words(text: str) -> int:
    """Words as IFEval counts them: runs of word characters (``\\w+``)."""
    return len(re.findall(r"\w+", text))


def split_sentences(text: str) -> list[str]:
    """Sentences: split after ``.``, ``!`` or ``?``, not after common abbreviations, decimals, web
    addresses, acronyms or initials (IFEval's ``split_into_sentences`` rules)."""
    text = " " + text.replace("\n", " ") + " "
    text = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "<prd>"), text)
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", "<prd>"), text)
    for pattern, replacement in _PROTECTED:
        text = pattern.sub(replacement, text)
    text = re.sub(r"\.{2,}", lambda m: "<prd>" * len(m.group(0)) + "<stop>", text)
    text = re.sub(r"([.!?])([\"”]?)", r"\1\2<stop>", text)
    parts = [s.replace("<prd>", ".").strip() for s in text.split("<stop>")]
    return [s for s in parts if s]


def count_sentences(text: str) -> int:
    """The number of sentences in ``text`` (`split_sentences`)."""
    return len(split_sentences(text))


def words(num_words: int, relation: Relation = "at least") -> Check:
    """At least (or fewer than) ``num_words`` words (IFEval ``length_constraints:number_words``)."""
    _compare(0, num_words, relation)
    return _named(lambda r: _compare(count_words(r), num_words, relation), f"words({relation} {num_words})")


def sentences(num_sentences: int, relation: Relation = "at least") -> Check:
    """At least (or fewer than) ``num_sentences`` sentences (IFEval ``length_constraints:number_sentences``)."""
    _compare(0, num_sentences, relation)
    return _named(
        lambda r: _compare(count_sentences(r), num_sentences, relation), f"sentences({relation} {num_sentences})"
    )


def paragraphs(num_paragraphs: int) -> Check:
    """Exactly ``num_paragraphs`` paragraphs separated by the markdown divider ``***``; an empty paragraph
    between two dividers fails (IFEval ``length_constraints:number_paragraphs``)."""

    def check(response: str) -> bool:
        parts = re.split(r"\s?\*\*\*\s?", response)
        inner_empty = any(not p.strip() for p in parts[1:-1])
        count = sum(1 for p in parts if p.strip())
        return not inner_empty and count == num_paragraphs

    return _named(check, f"paragraphs({num_paragraphs})")


def keywords_present(*keywords: str) -> Check:
    """Every keyword appears, ignoring case (IFEval ``keywords:existence``)."""
    patterns = [re.compile(re.escape(k), re.IGNORECASE) for k in keywords]
    return _named(lambda r: all(p.search(r) for p in patterns), f"keywords_present({', '.join(keywords)})")


def keywords_absent(*forbidden: str) -> Check:
    """No forbidden word appears as a whole word, ignoring case (IFEval ``keywords:forbidden_words``)."""
    patterns = [re.compile(r"\b" + re.escape(w) + r"\b", re.IGNORECASE) for w in forbidden]
    return _named(lambda r: not any(p.search(r) for p in patterns), f"keywords_absent({', '.join(forbidden)})")


def keyword_frequency(keyword: str, frequency: int, relation: Relation = "at least") -> Check:
    """``keyword`` appears at least (or fewer than) ``frequency`` times, ignoring case (IFEval
    ``keywords:frequency``)."""
    _compare(0, frequency, relation)
    pattern = re.compile(re.escape(keyword.strip()), re.IGNORECASE)
    return _named(
        lambda r: _compare(len(pattern.findall(r)), frequency, relation),
        f"keyword_frequency({keyword!r} {relation} {frequency})",
    )


def json_format() -> Check:
    """The whole response is JSON, optionally in a markdown code fence (IFEval ``detectable_format:json_format``)."""

    def check(response: str) -> bool:
        text = response.strip()
        for fence in ("```json", "```Json", "```JSON", "```"):
            if text.startswith(fence):
                text = text[len(fence) :]
                break
        text = text.removesuffix("```").strip()
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    return _named(check, "json_format")


def bullets(num_bullets: int) -> Check:
    """Exactly ``num_bullets`` markdown bullet lines (``* `` or ``-``) (IFEval
    ``detectable_format:number_bullet_lists``)."""

    def check(response: str) -> bool:
        stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
        return len(stars) + len(dashes) == num_bullets

    return _named(check, f"bullets({num_bullets})")


def lowercase() -> Check:
    """All letters lowercase, and at least one letter (IFEval ``change_case:english_lowercase``, case only)."""
    return _named(lambda r: r.islower(), "lowercase")


def uppercase() -> Check:
    """All letters capitals, and at least one letter (IFEval ``change_case:english_capital``, case only)."""
    return _named(lambda r: r.isupper(), "uppercase")


def no_commas() -> Check:
    """No comma anywhere (IFEval ``punctuation:no_comma``)."""
    return _named(lambda r: "," not in r, "no_commas")


def starts_with(phrase: str) -> Check:
    """The response (after leading spaces) starts with ``phrase``, ignoring case."""
    wanted = phrase.strip().lower()
    return _named(lambda r: r.lstrip().lower().startswith(wanted), f"starts_with({phrase!r})")


def ends_with(phrase: str) -> Check:
    """The response ends with ``phrase``, ignoring case, surrounding spaces and quotes (IFEval
    ``startend:end_checker``)."""
    wanted = phrase.strip().lower()
    return _named(lambda r: r.strip().strip('"').lower().endswith(wanted), f"ends_with({phrase!r})")


_IFEVAL: dict[str, Callable[..., Check]] = {
    "length_constraints:number_words": lambda num_words, relation: words(num_words, relation),
    "length_constraints:number_sentences": lambda num_sentences, relation: sentences(num_sentences, relation),
    "length_constraints:number_paragraphs": lambda num_paragraphs: paragraphs(num_paragraphs),
    "keywords:existence": lambda keywords: keywords_present(*keywords),
    "keywords:forbidden_words": lambda forbidden_words: keywords_absent(*forbidden_words),
    "keywords:frequency": lambda keyword, frequency, relation: keyword_frequency(keyword, frequency, relation),
    "detectable_format:json_format": lambda: json_format(),
    "detectable_format:number_bullet_lists": lambda num_bullets: bullets(num_bullets),
    "change_case:english_lowercase": lambda: lowercase(),
    "change_case:english_capital": lambda: uppercase(),
    "punctuation:no_comma": lambda: no_commas(),
    "startend:end_checker": lambda end_phrase: ends_with(end_phrase),
}


def from_ifeval(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> Check:
    """The check for one IFEval instruction (``instruction_id`` and its ``kwargs`` as IFEval data carries
    them; ``None`` values are dropped). Supported ids: the keys of IFEval's registry listed in this module."""
    factory = _IFEVAL.get(instruction_id)
    if factory is None:
        import difflib

        close = difflib.get_close_matches(instruction_id, list(_IFEVAL), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; supported: {', '.join(sorted(_IFEVAL))}"
        raise ConfigError(f"no ready check for IFEval instruction {instruction_id!r}{hint}", "instruction_id")
    args = {k: v for k, v in (kwargs or {}).items() if v is not None}
    try:
        return factory(**args)
    except TypeError as exc:
        raise ConfigError(f"IFEval instruction {instruction_id!r}: bad kwargs {args!r} ({exc})", "kwargs") from exc

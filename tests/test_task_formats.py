"""Ready parsers for task reply formats: right readings, explicit failures, never a wrong number."""

from __future__ import annotations

import pickle
import random

import pytest

from judgekit.errors import ConfigError, ParseError
from judgekit.parsing import Verdict
from judgekit.task_formats import (
    ARENA_VERDICTS,
    BracketedNumber,
    BracketedVerdict,
    NumberInRange,
    PredScore,
    PredScoreDict,
)

unit = NumberInRange(0, 1)


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("0.5", 0.5),
        ("0.5\nExplanation: only x = -1 is given.", 0.5),
        ("Score: 0.8", 0.8),
        ("  **Correctness:** 1.0  ", 1.0),
        ("Correctness score = 0.3", 0.3),
        ("0.4 (partly right)", 0.4),
        ("0.4 - partly right", 0.4),
        ("0.5.", 0.5),
        (".5", 0.5),
        ("0.7/1", 0.7),
        ("Score: 1. The prediction names both roots.", 1.0),
        ("- Score: 0.3", 0.3),
        ("The prediction gives one of two roots.\nScore: 0.5", 0.5),
        ("0.5\nScore: 0.5", 0.5),  # stated twice, the same
        ("<think>Maybe 0.1? Score: 0.2</think>0.9", 0.9),  # reasoning is never read
        ("0.5\n1. x = -1 is right\n2. x = -5 is missing", 0.5),  # a later list is not a score
        ("0.5 because only one root is right", 0.5),  # a leading number, then prose (MM-Vet's reader: 0.5 too)
        ("\uff10.\uff15", 0.5),  # full-width digits
    ],
)
def test_number_in_range_reads(reply: str, score: float) -> None:
    assert unit(reply) == score


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("I'm sorry, but I can't help with that.", "found no score"),
        ("The correctness is 0.5", "found no score"),  # a number inside a sentence
        ("1. The prediction gives x = -1\nIt misses -5.", "found no score"),  # a list item
        ("1.5", "out of range"),
        ("-0.5", "out of range"),
        ("Score: 8", "out of range"),
        ("0.5 - 1.0", "found no score"),  # a range, not a score
        ("0.5 (or 1.0)", "found no score"),
        ("0.5\nScore: 0.6", "conflicting"),
        ("Score: 0.5\nFinal score: 1.0", "conflicting"),
        ("Score: N/A", "does not hold one clean score"),
        ("Score: 0.5, or maybe 1.0", "does not hold one clean score"),
        ("0.8/10", "not out of 1"),
        ("<think>Score: 0.5", "no answer after its reasoning"),  # cut off while thinking
        ("nan", "found no score"),
    ],
)
def test_number_in_range_fails_explicitly(reply: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        unit(reply)
    assert info.value.kind == "custom"
    assert info.value.raw_text == reply


def test_number_in_range_other_ranges() -> None:
    rating = NumberInRange(1, 10)
    assert rating("Rating: 7/10") == 7
    assert rating("**Final rating:** 8 - detailed and correct") == 8
    with pytest.raises(ParseError, match="out of range"):
        rating("0")


def _distractors(rng: random.Random) -> str:
    """Explanation text full of numbers that are not the score."""
    pieces = [
        "x = -1 and x = -5",
        "1. first point",
        "2) second point",
        "scores 0.3 on one part",
        "it has 2 cats",
        "[1] see above",
        "a 0.9 would be too high",
        "between 0.2 and 0.7",
        "100%",
        "Step 3: check",
        "Ground truth: 1.0",
        "answer 0",
        "(0.6)",
        "- 0.4 - ",
        "10/10",
        "-1",
        "score of 1",
    ]
    return "\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))


def test_number_in_range_never_reads_a_wrong_number() -> None:
    """A reply built around a known score reads as that score or fails; never another number."""
    rng = random.Random(12)
    readings = failures = 0
    for _ in range(3000):
        true = rng.choice([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
        head = rng.choice(
            [
                f"{true}",
                f"Score: {true}",
                f"**Correctness:** {true}",
                f"{true} (see below)",
                "",
                "I cannot grade this.",
                f"The answer deserves {true}",
            ]
        )
        tail = rng.choice(["", f"\nScore: {true}", f"\nFinal score: {true}."])
        reply = f"{head}\n{_distractors(rng)}{tail}" if rng.random() < 0.8 else f"{_distractors(rng)}\n{head}{tail}"
        try:
            value = unit(reply)
        except ParseError:
            failures += 1
            continue
        readings += 1
        assert value == true, reply
    assert readings > 500 and failures > 500  # both paths exercised


def test_bracketed_number() -> None:
    score = BracketedNumber(0, 1)
    assert score("The model names both roots. The correctness score: [[1.0]]") == 1.0
    assert score("[[0.5]] ... as said, [[0.5]]") == 0.5
    assert score("<think>[[0.1]]</think>The Correctness Score: [[ 0.6 ]]") == 0.6
    for reply, reason in [
        ("The Correctness Score: [0.5]", "found no bracketed score"),  # single brackets are never read
        ("See [1]. No score here.", "found no bracketed score"),
        ("[[0.5]] or perhaps [[1.0]]", "conflicting"),
        ("Format: [[score]]. Mine: [[0.5]]", r"found \[\[score\]\]"),
        ("[[5]]", "out of range"),
        ("", "empty"),
    ]:
        with pytest.raises(ParseError, match=reason):
            score(reply)


def test_bracketed_verdict() -> None:
    verdict = BracketedVerdict()
    assert verdict.choices == ARENA_VERDICTS
    assert verdict('My final verdict is tie: "[[A=B]]".') == "A=B"
    assert verdict("Assistant B is much better: [[ B >> A ]]") == "B>>A"
    assert verdict("[[A>B]]\n\nMy final verdict: [[A>B]]") == "A>B"
    assert verdict("<think>[[B>A]] at first</think>Final: [[A>>B]]") == "A>>B"
    for reply, reason in [
        ("Assistant A is better, A>B.", "found no verdict"),  # prose is never read
        ("[[A>B]] ... on reflection [[B>A]]", "conflicting"),
        ("[[A<B]]", r"found \[\[A<B\]\]"),
        ("", "empty"),
    ]:
        with pytest.raises(ParseError, match=reason):
            verdict(reply)
    assert BracketedVerdict(("Correct", "Wrong"))("[[Correct]]") == "Correct"
    with pytest.raises(ConfigError, match="choices"):
        BracketedVerdict(())


def test_pred_score_dict() -> None:
    review = PredScoreDict((0, 5))
    assert review("{'pred': 'yes', 'score': 4}") == PredScore(Verdict("yes"), 4)
    pred, score = review('```\n{"pred": "No.", "score": 1}\n```')
    assert (pred, score, bool(pred)) == ("no", 1, False)
    assert review("{'pred': 'yes', 'score': 4.8}").score == 4.8  # kept as written (lmms-eval truncated to 4)
    assert review("{'pred': 'yes', 'score': '3'}").score == 3
    assert review("{'pred': 'yes', 'score': 4}\n{'pred': 'yes', 'score': 4}").pred == "yes"
    assert review('{"pred": "yes", "score": 5, "ok": true}').score == 5  # JSON literals
    for reply, reason in [
        ("yes, 4", "found no dict"),
        ("{'pred': 'not sure', 'score': 2}", "must be 'yes' or 'no'"),
        ("{'pred': 'yes and no', 'score': 2}", "must be 'yes' or 'no'"),
        ("{'pred': 'yes', 'score': 6}", "out of range"),
        ("{'pred': 'yes', 'score': True}", "must be a number"),
        ("{'pred': 'yes'}", "no 'score'"),
        ("{pred: yes, score: 4}", "found '{pred: yes, score: 4}'"),
        ("{'pred': 'yes', 'score': 4} {'pred': 'no', 'score': 1}", "conflicting"),
        ("{'pred': 'yes', 'score': __import__('os').getpid()}", "found"),  # never evaluated
        ("", "empty"),
    ]:
        with pytest.raises(ParseError, match=reason):
            review(reply)
    assert PredScoreDict(pred_key="correct", score_key="rating")("{'correct': 'yes', 'rating': 2}").score == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: NumberInRange(1, 1),
        lambda: NumberInRange("a", 2),
        lambda: BracketedNumber(0, float("inf")),
        lambda: PredScoreDict(score_range=(5,)),
    ],
)
def test_bad_settings_are_config_errors(make) -> None:
    with pytest.raises(ConfigError):
        make()


def test_parsers_pickle_and_print() -> None:
    for parser in (NumberInRange(0, 1), BracketedNumber(0, 1), BracketedVerdict(), PredScoreDict()):
        assert pickle.loads(pickle.dumps(parser)) == parser
    assert repr(NumberInRange(0, 1)) == "NumberInRange(low=0.0, high=1.0)"

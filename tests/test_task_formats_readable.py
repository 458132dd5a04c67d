"""The migration parsers read what a person reads at once, and only that (issue 21, item 7).

Refusing a plainly written score is not neutral: partial credit tends to come with an explanation, so the
refused replies are the low ones and `graded_mean` over the rest leans high.
"""

from __future__ import annotations

import pytest
from lmms_eval_originals import activitynetqa_original_parse, mmvet_original

from judgekit import graded_mean
from judgekit.errors import ParseError
from judgekit.parsing import Verdict
from judgekit.task_formats import NumberInRange, PredScore, PredScoreDict

unit = NumberInRange(0, 1)
five = NumberInRange(1, 5)
review = PredScoreDict((0, 5))


@pytest.mark.parametrize(
    ("parser", "reply", "value"),
    [
        (unit, "0.7 The prediction names one of the two elements", 0.7),
        (unit, "0.5 The prediction gets x = -1 but misses x = -5.", 0.5),  # a number after "=" belongs to it
        (unit, "0.5. The prediction names one root.", 0.5),
        (five, "Rating: 4 out of 5", 4),
        (five, "4 out of 5 - one step is unclear", 4),
        (five, "Rating: 4/5", 4),
        (five, "Rating: 4 (minor issue in step 2)", 4),
        (five, "**Score:** 3. The answer misses step 2 and step 3.", 3),
        (five, "4 The explanation is correct apart from step 2.", 4),
    ],
)
def test_a_plainly_written_score_is_read(parser: NumberInRange, reply: str, value: float) -> None:
    assert parser(reply) == value


def test_mmvet_reads_what_mmvets_own_reader_reads() -> None:
    for reply in ["0.7 The prediction names one of the two elements", "0.5 because only one root is right"]:
        original, _calls = mmvet_original(lambda temperature, reply=reply: reply)
        assert unit(reply) == original


@pytest.mark.parametrize(
    ("parser", "reply", "reason"),
    [
        (five, "3-4", "found no score"),  # a range
        (five, "Rating: 3-4", "does not hold one clean score"),
        (unit, "0.5 - 1.0", "found no score"),
        (five, "3 or 4", "found no score"),
        (five, "Rating: 3 (maybe 4)", "does not hold one clean score"),
        (unit, "0.5 (or 1.0)", "found no score"),
        (five, "Score: 3, 4", "does not hold one clean score"),
        (five, "4 The answer deserves a score of 5.", "found no score"),  # a second score in the prose
        (five, "Rating: 4\nFinal rating: 3 out of 5", "conflicting"),
        (five, "Rating: 4 out of 10", "not out of 5"),
        (unit, "1. The prediction names both roots.", "found no score"),  # a list item, not a score
        (unit, "0.5%", "found no score"),
    ],
)
def test_an_ambiguous_reply_still_fails(parser: NumberInRange, reply: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parser(reply)


def test_text_and_braces_after_a_dict() -> None:
    reply = "{'pred': 'yes', 'score': 3} (the {answer} matches)"
    assert review(reply) == PredScore(Verdict("yes"), 3)
    assert activitynetqa_original_parse(reply) == ["yes", 3]  # the original read it too
    assert review("Result: {'pred': 'no', 'score': 1}. {} is empty, so {prediction} is wrong.").score == 1
    for bad, reason in [
        ("{'pred': 'yes', 'score': 3} {pred: no}", "found '{pred: no}'"),  # dict-like text that is no dict
        ("{'pred': 'yes', 'score': 3} then {'pred': 'no', 'score': 1}", "conflicting"),
    ]:
        with pytest.raises(ParseError, match=reason):
            review(bad)


def test_explained_partial_credit_no_longer_biases_the_mean() -> None:
    """Full marks come bare, partial credit with an explanation: every reply is read, so the mean is true."""
    truth = [1.0] * 30 + [0.5] * 15 + [0.0] * 5
    explained = {
        1.0: ["1.0", "Score: 1.0"],
        0.5: ["0.5 The prediction names one of the two elements", "Score: 0.5 (one of 2 roots)", "0.5/1 - partly"],
        0.0: ["0.0 The prediction is wrong.", "0 - nothing matches"],
    }
    replies = [explained[score][i % len(explained[score])] for i, score in enumerate(truth)]
    mean = graded_mean([unit(r) for r in replies], name="mmvet")
    assert mean.failed_share == 0.0
    assert mean.mean == pytest.approx(sum(truth) / len(truth))

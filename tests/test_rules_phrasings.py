"""The rules judge on generated phrasings with known truth: it never accepts a wrong answer (issue 21, item 6).

Templates x values (numbers, option letters, words): right answers stated plainly, corrected
("5, not 4", "actually 5"), or with an aside; wrong answers stated plainly, negated ("not 4", "4 is wrong"),
corrected away ("4, actually 5"), hedged ("maybe 4, maybe 5", "4 or 5") or taken back after the answer.
Precision must be 1.0; recall is printed, recorded (``rules_recall``) and must be what docs/judges/rules.md states.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.verifiers import verify_answer

# (reference, another value); the reference is what the question's right answer is.
VALUES = [
    ("4", "5"),
    ("12", "13"),
    ("3.5", "2"),
    ("100", "1000"),
    ("7", "70"),
    ("0.25", "0.5"),
    ("42", "24"),
    ("B", "C"),
    ("D", "B"),
    ("C", "E"),
    ("Paris", "London"),
    ("blue", "red"),
    ("mitochondria", "nucleus"),
]

RIGHT = [  # {t}: the reference, {w}: the other value
    "{t}",
    "The answer is {t}.",
    "Final answer: {t}",
    "It is {t}, not {w}.",
    "The answer is {t}, not {w}.",
    "{t} rather than {w}.",
    "The answer is {t}. ({w} was my first guess)",
    "I first thought {w}, but actually it is {t}.",
    "{w}, actually {t}",
    "Answer: {w}, actually {t}",
    "It isn't {w}; it's {t}.",
    "The answer is \\boxed{{{t}}}.",
    "{w} is wrong, the answer is {t}.",
    "Not {w}. The answer is {t}.",
    "The answer is {t} (not {w}).",
    "Final answer: {t}\nThe other option, {w}, does not fit.",
    "Not {w} but {t}",
    "It's not {w} \u2014 it's {t}!",
]

WRONG = [
    "{w}",
    "The answer is {w}.",
    "The answer is not {t}.",
    "It is {w}, not {t}.",
    "It's {w}, not {t}.",
    "The answer is {w}. ({t} was my first guess)",
    "{t}, actually {w}",
    "The answer is {t}. Actually, it is {w}.",
    "The answer is {t}.\nWait, no, it is {w}.",
    "Either {t} or {w}.",
    "{t} or {w}",
    "Maybe {t}, maybe {w}.",
    "It could be {t} or {w}.",
    "It isn't {t}.",
    "{t} is wrong.",
    "{t} is incorrect; the answer is {w}.",
    "The answer is {w}, rather than {t}.",
    "The answer is {w} rather than {t}.",
    "The answer is not \\boxed{{{t}}}.",
    "\\boxed{{{t}}} is wrong.",
    "The answer is {w} ({t} was a typo).",
    "Definitely not {t}.",
    "Possibly {t}.",
    "{t}? No, {w}.",
    "I'd say {t} or maybe {w}.",
    "Answer: {t}\nBut {t} is wrong, it should be {w}.",
    "The answer is {t}.\nActually, I made a mistake: it is {w}.",
    "Answer: {t}\nHmm, or perhaps {w}.",
    "The answer is {w}, and {t} is not correct.",
    "Final answer: {w} (I double-checked: {t} is ruled out)",
    "{t} is not the answer.",
    "{t} (or maybe {w})",
    "{t} if x > 0, otherwise {w}",
    "Between {t} and {w}.",
    "{t} and {w}",
    "The answer is {t}... just kidding, it is {w}.",
    "Not sure, but {t}.",
    "{t}/{w}",
    "Anything but {t}.",
    "I would not say {t}.",
    "{t} is a common mistake; the answer is {w}.",
    "The answer is {w}; {t} is a distractor that does not hold.",
    "{t} (no wait, {w})",
    "{t}, actually no.",
    "{t}... or is it {w}?",
    "Not {t} but {w}",
    "{t} would be wrong.",
    "The answer can't be {t}.",
    "{t} isn't it.",
    "{t}, {w}",
    "\\boxed{{{t}}}, actually {w}",
    "\\boxed{{{t}}}\nActually the answer is {w}.",
    "{t} or more",
    "The answer is {t}, or so I thought; it is {w}.",
]


def _phrasings() -> list[tuple[str, str, bool]]:
    """``(prediction, reference, is_right)`` for every template and value pair."""
    cases = []
    for truth, other in VALUES:
        for template, right in [*((t, True) for t in RIGHT), *((t, False) for t in WRONG)]:
            cases.append((template.format(t=truth, w=other), truth, right))
    return cases


PHRASINGS = _phrasings()


def test_the_phrasing_set_is_large_and_mixed() -> None:
    assert len(PHRASINGS) >= 200
    assert sum(right for *_, right in PHRASINGS) >= 100 and sum(not right for *_, right in PHRASINGS) >= 200


def test_no_wrong_answer_is_accepted_and_recall_is_recorded(record_property: pytest.RecordProperty) -> None:
    accepted_wrong, missed = [], []
    for prediction, reference, right in PHRASINGS:
        verdict = verify_answer(prediction, reference)
        if verdict.correct and not right:
            accepted_wrong.append((prediction, reference, verdict.detail))
        elif right and not verdict.correct:
            missed.append((prediction, reference, verdict.detail))
    n_right = sum(right for *_, right in PHRASINGS)
    recall = (n_right - len(missed)) / n_right
    print(f"rules judge on {len(PHRASINGS)} phrasings: precision 1.0 required, recall {recall:.3f}")
    record_property("rules_recall", round(recall, 3))
    assert not accepted_wrong, accepted_wrong  # precision 1.0
    assert recall >= 0.80, missed
    doc = (Path(__file__).resolve().parents[1] / "docs" / "judges" / "rules.md").read_text()
    assert f"{len(PHRASINGS)} phrasings" in doc and f"recall {recall:.3f}" in doc  # the docs state what was measured


def test_the_docs_snippet_runs() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "judges" / "rules.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(snippet, "rules.md", "exec"), {})


@pytest.mark.parametrize(
    ("prediction", "why"),
    [
        ("The answer is not 4.", "rejects"),
        ("It is 5, not 4.", "number: 5 != 4"),
        ("The answer is 5. (4 was my first guess)", "number: 5 != 4"),
        ("Either 4 or 5.", "ambiguous"),
        ("4 or 5", "alternatives"),
        ("Maybe 4, maybe 5.", "hedged"),
        ("The answer is 4.\nActually, it is 5.", "takes its final answer back"),
    ],
)
def test_the_issue_examples_are_refused_with_a_reason(prediction: str, why: str) -> None:
    verdict = verify_answer(prediction, "4")
    assert not verdict.correct
    assert why in verdict.detail, verdict.detail


def test_the_rules_judge_and_its_reason() -> None:
    judge = SimplifiedJudge(api_type="rules")
    assert judge.evaluate_binary("2+2?", "4", "It is 5, not 4.")["result"] == 0
    refused = judge.evaluate_binary("2+2?", "4", "Maybe 4, maybe 5.")
    assert refused["result"] == 0 and "hedged" in refused["reasoning"]
    assert judge.evaluate_binary("2+2?", "4", "It is 4, not 5.")["result"] == 1

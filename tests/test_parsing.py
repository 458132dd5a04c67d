"""Tests for `judgekit.parsing`: the verdict comes from the judge's final answer, or a `ParseError`."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import time
from typing import Any

import pytest

from judgekit.errors import ConfigError, ParseError
from judgekit.parsing import (
    PARSERS,
    Verdict,
    parse_binary,
    parse_comparative,
    parse_correctness,
    parse_json,
    parse_pairwise,
    parse_pointwise,
    parse_rubric,
    parse_verdict_token,
    split_reasoning,
)

# ------------------------------------------------------------------------------------------ split_reasoning


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("Just the answer: 1", "Just the answer: 1", None),
        ("<think>It says 10, so yes?</think>\n\n0", "0", "It says 10, so yes?"),
        ("<THINK>\nline 1\nline 2\n</Think>\nYes", "Yes", "line 1\nline 2"),
        ("<think>a</think>middle<think>b</think>end", "middleend", "a\nb"),
        ("<thinking>compare 1 and 10</thinking>\nVerdict: 0", "Verdict: 0", "compare 1 and 10"),
        ("<reasoning>the answer is yes</reasoning>No", "No", "the answer is yes"),
        # Qwen3: the opening tag was in the prompt, the reply starts inside the reasoning
        ("Okay, 1 or 10? Yes.\n</think>\n\n0", "0", "Okay, 1 or 10? Yes."),
        ("first</think>second</think>\n1", "1", "first\nsecond"),
        ("r1</think>answer<think>r2</think>final", "final", "r1\nanswer\nr2"),
        ("<think>a</think> b </think> c", "c", "a\nb"),
        # truncated while thinking: no answer at all
        ("<think>The prediction says 1 and the answer is", "", "The prediction says 1 and the answer is"),
        ("<think>a</think>\n1\n<think>more thoughts, yes", "", "a\n1\nmore thoughts, yes"),
        ("<think></think>\n1", "1", None),
        ("  \n", "", None),
    ],
)
def test_split_reasoning(text: str, answer: str, reasoning: str | None) -> None:
    assert split_reasoning(text) == (answer, reasoning)


def test_split_reasoning_provider_reasoning_comes_first() -> None:
    assert split_reasoning("<think>tag part</think>1", reasoning="provider part") == ("1", "provider part\ntag part")
    assert split_reasoning("1", reasoning="provider part") == ("1", "provider part")
    assert split_reasoning("1", reasoning="") == ("1", None)


# ------------------------------------------------------------------------------------------ verdict tokens


@pytest.mark.parametrize(
    "token",
    [
        "1",
        "yes",
        "Yes",
        "YES",
        "y",
        "correct",
        "Correct",
        "true",
        "TRUE",
        "right",
        "1.0",
        "1.00",
        "**Yes**",
        "[1]",
        "[[1]]",
        "(yes)",
        "{1}",
        "'yes'",
        '"Yes"',
        "`1`",
        "_yes_",
        "Yes.",
        "yes!",
        "1:",
        "Correct;",
        " yes ,",
        "$1$",
        "１",
        "ｙｅｓ",
        "\u00a0yes\u00a0",
    ],
)
def test_positive_tokens(token: str) -> None:
    assert parse_verdict_token(token) is True


@pytest.mark.parametrize(
    "token",
    [
        "0",
        "no",
        "No",
        "n",
        "N",
        "incorrect",
        "Incorrect",
        "false",
        "wrong",
        "0.0",
        "**No**",
        "[0]",
        "No.",
        "'no'",
        "０",
    ],
)
def test_negative_tokens(token: str) -> None:
    assert parse_verdict_token(token) is False


@pytest.mark.parametrize(
    "token",
    [
        "10",
        "0.1",
        "-1",
        "+1",
        "1/1",
        "01",
        "1.5",
        "11",
        "partially correct",
        "not correct",
        "A",
        "B",
        "maybe",
        "",
        "   ",
        "**",
        "yes no",
        "0 (not 1)",
        "10/10",
        "1.0.0",
        "equivalent",
        "1e0",
        "①x",
    ],
)
def test_not_verdict_tokens(token: str) -> None:
    assert parse_verdict_token(token) is None


# ------------------------------------------------------------------------------------------------- Verdict


def test_verdict_truthiness() -> None:
    assert bool(Verdict("yes")) is True
    assert bool(Verdict("no")) is False
    assert (1 if Verdict("no") else 0) == 0
    assert (1 if Verdict("yes") else 0) == 1
    assert Verdict("yes") == "yes" and Verdict("no") == "no"
    assert Verdict("YES") == "yes"
    assert isinstance(Verdict("no"), str)
    assert repr(Verdict("no")) == "Verdict('no')"
    assert json.dumps({"result": Verdict("no")}) == '{"result": "no"}'


@pytest.mark.parametrize("value", ["maybe", "", "1", "true"])
def test_verdict_rejects_other_words(value: str) -> None:
    with pytest.raises(ValueError, match="'yes' or 'no'"):
        Verdict(value)


@pytest.mark.parametrize("value", ["yes", "no"])
def test_verdict_survives_pickle_and_copy(value: str) -> None:
    for clone in (pickle.loads(pickle.dumps(Verdict(value))), copy.deepcopy(Verdict(value))):
        assert type(clone) is Verdict and clone == value and bool(clone) is (value == "yes")


# -------------------------------------------------------------------------------------------- parse_binary

BINARY_ONE = [
    "1",
    "  1  \n",
    "[1]",
    "**Yes**",
    "Yes.",
    "correct",
    "1.0",
    # step 1: JSON
    '{"verdict": 1}',
    '{"verdict": true}',
    '{"result": "yes", "explanation": "The prediction matches the answer 10."}',
    '{"Correct": "Yes"}',
    '{"answer": "Paris", "correct": true}',
    '{"score": 1.0}',
    'Here is my judgement:\n```json\n{"judgement": "correct", "reason": "0 errors"}\n```',
    # step 2: tags and \boxed, last occurrence wins
    "<answer>1</answer>",
    "The prediction says 12.5, not 10. <verdict> yes </verdict>",
    "<score>1</score>",
    "<Answer>\nYes\n</Answer>",
    "Compare 0 and 10. The final answer is $\\boxed{1}$.",
    "\\boxed{\\text{Yes}}",
    "<answer>0</answer> wait, I misread the reference. <answer>1</answer>",
    "<answer><verdict>1</verdict></answer>",
    # step 3: markers, the last one wins
    "Final answer: 1",
    "Final Answer: **1**",
    "**Final Answer:** 1",
    "**Final Verdict**: Yes",
    "### Verdict: yes",
    "- Verdict: [1]",
    "Verdict: Yes, because the prediction 10 equals the reference 10.",
    "The model says 0.1 and the reference says 0.10. They are equal. Verdict: 1",
    "Judgement: correct",
    "Judgment: true",
    "Score: 1",
    "score = 1",
    "Output: 1",
    "Result: 1.",
    "Correct: yes",
    "Answer: 0\n\nWait, re-reading the question the prediction is right.\nFinal answer: 1",
    "Final answer:\n1",
    "Ground truth answer: no. Model answer: No. They match.\n1",
    "The reference answer: 10. The predicted answer: 10.\n\nFinal Verdict: 1",
    # steps 4 and 5: a lone token, or the last line
    "The prediction says 10 and the answer is 10.\n1",
    "Reasoning: both say 0.1.\n\n**1**",
    "Both answers are 10 (ten).\n\nYes.",
    # reasoning models: the <think> block never counts
    "<think>Is it 0? The reference is 10, not 1. Answer: no</think>\n1",
    "<think>Score: 0</think>\n\nFinal answer: yes",
    "Okay, the answer is no... wait, 10 == 10.\n</think>\n\n1",
    # unicode and line endings
    "Final answer：１",
    "Final\u00a0answer:\u00a0yes",
    "Explanation: matches.\r\nVerdict: 1\r\n",
    "Both are 10.\r\n1\r\n",
    "Correct\u200b",
]

BINARY_ZERO = [
    "0",
    "[0]",
    "No.",
    "**No**",
    "incorrect",
    "0.0",
    '{"verdict": 0}',
    '{"verdict": false}',
    '{"correct": "no", "answer": "yes"}',
    '```json\n{"result": "incorrect"}\n```',
    "<answer>0</answer>",
    "<verdict>No</verdict>",
    "\\boxed{0}",
    "<answer>1</answer>\nHmm, no: the units differ.\n<answer>0</answer>",
    "Final answer: 0",
    "Verdict: No, because the prediction is 12 and the answer is 10.",
    "score: 0 out of 1",
    "Score: 0 (not 1)",
    "Final answer: 0 (not 1)",
    "Answer: yes\nPrediction: yes (unit missing)\nFinal verdict: no",
    "The prediction says 12 but the answer is 10.\n0",
    "The prediction is 1, the answer is 10.\n\nNo",
    "<think>yes yes yes, 1 1 1</think>\n0",
    "<think>1</think>\n<think>10</think>\nVerdict: 0",
    "I think 1... hmm, no.\n</think>\nwrong",
    "Final answer: ０",
]


@pytest.mark.parametrize("text", BINARY_ONE)
def test_binary_one(text: str) -> None:
    result = parse_binary(text)
    assert result == 1 and type(result) is int


@pytest.mark.parametrize("text", BINARY_ZERO)
def test_binary_zero(text: str) -> None:
    result = parse_binary(text)
    assert result == 0 and type(result) is int


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the lmms-eval bug cases: never 1
        ("10", "found none in the reply"),
        ("0.1", "found none in the reply"),
        ("-1", "found none in the reply"),
        ("0 (not 1)", "found none in the reply"),
        ("Score: 10", "after 'Score', found it followed by '10'"),
        ("Score: 0.1", "'0.1'"),
        ("Score: -1", "'-1'"),
        ("Score: 1/1", "'1/1'"),
        ("I would give it 10 out of 10, it is 100% right 1 time.", "found none"),
        # multiple choice is not a verdict
        ("A", "found none"),
        ("Answer: A", "'A'"),
        ("Answer: Paris\nPrediction: Paris\n1", "'Paris'"),  # a bad marker value never falls through
        ("Verdict: partially correct", "'partially'"),
        ("Verdict: not correct", "'not'"),
        ("Final answer:", "with nothing after it"),
        ("<answer>10</answer>", "'<answer>10</answer>'"),
        ("<answer>The prediction is correct</answer>\n1", "<answer>"),
        ("<score>0.5</score>", "<score>0.5</score>"),
        ("\\boxed{-1}", "boxed"),
        ('{"verdict": 10}', "'verdict': 10"),
        ('{"verdict": "maybe"}', "'verdict': 'maybe'"),
        ('{"verdict": null}', "'verdict': None"),
        ('{"reasoning": "long"}', "found none"),
        # conflicting final answers are not guessed
        ("Final answer: 1\n\n0", "conflicting"),
        ("<answer>1</answer>\nVerdict: no", "conflicting"),
        ("Answer: no\nPrediction: No\n1", "conflicting"),
        # truncated replies
        ("The prediction says 10 and the reference", "found none"),
        ("<think>The answer is clearly 1, so I will say yes", "no answer after its reasoning"),
        ("<think>1</think>", "no answer after its reasoning"),
        ("", "the reply is empty"),
        ("   \n\t", "the reply is empty"),
        ("１０", "found none"),
    ],
)
def test_binary_unreadable(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=r"^binary: ") as info:
        parse_binary(text)
    assert message in str(info.value)
    assert info.value.raw_text == text and info.value.kind == "binary"
    assert isinstance(info.value, ValueError)


def test_binary_error_message_says_what_was_expected() -> None:
    with pytest.raises(ParseError, match=r"^binary: expected a final verdict 1 or 0, found none in the reply$"):
        parse_binary("The answer is ten.")
    with pytest.raises(ParseError, match=r"^binary: expected a final verdict yes or no, found none in the reply$"):
        parse_binary("The answer is ten.", output_format="yes/no")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "yes"),
        ("0", "no"),
        ("Yes", "yes"),
        ("no", "no"),
        ("Verdict: correct", "yes"),
        ("<answer>0</answer>", "no"),
    ],
)
def test_binary_yes_no_format(text: str, expected: str) -> None:
    result = parse_binary(text, output_format="yes/no")
    assert type(result) is Verdict and result == expected
    assert bool(result) is (expected == "yes")


@pytest.mark.parametrize("output_format", ["yes_no", "binary", "", "1/0", "YES/NO"])
def test_binary_rejects_unknown_output_format(output_format: str) -> None:
    with pytest.raises(ValueError, match="output_format") as info:
        parse_binary("1", output_format=output_format)
    assert isinstance(info.value, ConfigError) and info.value.field == "output_format"


# --------------------------------------------------------------------------------------- parse_correctness


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0", 0),
        ("Correct", 1),
        ("incorrect", 0),
        ("Equivalent", 1),
        ("Not equivalent", 0),
        ("**Not Equivalent**", 0),
        ("The expressions x+1 and 1+x are the same.\nEquivalent", 1),
        ("0.5 vs 1/2: same value.\nequivalent.", 1),
        ("10 vs 1.0: different.\nNOT EQUIVALENT", 0),
        ("Verdict: Not equivalent.", 0),
        ("<think>equivalent? 1?</think>\nNot equivalent", 0),
        ('{"correct": false}', 0),
        ("score: 0 out of 1", 0),
    ],
)
def test_correctness(text: str, expected: int) -> None:
    result = parse_correctness(text)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    "text", ["10", "0.1", "-1", "0 (not 1)", "Score: 10", "mostly equivalent", "equivalent-ish", "A", ""]
)
def test_correctness_unreadable(text: str) -> None:
    with pytest.raises(ParseError, match=r"^correctness: ") as info:
        parse_correctness(text)
    assert info.value.kind == "correctness" and info.value.raw_text == text


def test_binary_does_not_accept_equivalent() -> None:
    with pytest.raises(ParseError):
        parse_binary("Equivalent")


# --------------------------------------------------------------------------------------- parse_comparative


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 9", (8.0, 9.0)),
        ("8, 9", (8.0, 9.0)),
        ("8;9", (8.0, 9.0)),
        (" 8.5  3 ", (8.5, 3.0)),
        ("8 and 9", (8.0, 9.0)),
        ("8/9", (8.0, 9.0)),
        ("10 1", (10.0, 1.0)),
        ("**7 6**", (7.0, 6.0)),
        ("[8, 9]", (8.0, 9.0)),
        ("8 9\nAssistant 1 was more detailed than Assistant 2, which scored 2 points lower.", (8.0, 9.0)),
        ("Here are my scores:\n7 4\n\nExplanation: Assistant 1 ...", (7.0, 4.0)),
        ("７ ８", (7.0, 8.0)),
        ("8 9\r\nExplanation.\r\n", (8.0, 9.0)),
        ("<think>maybe 2 3? or 10 1</think>\n6 7", (6.0, 7.0)),
        ('{"score1": 8, "score2": 9}', (8.0, 9.0)),
        ('{"Assistant 1": 7.5, "Assistant 2": "6"}', (7.5, 6.0)),
        ('{"response1": {"score": 4}, "response2": {"score": 5}}', (4.0, 5.0)),
        ('{"A": 3, "B": 9}', (3.0, 9.0)),
        ('My scores:\n```json\n{"scores": {"assistant_a": 2, "assistant_b": 10}}\n```', (2.0, 10.0)),
        ('Result: {"response_1_score": 5, "response_2_score": 6} as requested.', (5.0, 6.0)),
        ("Assistant 1: 8\nAssistant 2: 9", (8.0, 9.0)),
        ("Assistant 1 gave a vague answer.\nAssistant 2 was precise.\n\nAssistant 1: 3\nAssistant 2: 9", (3.0, 9.0)),
        ("**Assistant 1**: 8/10\n**Assistant 2**: 6/10", (8.0, 6.0)),
        ("Response 1: 2\nResponse 2: 10", (2.0, 10.0)),
        ("Score 1: 5\nScore 2: 4", (5.0, 4.0)),
        ("Assistant A: 1\nAssistant B: 2", (1.0, 2.0)),
        ("- Assistant 2 score: 7\n- Assistant 1 score: 4", (4.0, 7.0)),
        ("Assistant 1's score: 6.5\nAssistant 2's score: 8", (6.5, 8.0)),
        ("Score for Assistant 1: 8\nScore for Assistant 2: 1", (8.0, 1.0)),
        ("Assistant 1: 5\nAssistant 2: 5\nOn reflection:\nAssistant 1: 6\nAssistant 2: 4", (6.0, 4.0)),
        ("Assistant 1: 8, Assistant 2: 9", (8.0, 9.0)),
        ("Assistant 1: 8 - detailed\nAssistant 2: 7 (misses a step)", (8.0, 7.0)),
        ("Assistant 1: 8 out of 10. Assistant 2: 7 points.", (8.0, 7.0)),
    ],
)
def test_comparative(text: str, expected: tuple[float, float]) -> None:
    result = parse_comparative(text)
    assert result == expected
    assert all(type(score) is float for score in result)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8-9", "found none"),  # a dash is not a minus sign
        ("8 - 9", "found none"),
        ("Assistant 1 is better than Assistant 2.", "found none"),  # label digits are not scores
        ("Assistant 1\nAssistant 2", "found none"),
        ("Assistant 1: 8", "found none"),  # one score is not enough
        ("8", "found none"),
        ("8 9 10", "found none"),
        ("Response 1: 2 paragraphs\nResponse 2: 3 lines", "found none"),  # counts are not scores
        ("Assistant 1 scores eight and Assistant 2 scores nine.", "found none"),
        ("11 9", "the score of response 1 is 11, out of range [1, 10]"),
        ("8 0", "the score of response 2 is 0, out of range [1, 10]"),
        ("8 -9", "the score of response 2 is -9, out of range [1, 10]"),
        ("Assistant 1: 80\nAssistant 2: 90", "out of range"),
        ('{"score1": 8, "score2": "high"}', "score of response 2"),
        ('{"score1": 8, "score2": true}', "score of response 2"),
        ("<think>8 9</think>", "no answer after its reasoning"),
        ("", "the reply is empty"),
    ],
)
def test_comparative_unreadable(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=r"^comparative: ") as info:
        parse_comparative(text)
    assert message in str(info.value)
    assert info.value.kind == "comparative" and info.value.raw_text == text


def test_comparative_custom_range() -> None:
    assert parse_comparative("0 100", score_range=(0, 100)) == (0.0, 100.0)
    assert parse_comparative("-2 3", score_range=(-5, 5)) == (-2.0, 3.0)
    with pytest.raises(ParseError, match="out of range"):
        parse_comparative("6 3", score_range=(1, 5))
    with pytest.raises(ConfigError, match="score_range"):
        parse_comparative("6 3", score_range=(10, 1))


def test_comparative_error_says_what_was_expected() -> None:
    with pytest.raises(ParseError, match="expected two scores"):
        parse_comparative("Both are fine.")


# -------------------------------------------------------------------------------------------- parse_rubric

CRITERIA = ["Helpfulness", "Accuracy", "Clarity"]


@pytest.mark.parametrize(
    "text",
    [
        '{"Helpfulness": 8, "Accuracy": 7, "Clarity": 9}',
        '{"helpfulness": 8, "accuracy": "7", "clarity": 9.0}',
        '{"Helpfulness": {"score": 8, "reason": "good"}, "Accuracy": {"score": 7}, "Clarity": {"Score": 9}}',
        'Scores:\n```json\n{"scores": {"helpfulness": 8, "accuracy": 7, "clarity": 9}}\n```',
        'My evaluation is {"Helpfulness": 8, "Accuracy": 7, "Clarity": 9} as shown.',
        "Helpfulness: 8\nAccuracy: 7\nClarity: 9",
        "- **Helpfulness**: 8/10\n- **Accuracy**: 7/10\n- **Clarity**: 9/10",
        "helpfulness = 8\naccuracy = 7\nclarity = 9",
        "1. Helpfulness: 8 - very useful\n2. Accuracy: 7 - one error\n3. Clarity: 9",
        "**Helpfulness:** 8\n**Accuracy:** 7\n**Clarity:** **9**",
        "Helpfulness (1-10): 8\nAccuracy (1-10): 7\nClarity (1-10): 9",
        "Helpfulness score: 8\nAccuracy score: 7\nClarity score: 9",
        "| Criterion | Score |\n|---|---|\n| Helpfulness | 8 |\n| Accuracy | 7 |\n| Clarity | 9 |",
        "Helpfulness: 3\nAccuracy: 7\nClarity: 9\nOn second thought:\nHelpfulness: 8",
        "<think>Helpfulness: 1, Accuracy: 1, Clarity: 1</think>\nHelpfulness: 8\nAccuracy: 7\nClarity: 9",
        "Helpfulness：８\r\nAccuracy: 7\r\nClarity:\u00a09\r\n",
        "Helpfulness: 8, Accuracy: 7; Clarity: 9",
        "Helpfulness: 8 - useful\nAccuracy: 7 (one slip)\nClarity: 9.",
    ],
)
def test_rubric(text: str) -> None:
    result = parse_rubric(text, CRITERIA, score_range=(1, 10))
    assert result == {"Helpfulness": 8.0, "Accuracy": 7.0, "Clarity": 9.0}
    assert list(result) == CRITERIA and all(type(v) is float for v in result.values())


def test_rubric_criterion_names_with_spaces_and_underscores() -> None:
    text = '{"factual_accuracy": 4, "Visual Grounding": 5}'
    assert parse_rubric(text, ["Factual Accuracy", "visual_grounding"]) == {
        "Factual Accuracy": 4.0,
        "visual_grounding": 5.0,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Helpfulness: 8\nAccuracy: 7", "missing: Clarity"),
        ("Helpfulness: 8", "missing: Accuracy, Clarity"),
        ('{"Helpfulness": 8, "Accuracy": 7}', "missing: Clarity"),
        ("The response is helpful (8), accurate (7) and clear (9).", "missing: Helpfulness, Accuracy, Clarity"),
        ("Helpfulness: high\nAccuracy: 7\nClarity: 9", "missing: Helpfulness"),
        ("Helpfulness: 2 errors found\nAccuracy: 7\nClarity: 9", "missing: Helpfulness"),
        ("Helpfulness: 8\nAccuracy: 11\nClarity: 9", "the score of 'Accuracy' is 11, out of range [1, 10]"),
        ("Helpfulness: -1\nAccuracy: 7\nClarity: 9", "out of range"),
        ('{"Helpfulness": 8, "Accuracy": "n/a", "Clarity": 9}', "expected a number as the score of 'Accuracy'"),
        ('{"Helpfulness": 8, "Accuracy": true, "Clarity": 9}', "score of 'Accuracy'"),
        ('{"Helpfulness": 8, "Accuracy": NaN, "Clarity": 9}', "score of 'Accuracy'"),
        ("<think>Helpfulness: 8\nAccuracy: 7\nClarity: 9", "no answer after its reasoning"),
        ("", "the reply is empty"),
    ],
)
def test_rubric_unreadable(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=r"^rubric: ") as info:
        parse_rubric(text, CRITERIA, score_range=(1, 10))
    assert message in str(info.value)
    assert info.value.kind == "rubric" and info.value.raw_text == text


def test_rubric_without_range_keeps_any_number() -> None:
    assert parse_rubric("Helpfulness: -3\nAccuracy: 120", ["Helpfulness", "Accuracy"]) == {
        "Helpfulness": -3.0,
        "Accuracy": 120.0,
    }


def test_rubric_needs_criteria() -> None:
    with pytest.raises(ConfigError, match="criteria"):
        parse_rubric("Helpfulness: 8", [])


# ------------------------------------------------------------------------------------------ parse_pointwise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<score>7</score>", 7.0),
        ("<score> 7.5 </score>", 7.5),
        ("<SCORE>\n3\n</SCORE>", 3.0),
        ("The answer is mostly right; one detail (10 items, not 11) is off.\n<score>8</score>", 8.0),
        ("First guess <score>3</score>. After checking the units: <score>6</score>", 6.0),
        ("<score>6</score> </score>", 6.0),
        ("<score>2</score>\n<score>", 2.0),
        ("<think>I'd give <score>1</score></think>\n<score>9</score>", 9.0),
        ("<score>**4**</score>", 4.0),
        ("<score>０</score>", 0.0),
        ("<score>10</score>\r\n", 10.0),
    ],
)
def test_pointwise(text: str, expected: float) -> None:
    result = parse_pointwise(text, score_range=(0, 10))
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Score: 7", "expected <score>N</score>"),
        ("7", "expected <score>N</score>"),
        ("<score>7", "expected <score>N</score>"),  # truncated
        ("<score>seven</score>", "expected a number inside <score>"),
        ("<score>7</score> then <score>n/a</score>", "<score>n/a</score>"),  # the last tag wins, even a bad one
        ("<score>11</score>", "the score is 11, out of range [0, 10]"),
        ("<score>-1</score>", "out of range"),
        ("<think><score>7</score>", "no answer after its reasoning"),
        ("", "the reply is empty"),
    ],
)
def test_pointwise_unreadable(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=r"^pointwise: ") as info:
        parse_pointwise(text, score_range=(0, 10))
    assert message in str(info.value)
    assert info.value.kind == "pointwise"


def test_pointwise_negative_only_when_range_allows() -> None:
    assert parse_pointwise("<score>-2.5</score>") == -2.5
    assert parse_pointwise("<score>-2.5</score>", score_range=(-5, 5)) == -2.5
    with pytest.raises(ParseError, match="out of range"):
        parse_pointwise("<score>-2.5</score>", score_range=(0, 5))


# ------------------------------------------------------------------------------------------- parse_pairwise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<better>A</better>", "A"),
        ("<better>b</better>", "B"),
        ("<BETTER> A </BETTER>", "A"),
        ("<better>Response B</better>", "B"),
        ("<better>Assistant A</better>", "A"),
        ("<better>**B**</better>", "B"),
        ("Response A is longer but Response B is correct.\n<better>B</better>", "B"),
        ("Initially <better>A</better>, but B handles the edge case. <better>B</better>", "B"),
        ("<think><better>A</better></think>\n<better>B</better>", "B"),
        ("Reason...\r\n<better>A</better>\r\n", "A"),
    ],
)
def test_pairwise(text: str, expected: str) -> None:
    assert parse_pairwise(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "A",
        "Response A is better.",
        "<better>tie</better>",
        "<better>C</better>",
        "<better>A and B</better>",
        "<better>B</better> ... <better>neither</better>",
        "<better>A",
        "<think><better>A</better>",
        "",
    ],
)
def test_pairwise_unreadable(text: str) -> None:
    with pytest.raises(ParseError, match=r"^pairwise: expected <better>A</better> or <better>B</better>") as info:
        parse_pairwise(text)
    assert info.value.kind == "pairwise"


# ----------------------------------------------------------------------------------------------- parse_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 8, "reason": "ok"}', {"score": 8, "reason": "ok"}),
        ("[1, 2]", [1, 2]),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here you go:\n```\n{"a": 1}\n```\nDone.', {"a": 1}),
        ('```json\n{"draft": true}\n```\nFixed:\n```json\n{"a": 2}\n```', {"a": 2}),
        ('The result is {"a": {"b": [1, "}"]}} and {"c": 3}.', {"a": {"b": [1, "}"]}}),
        ('<think>{"a": 0}</think>\n{"a": 1}', {"a": 1}),
        ('{"text": "ｆｕｌｌ\u00a0width"}', {"text": "ｆｕｌｌ\u00a0width"}),  # string contents are untouched
        ('{"a": 1}\r\n', {"a": 1}),
    ],
)
def test_parse_json(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["not json", "{broken", "```json\n{broken\n```", "<think>{}", ""])
def test_parse_json_unreadable(text: str) -> None:
    with pytest.raises(ParseError, match=r"^json: ") as info:
        parse_json(text)
    assert info.value.kind == "json"


# -------------------------------------------------------------------------------------------------- general


def test_parsers_registry() -> None:
    from judgekit import kinds, parsers, parsing
    from judgekit.kinds import KINDS

    assert {name: spec.parser for name, spec in KINDS.items()} == parsing.PARSERS == kinds.PARSERS  # the registry's
    assert set(parsing.__all__) == {"PARSERS", *parsers.__all__}  # the public face hands on every parser
    assert all(getattr(parsing, name) is getattr(parsers, name) for name in parsers.__all__)
    assert {
        "binary": parse_binary,
        "correctness": parse_correctness,
        "comparative": parse_comparative,
        "rubric": parse_rubric,
        "pointwise": parse_pointwise,
        "pairwise": parse_pairwise,
    }.items() <= PARSERS.items()


def _kinds_parsing_text_alone() -> list[str]:
    from judgekit.kinds import KINDS

    return [name for name, spec in KINDS.items() if "criteria" not in spec.parser_options]


@pytest.mark.parametrize("kind", _kinds_parsing_text_alone())
@pytest.mark.parametrize("text", ["", "<think>cut off", "1\u00a0\u200b", "０.１", "\ufeff"])
def test_every_parser_raises_parse_error_or_returns(kind: str, text: str) -> None:
    try:
        PARSERS[kind](text)
    except ParseError as exc:
        assert exc.kind == kind and exc.raw_text == text
        assert str(exc).startswith(f"{kind}: expected")


def test_parse_error_pickles() -> None:
    with pytest.raises(ParseError) as info:
        parse_binary("Score: 10")
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value) and clone.raw_text == "Score: 10" and clone.kind == "binary"


PATHOLOGICAL = {
    "spaces after a sentence": "." + " " * 20_000 + "x",
    "opening tags": "<think>" * 3_000,
    "closing tags": "</think>" * 3_000,
    "answer tags": "<answer>" * 3_000,
    "score tags": "<score>" * 3_000 + "</score>",
    "braces": "{" * 20_000,
    "deep json": '{"a":' + "[" * 20_000,
    "dashes": "- " * 20_000,
    "stars": "*" * 20_000 + ": 8",
    "fences": "```" * 7_000,
    "long number": "Helpfulness: " + "1" * 20_000 + "x",
    "labels": "Assistant 1" + " " * 20_000 + ":x",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_degenerate_replies_are_handled_quickly(text: str) -> None:
    start = time.perf_counter()
    for kind, parser in PARSERS.items():
        with contextlib.suppress(ParseError):
            parser(text, ["Helpfulness", "Accuracy"]) if kind == "rubric" else parser(text)
    with contextlib.suppress(ParseError):
        parse_json(text)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1\n\nExplanation: the prediction matches the reference.", 1),
        ("0\nThe prediction says 12; the answer is 10.", 0),
        ("Yes, the prediction is correct.", 1),
        ("**No.** The prediction gives 12, not 10.", 0),
    ],
)
def test_leading_verdict_then_explanation(reply: str, expected: int) -> None:
    assert parse_binary(reply) == expected


@pytest.mark.parametrize(
    "reply",
    ["1. The prediction restates the question.\n2. It gives no answer.", "Yes it might be", "Yes, it matches.\n0"],
)
def test_leading_verdict_is_not_guessed(reply: str) -> None:
    with pytest.raises(ParseError):
        parse_binary(reply)

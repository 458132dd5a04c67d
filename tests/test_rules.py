"""The rules judge: `judgekit.verifiers` (answer checking) and `RulesJudge` (api_type "rules")."""

from __future__ import annotations

import builtins
import dataclasses
import math
import sys
import threading

import pytest

from judgekit import ConfigError, JudgeFactory, JudgeRequest, MissingDependencyError, SimplifiedJudge
from judgekit.providers.rules import RulesJudge
from judgekit.types import JudgeTask
from judgekit.verifiers import (
    Verification,
    detect_answer_type,
    extract_final_answer,
    parse_number,
    verify_answer,
)

# ------------------------------------------------------------------------------------ extract_final_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("First \\boxed{1}, then corrected: \\boxed{2}", "2"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
        ("nested \\boxed{\\boxed{3}}", "3"),
        ("\\fbox{42}", "42"),
        ("an unclosed \\boxed{7 at the end", "an unclosed \\boxed{7 at the end"),
        ("**Final Answer:** (C)", "(C)"),
        ("Final answer: 42.", "42"),
        ("The final answer is $x^2$.", "$x^2$"),
        ("answer: Paris", "Paris"),
        ("I think A is wrong, the answer is B", "B"),
        ("Final answer: 3\nAnswer: 4", "3"),  # "final answer" wins over a plain "answer"
        ("Answer: 3\nsome more words\nAnswer: 5", "5"),
        ("**Final Answer**\n\n(C)", "(C)"),
        ("Let me compute.\n2 + 2 = 4\nTherefore x = 3.\n\n", "Therefore x = 3"),
        ("<think>The answer is \\boxed{7}</think>The answer is 5.", "5"),
        ("<think>hmm \\boxed{9}</think>\n\\boxed{4}", "4"),
        ("<think>cut off while thinking, \\boxed{3}", ""),
        ("", ""),
        ("   \n  ", ""),
    ],
)
def test_extract_final_answer(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


# -------------------------------------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("1,234.5", 1234.5),
        ("1,000,000", 1_000_000),
        ("50%", 0.5),
        ("12.5 %", 0.125),
        ("50 percent", 0.5),
        ("3/4", 0.75),
        ("-3/4", -0.75),
        ("-2.5e3", -2500),
        ("2.5E-2", 0.025),
        ("2.5 \\times 10^{3}", 2500),
        ("$12.50", 12.5),
        ("-$5", -5),
        ("12 cm", 12),
        ("12cm", 12),
        ("1,000 meters", 1000),
        ("5 m/s^2", 5),
        ("90°", 90),
        ("90^\\circ", 90),
        ("1 1/2", 1.5),
        ("−3", -3),
        ("+7", 7),
        (".5", 0.5),
        ("3.", 3),
        ("$3$", 3),
        ("\\(0.25\\)", 0.25),
        ("\\frac{1}{2}", 0.5),
        ("\\dfrac{3}{4}", 0.75),
        ("-\\frac{1}{4}", -0.25),
        ("12\\text{ cm}", 12),
        ("50\\%", 0.5),
        ("1{,}000", 1000),
        ("３", 3),  # fullwidth digit
    ],
)
def test_parse_number_reads(text: str, expected: float) -> None:
    value = parse_number(text)
    assert value is not None
    assert math.isclose(value, expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    "text",
    ["12 and 13", "abc", "", "   ", "2x", "2 pi", "x = 3", "1/0", "12,5", "1 2", "3 + 4", "about 5", "\\sqrt{2}"],
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


def test_parse_number_never_raises_on_odd_input() -> None:
    for odd in ["1e99999", "$", "%", "\\frac{}{}", "}{", "\x00", "1" * 10_000 + "/" + "0" * 10_000]:
        assert parse_number(odd) is None, odd  # no number in it (or none a float can hold): not read
    huge = parse_number("9" * 500)
    assert isinstance(huge, float) and huge > 1e300  # read, as a float (it overflows to inf)


# -------------------------------------------------------------------------------------- detect_answer_type


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", "choice"),
        ("(B)", "choice"),
        ("B.", "choice"),
        ("B)", "choice"),
        ("j", "choice"),
        ("42", "number"),
        ("-3.5", "number"),
        ("1,000", "number"),
        ("50%", "number"),
        ("3/4", "number"),
        ("12 cm", "number"),
        ("\\frac{1}{2}", "number"),  # a plain fraction reads as a number
        ("x^2 + 1", "math"),
        ("\\sqrt{2}", "math"),
        ("2\\pi", "math"),
        ("pi/2", "math"),
        ("x = 3", "math"),
        ("2x+1", "math"),
        ("2x", "math"),
        ("(1, 2]", "math"),
        ("Paris", "text"),
        ("New York City", "text"),
        ("well-known", "text"),
        ("K", "text"),  # only A-J are option letters
        ("", "text"),
    ],
)
def test_detect_answer_type(answer: str, expected: str) -> None:
    assert detect_answer_type(answer) == expected


# ------------------------------------------------------------------------------------------ verify_answer

CORRECT = [
    # (prediction, answer, rule that decides)
    ("The answer is \\boxed{\\frac{1}{2}}", "0.5", "number"),
    ("Therefore x = 3.", "3", "number"),
    ("**Final Answer:** (C)", "C", "choice"),
    ("I think A is wrong, the answer is B", "B", "choice"),
    ("1,000 meters", "1000", "number"),
    ("50%", "0.5", "number"),
    ("50%", "50", "number"),
    ("0.5", "50%", "number"),
    ("The total is $1,234.50.", "1234.5", "number"),
    ("x = -2.5e3", "-2500", "number"),
    ("So the answer is −3.", "-3", "number"),
    ("It takes 1 1/2 hours.\nAnswer: 1 1/2", "1.5", "number"),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "0.7071", "number"),
    ("The answer is 3.14159", "3.1416", "number"),  # within rel_tol 1e-4
    ("<think>Maybe \\boxed{7}? No.</think>The answer is 5.", "5", "number"),
    ("\\boxed{1+x^2}", "x^2+1", "math"),
    ("The result is $\\frac{\\sqrt{3}}{2}$.", "\\frac{\\sqrt{3}}{2}", "math"),
    ("So the result is x^2 + 1.", "1 + x^2", "math"),
    ("\\boxed{\\frac{2}{\\sqrt{2}}}", "\\sqrt{2}", "math"),
    ("\\boxed{3}", "x = 3", "math"),
    ("The answer is (B).", "B", "choice"),
    ("Answer: b", "B", "choice"),
    ("(d)", "D", "choice"),
    ("Option C is correct.", "C", "choice"),
    ("\\boxed{\\text{(E)}}", "E", "choice"),
    ("A", "(A)", "choice"),
    ("I think the answer is A.", "A", "choice"),
    ("Answer: A. The mitochondria", "A", "choice"),
    ("Let me reason.\n\nC\n\nThe others contradict the data.", "C", "choice"),
    ("**Answer:** D) 42 N", "D", "choice"),
    ("The answer is (I).", "I", "choice"),
    ("Paris", "paris", "text"),
    ("The final answer: The Beatles!", "Beatles", "text"),
    ("\\boxed{\\text{Paris}}", "Paris", "text"),
    ("Ｐａｒｉｓ", "Paris", "text"),  # NFKC
    ("New   York-City", "new york city", "text"),
]


@pytest.mark.parametrize(("prediction", "answer", "rule"), CORRECT)
def test_verify_answer_correct(prediction: str, answer: str, rule: str) -> None:
    result = verify_answer(prediction, answer)
    assert result.correct, result
    assert result.rule == rule
    assert result.detail


INCORRECT = [
    ("The answer is \\boxed{\\frac{1}{3}}", "0.5", "number"),
    ("Therefore x = 4.", "3", "number"),
    ("**Final Answer:** (C)", "B", "choice"),
    ("I think B is wrong, the answer is A", "B", "choice"),
    ("0.5", "50", "number"),
    ("1,000 meters", "100", "number"),
    ("<think>The answer is \\boxed{5}</think>The answer is 7.", "5", "number"),
    ("The answer is 3.15", "3.1416", "number"),
    ("no numbers here", "12", "number"),
    ("\\boxed{x^2 - 1}", "x^2+1", "math"),
    ("\\boxed{\\frac{\\sqrt{3}}{3}}", "\\frac{\\sqrt{3}}{2}", "math"),
    ("London", "Paris", "text"),
    ("The capital is Paris", "Paris", "text"),  # text is an exact match of the final answer
    ("A cat sat on the mat.", "A", "choice"),  # the article is no option
]


@pytest.mark.parametrize(("prediction", "answer", "rule"), INCORRECT)
def test_verify_answer_incorrect(prediction: str, answer: str, rule: str) -> None:
    result = verify_answer(prediction, answer)
    assert not result.correct, result
    assert result.rule == rule


@pytest.mark.parametrize("prediction", ["A or B", "(A) or (B)", "Both A and C are correct", "B) or maybe D)"])
def test_ambiguous_choice_is_incorrect(prediction: str) -> None:
    result = verify_answer(prediction, "B")
    assert not result.correct
    assert result.rule == "choice"
    assert result.detail.startswith("ambiguous choice")


def test_choice_detail_and_extracted_letter() -> None:
    result = verify_answer("Final answer: (C)", "B")
    assert result == Verification(False, "choice", "choice: predicted C, expected B", "C")


def test_number_detail() -> None:
    result = verify_answer("\\boxed{\\frac{1}{2}}", "0.5")
    assert result.detail == "number: \\frac{1}{2} == 0.5"
    assert result.extracted == "\\frac{1}{2}"
    assert verify_answer("50%", "50").detail == "number: 50% == 50 (as a percent)"
    assert verify_answer("7", "8").detail == "number: 7 != 8"


def test_rel_tol() -> None:
    assert not verify_answer("100.5", "100").correct
    assert verify_answer("100.5", "100", rel_tol=0.01).correct
    assert verify_answer("0", "0.0").correct  # abs_tol keeps zero equal to zero
    with pytest.raises(ConfigError) as info:
        verify_answer("1", "1", rel_tol=-1)
    assert info.value.field == "rel_tol"


@pytest.mark.parametrize(
    ("answer_type", "rule"),
    [
        ("choice", "choice"),
        ("MULTIPLE_CHOICE", "choice"),
        ("number", "number"),
        ("NUMBER", "number"),
        ("math", "math"),
        ("MATH_EXPRESSIONS", "math"),
        ("Math_Expressions", "math"),
        ("text", "text"),
        ("TEXT", "text"),
    ],
)
def test_answer_type_names(answer_type: str, rule: str) -> None:
    assert verify_answer("", "3", answer_type).rule == rule


def test_explicit_answer_type_overrides_detection() -> None:
    assert verify_answer("\\boxed{\\frac{2}{4}}", "1/2", "math").rule == "math"
    assert verify_answer("\\boxed{\\frac{2}{4}}", "1/2", "math").correct
    assert not verify_answer("12.0", "12", "text").correct  # as text, "12.0" is not "12"
    assert verify_answer("12.0", "12", "number").correct
    assert verify_answer("Answer: B", "B) Paris", "choice").correct


def test_unknown_answer_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        verify_answer("3", "3", "fuzzy")
    assert info.value.field == "answer_type"


def test_math_that_math_verify_cannot_read_falls_back() -> None:
    result = verify_answer("the answer is bar", "\\foo{", "math")
    assert not result.correct
    assert result.rule == "text"
    assert "math-verify could not read" in result.detail
    assert verify_answer("the answer is foo", "\\foo{", "math").correct  # the text rule decides
    assert verify_answer("Answer: 12", "12", "math").correct


def test_math_without_math_verify_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_math_verify(name: str, *args: object, **kwargs: object) -> object:
        if name == "math_verify" or name.startswith("math_verify."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_math_verify)
    monkeypatch.delitem(sys.modules, "math_verify", raising=False)
    with pytest.raises(MissingDependencyError, match=r'pip install "judgekit\[rules\]"'):
        verify_answer("\\boxed{x^2}", "x^2")
    assert verify_answer("\\boxed{3}", "3").correct  # numbers need no math-verify


def test_math_in_a_worker_thread() -> None:
    """math-verify's signal-based timeout only works in the main thread; the judge's loop runs in another."""
    results: list[Verification] = []
    thread = threading.Thread(target=lambda: results.append(verify_answer("\\boxed{1+x^2}", "x^2+1")))
    thread.start()
    thread.join()
    assert results[0].correct


@pytest.mark.parametrize(
    ("prediction", "detail"),
    [
        ("", "empty prediction"),
        ("   \n", "empty prediction"),
        (None, "empty prediction"),
    ],
)
def test_empty_prediction(prediction: str, detail: str) -> None:
    result = verify_answer(prediction, "3")
    assert result == Verification(False, "number", detail, "")


def test_reasoning_only_prediction_is_incorrect() -> None:
    result = verify_answer("<think>so it is \\boxed{3}", "3")
    assert not result.correct
    assert result.detail.startswith("empty prediction")


@pytest.mark.parametrize(
    "prediction",
    ["\\boxed{", "}}}{{{", "\x00", "(" * 5000, "\\boxed{" * 2000, "$" * 1000, "A " * 5000, "\\frac{" * 2000],
)
@pytest.mark.parametrize("answer", ["3", "B", "x^2", "Paris", ""])
def test_odd_input_never_raises(prediction: str, answer: str) -> None:
    result = verify_answer(prediction, answer)
    assert result.correct is False  # garbage never matches a reference answer
    assert result.rule in {"number", "choice", "math", "text"} and result.detail


def test_verification_is_frozen_and_serialisable() -> None:
    result = verify_answer("7", "7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.correct = False  # type: ignore[misc]
    assert dataclasses.asdict(result) == {
        "correct": True,
        "rule": "number",
        "detail": "number: 7 == 7",
        "extracted": "7",
    }


# ------------------------------------------------------------------------------------- the rules judge


@pytest.fixture
def judge() -> SimplifiedJudge:
    return SimplifiedJudge(api_type="rules")


def test_factory_knows_rules() -> None:
    assert "rules" in JudgeFactory.list_judges()
    created = JudgeFactory.create_judge("rules")
    assert isinstance(created, RulesJudge)
    assert created.is_available()


def test_evaluate_binary_01(judge: SimplifiedJudge) -> None:
    right = judge.evaluate_binary("What is 1/2 as a decimal?", "0.5", "The answer is \\boxed{\\frac{1}{2}}")
    assert right["success"]
    assert right["result"] == 1
    assert right["model"] == "rules"
    assert right["provider"] == "rules"
    assert right["raw_response"] == "1"
    assert right["reasoning"] == "number: \\frac{1}{2} == 0.5"
    wrong = judge.evaluate_binary("What is 1/2 as a decimal?", "0.5", "The answer is 0.25")
    assert wrong["success"]
    assert wrong["result"] == 0
    assert wrong["raw_response"] == "0"


def test_evaluate_binary_yes_no(judge: SimplifiedJudge) -> None:
    right = judge.evaluate_binary("Pick one.", "C", "**Final Answer:** (C)", output_format="yes/no")
    assert right["success"]
    assert right["result"] == "yes"
    assert bool(right["result"])
    assert right["raw_response"] == "Yes"
    wrong = judge.evaluate_binary("Pick one.", "B", "A or B", output_format="yes/no")
    assert wrong["result"] == "no"
    assert not wrong["result"]
    assert wrong["reasoning"].startswith("ambiguous choice")


def test_config_output_format_applies() -> None:
    judge = SimplifiedJudge(api_type="rules", output_format="yes/no")
    assert judge.evaluate_binary("q", "3", "3")["raw_response"] == "Yes"


def test_evaluate_correctness(judge: SimplifiedJudge) -> None:
    right = judge.evaluate_correctness("Expand.", "x^2+1", "So we get \\boxed{1 + x^2}.")
    assert right["success"]
    assert right["result"] == 1
    assert right["raw_response"] == "Yes"
    assert right["reasoning"].startswith("math:")
    wrong = judge.evaluate_correctness("Expand.", "x^2+1", "So we get \\boxed{x^2 - 1}.")
    assert wrong["result"] == 0
    assert wrong["raw_response"] == "No"


ITEMS = [
    {"question": "2+2?", "answer": "4", "prediction": "2 + 2 = 4"},
    {"question": "2+3?", "answer": "5", "prediction": "The answer is 6."},
    {"question": "Capital of France?", "answer": "Paris", "prediction": "Final answer: Paris."},
    {"question": "Pick one.", "answer": "B", "prediction": "The answer is (C)."},
    {"question": "Half?", "answer": "50%", "prediction": "\\boxed{0.5}"},
]


def test_evaluate_batch_in_order(judge: SimplifiedJudge) -> None:
    results = judge.evaluate_batch("binary", ITEMS)
    assert [r["result"] for r in results] == [1, 0, 1, 0, 1]
    assert all(r["success"] and r["model"] == "rules" for r in results)
    assert [r["reasoning"] for r in results] == [
        "number: 4 == 4",
        "number: 6 != 5",
        "text: 'paris' matches",
        "choice: predicted C, expected B",
        "number: 0.5 == 50%",
    ]


async def test_aevaluate_batch(judge: SimplifiedJudge) -> None:
    results = await judge.aevaluate_batch("correctness", ITEMS)
    assert [r["result"] for r in results] == [1, 0, 1, 0, 1]
    single = await judge.aevaluate_binary("2+2?", "4", "4", output_format="yes/no")
    assert single["result"] == "yes"


def test_pointwise_is_refused(judge: SimplifiedJudge) -> None:
    with pytest.raises(ConfigError) as info:
        judge.evaluate_pointwise("q", "a response")
    assert info.value.field == "kind"
    assert "'pointwise'" in str(info.value)


def test_request_without_task_is_refused() -> None:
    rules = JudgeFactory.create_judge("rules")
    with pytest.raises(ConfigError) as info:
        rules.evaluate(JudgeRequest(messages=[{"role": "user", "content": "Is 2+2=4?"}]))
    assert info.value.field == "task"
    assert "evaluate_binary" in str(info.value)


def test_task_without_answer_is_refused() -> None:
    rules = RulesJudge()
    task = JudgeTask(kind="binary", fields={"question": "q", "prediction": "4"})
    with pytest.raises(ConfigError) as info:
        rules.evaluate(JudgeRequest(messages=[{"role": "user", "content": "q"}], task=task))
    assert info.value.field == "answer"


def test_answer_type_option_and_raw_response() -> None:
    rules = RulesJudge()
    task = JudgeTask(
        kind="binary",
        fields={"question": "q", "answer": "12", "prediction": "12.0"},
        options={"output_format": "0/1", "answer_type": "TEXT"},
    )
    response = rules.evaluate(JudgeRequest(messages=[{"role": "user", "content": "q"}], task=task))
    assert response.success
    assert response.content == "0"
    assert response.finish_reason == "stop"
    assert response.raw_response == {
        "correct": False,
        "rule": "text",
        "detail": "text: '12 0' != '12'",
        "extracted": "12.0",
    }
    bad = JudgeTask(kind="binary", fields={"answer": "1", "prediction": "1"}, options={"answer_type": "nope"})
    with pytest.raises(ConfigError) as info:
        rules.evaluate(JudgeRequest(messages=[{"role": "user", "content": "q"}], task=bad))
    assert info.value.field == "answer_type"

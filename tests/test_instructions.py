"""Ready instruction checks, against the cases IFEval's own tests publish for each definition."""

from __future__ import annotations

import pytest

from judgekit import ConfigError
from judgekit import instructions as ins
from judgekit.verifiers import instructions as via_verifiers


def test_reachable_from_verifiers() -> None:
    assert via_verifiers is ins


@pytest.mark.parametrize(
    ("response", "relation", "n", "expected"),
    [  # IFEval instructions_test.test_number_sentences
        ("xx,x. xx,x! xx/x. x{x}x?", "less than", 4, False),
        ("xxxx. xx,x! xxxx. x(x)x?", "less than", 5, True),
        ("xxxx. xx,x! xx|x. x&x x?", "at least", 4, True),
        ("xx-x. xx,x! xx}x. x,xx?", "at least", 5, False),
    ],
)
def test_sentences(response: str, relation: ins.Relation, n: int, expected: bool) -> None:
    assert ins.sentences(n, relation)(response) is expected


def test_sentence_splitting_keeps_abbreviations_and_decimals() -> None:
    text = "Dr. Smith paid $3.50 at example.com on Jan. 3. It was the U.S.A. office! Really? Yes..."
    assert ins.split_sentences(text) == [
        "Dr. Smith paid $3.50 at example.com on Jan.",
        "3.",
        "It was the U.S.A. office!",
        "Really?",
        "Yes...",
    ]


def test_words_counts_word_characters() -> None:
    assert ins.count_words("Hello, world! It's 2024.") == 5  # Hello world It s 2024
    assert ins.words(5)("Hello, world! It's 2024.") and not ins.words(5, "less than")("Hello, world! It's 2024.")


BULLETS = [  # IFEval instructions_test.test_number_bullet_lists
    ("\n  * This is a bullet point.\n  *(no space required)Another bullet point.\n  * (no newline)x\n  text", 3),
    ("\n  inline asterisk (*), *, not counted:\n    * one.\n    * two.\n    . dot is not counted", 2),
    ("\n  three markdown bullets:\n  - one\n  - two\n  -three", 3),
    ("\n  Paragraph 1\n  ***\n  Paragraph 2\n  ***\n  Paragraph 3\n  * only one bullet point\n  ", 1),
]


@pytest.mark.parametrize(("response", "n"), BULLETS)
def test_bullets(response: str, n: int) -> None:
    assert ins.bullets(n)(response) and not ins.bullets(n + 1)(response)


@pytest.mark.parametrize(
    ("response", "n", "expected"),
    [  # IFEval instructions_test.test_paragraph_checker
        ("\n  paragraph 1\n  ***\n  paragraph 2\n  ***\n  paragraph 3", 3, True),
        ("\n          ***\n  paragraph 1\n          ***\n      paragraph 2\n          ***\n      paragraph 3", 3, True),
        ("\n  paragraph 1\n          ***\n      paragraph 2\n          ***\n      paragraph 3\n          ***", 3, True),
        ("\n  paragraph 1\n          ***\n      paragraph 2\n          ***\n          ***", 2, False),
    ],
)
def test_paragraphs(response: str, n: int, expected: bool) -> None:
    assert ins.paragraphs(n)(response) is expected


def test_keywords_and_frequency() -> None:
    assert ins.keywords_present("Fever", "rest")("FEVER and bed rest")
    assert not ins.keywords_present("fever", "fluids")("fever and rest")
    assert ins.keywords_absent("cat")("concatenate")  # whole words only
    assert not ins.keywords_absent("cat", "dog")("My Dog sleeps")
    assert ins.keyword_frequency("tea", 2)("Tea, then more tea") and ins.keyword_frequency("tea", 3, "less than")("tea")


def test_formats_case_and_phrases() -> None:
    assert ins.json_format()('```json\n{"a": [1, 2]}\n```') and ins.json_format()('  {"a": 1} ')
    assert not ins.json_format()("Here it is: {'a': 1}")
    assert ins.lowercase()("all lower, 123") and not ins.lowercase()("Not lower") and not ins.lowercase()("123")
    assert ins.uppercase()("ALL CAPS!") and not ins.uppercase()("Mostly CAPS")
    assert ins.no_commas()("no commas here") and not ins.no_commas()("one, two")
    assert ins.starts_with("My answer is")("  my answer is yes") and not ins.starts_with("My answer")("So my answer")
    # IFEval instructions_test.test_end_checker: quotes and case around the phrase are ignored
    assert ins.ends_with("Any other questions?")('"Thanks. any other questions?"')
    assert not ins.ends_with("Any other questions?")("Any other questions? Bye.")


def test_from_ifeval_builds_named_checks_and_names_typos() -> None:
    check = ins.from_ifeval("length_constraints:number_words", {"num_words": 3, "relation": "less than", "x": None})
    assert check("two words") and not check("one two three") and check.__name__ == "words(less than 3)"
    assert ins.from_ifeval("keywords:forbidden_words", {"forbidden_words": ["bad"]})("good")
    with pytest.raises(ConfigError, match="did you mean 'punctuation:no_comma'"):
        ins.from_ifeval("punctuation:no_commas")
    with pytest.raises(ConfigError, match="relation"):
        ins.words(3, "at most")  # type: ignore[arg-type]

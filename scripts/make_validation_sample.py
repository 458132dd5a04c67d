"""Generate judgekit/data/validation_sample.jsonl: a labelled sample for `judgekit validate`.

Every label is known by construction: from facts the script computes (arithmetic, unit conversions and
multiple-choice questions about numbers), or from short factual questions written for this project. Rows:

- ``kind: "binary"``, ``part: "closed"``: question, reference ``answer``, a ``prediction`` phrased in one of
  several ways (short, in a sentence, with working, long-winded, in words, wrong by a little, wrong after
  mentioning the right number...), and ``label`` 1 when the prediction's final answer is right, else 0;
- ``kind: "binary"``, ``part: "open"``: an open-ended factual question (`OPEN_ENDED`) with its reference answer,
  once with a right answer in other words (``label`` 1) and once with a plainly wrong one (``label`` 0);
- ``kind: "pairwise"``: question, ``response1``, ``response2``, ``label`` "A", "B" or "tie" (both right), and a
  ``pair_id`` shared by the pair in its original and its swapped order (for position consistency).

Deterministic: ``python scripts/make_validation_sample.py`` rewrites the same file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "judgekit" / "data" / "validation_sample.jsonl"
_WORDS = {
    0: "zero",
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    13: "thirteen",
    14: "fourteen",
    15: "fifteen",
    16: "sixteen",
    17: "seventeen",
    18: "eighteen",
    19: "nineteen",
}
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_UNITS = [  # (from, one of it, to, factor)
    ("kilometers", "kilometer", "meters", 1000),
    ("kilograms", "kilogram", "grams", 1000),
    ("hours", "hour", "minutes", 60),
    ("minutes", "minute", "seconds", 60),
    ("meters", "meter", "centimeters", 100),
    ("liters", "liter", "milliliters", 1000),
    ("feet", "foot", "inches", 12),
    ("yards", "yard", "feet", 3),
    ("days", "day", "hours", 24),
    ("weeks", "week", "days", 7),
]


def words(n: int) -> str | None:
    """English words for 0..99, else None."""
    if n in _WORDS:
        return _WORDS[n]
    if 20 <= n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if not ones else "-" + _WORDS[ones])
    return None


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def arithmetic(rng: random.Random) -> tuple[str, float, str]:
    op = rng.choice(["+", "-", "*", "%"])
    if op == "%":
        pct, base = rng.choice([5, 10, 15, 20, 25, 40, 50, 75]), rng.choice([40, 60, 80, 120, 200, 240, 400])
        return f"What is {pct}% of {base}?", pct * base / 100, f"{pct}% of {base} = {pct / 100:g} * {base}"
    a, b = rng.randint(6, 49), rng.randint(3, 19)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    name = {"+": "plus", "-": "minus", "*": "times"}[op]
    return f"What is {a} {op} {b}?", value, f"{a} {name} {b}"


def conversion(rng: random.Random) -> tuple[str, float, str]:
    src, one, dst, factor = rng.choice(_UNITS)
    amount = rng.choice([2, 3, 4, 5, 1.5, 2.5, 0.5, 6, 8, 12])
    return (
        f"How many {dst} are in {num(amount)} {src}?",
        amount * factor,
        f"1 {one} is {factor} {dst}, so {num(amount)} x {factor}",
    )


def wrong_value(rng: random.Random, value: float) -> float:
    delta = rng.choice([1, 2, 10, -1, -2, -10])
    return value + delta if value + delta >= 0 else value + abs(delta)


def numeric_prediction(rng: random.Random, value: float, working: str, correct: bool) -> str:
    """A prediction whose final answer is ``value`` (correct) or a wrong number, phrased variously."""
    shown = num(value)
    if correct:
        styles = [
            shown,
            f"The answer is {shown}.",
            f"{working} = {shown}.",
            f"Let me work it out step by step. {working}. Checking again carefully, the result is {shown}. "
            f"So my final answer is {shown}.",
            f"It's {shown}." if value < 1000 else f"It's {value:,.0f}." if float(value).is_integer() else shown,
        ]
        if float(value).is_integer() and words(int(value)):
            styles.append(f"The answer is {words(int(value))}.")  # right, but in words
        return rng.choice(styles)
    wrong = num(wrong_value(rng, value))
    styles = [
        wrong,
        f"The answer is {wrong}.",
        f"{working} = {wrong}.",
        f"I first thought {shown}, but on reflection the answer is {wrong}.",  # the right number, then a wrong one
        f"Let me work it out step by step. {working}. Carrying carefully, that gives {wrong}. Final answer: {wrong}.",
    ]
    return rng.choice(styles)


def choice_item(rng: random.Random) -> tuple[str, str, str, str, bool]:
    """A multiple-choice question about numbers: (question, answer letter, prediction, option text, label)."""
    kind = rng.choice(["prime", "product", "largest", "even"])
    if kind == "prime":
        right = rng.choice([11, 13, 17, 19, 23, 29, 31, 37, 41, 43])
        wrongs = rng.sample([9, 15, 21, 25, 27, 33, 35, 39, 45, 49], 3)
        stem = "Which of these numbers is prime?"
    elif kind == "product":
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        right = a * b
        wrongs = rng.sample(sorted({right + d for d in (-3, -2, -1, 1, 2, 4, 6) if right + d > 0}), 3)
        stem = f"What is {a} x {b}?"
    elif kind == "largest":
        options = rng.sample(range(10, 99), 4)
        right, wrongs = max(options), sorted(options)[:3]
        stem = "Which number is the largest?"
    else:
        right = rng.choice(range(10, 98, 2))
        wrongs = rng.sample(range(11, 99, 2), 3)
        stem = "Which of these numbers is even?"
    options = [right, *wrongs]
    rng.shuffle(options)
    letters = "ABCD"
    answer = letters[options.index(right)]
    question = stem + " " + " ".join(f"({letters[i]}) {v}" for i, v in enumerate(options))
    correct = rng.random() < 0.5
    letter = answer if correct else rng.choice([c for c in letters if c != answer])
    value = options[letters.index(letter)]
    style = rng.choice(["letter", "paren", "sentence", "value", "long"])
    prediction = {
        "letter": letter,
        "paren": f"({letter})",
        "sentence": f"The answer is ({letter}) {value}.",
        "value": f"{value}",  # the option's value, not its letter
        "long": f"Looking at each option in turn and checking it, the one that fits is {value}, option {letter}.",
    }[style]
    return question, answer, prediction, str(value), correct


OPEN_ENDED = [
    (
        "What gas do plants absorb from the air for photosynthesis?",
        "carbon dioxide",
        "They take in CO2.",
        "Plants absorb oxygen for photosynthesis.",
    ),
    (
        "What is the capital of Australia?",
        "Canberra",
        "Australia's capital city is Canberra.",
        "The capital is Sydney.",
    ),
    (
        "Who wrote the play Romeo and Juliet?",
        "William Shakespeare",
        "It was written by Shakespeare.",
        "Charles Dickens wrote it.",
    ),
    (
        "What is the largest planet in the Solar System?",
        "Jupiter",
        "The biggest planet is Jupiter.",
        "Saturn is the largest planet.",
    ),
    (
        "What is the chemical symbol for gold?",
        "Au",
        "Gold's symbol is Au, from the Latin aurum.",
        "The symbol for gold is Ag.",
    ),
    (
        "Which organ pumps blood through the human body?",
        "the heart",
        "The heart does that.",
        "The lungs pump the blood.",
    ),
    (
        "What is the boiling point of water at sea level in degrees Celsius?",
        "100 degrees Celsius",
        "It boils at one hundred degrees C.",
        "Water boils at 50 degrees Celsius.",
    ),
    (
        "Which language is mainly spoken in Brazil?",
        "Portuguese",
        "Brazilians mostly speak Portuguese.",
        "Spanish is the main language of Brazil.",
    ),
    (
        "What is the hardest natural substance?",
        "diamond",
        "Diamonds are the hardest natural material.",
        "Gold is the hardest natural substance.",
    ),
    (
        "Who painted the Mona Lisa?",
        "Leonardo da Vinci",
        "Da Vinci painted it.",
        "Vincent van Gogh painted the Mona Lisa.",
    ),
    ("What do bees make from nectar?", "honey", "They turn nectar into honey.", "Bees make milk from nectar."),
    (
        "Which planet is known as the Red Planet?",
        "Mars",
        "That nickname belongs to Mars.",
        "Venus is called the Red Planet.",
    ),
    ("What is frozen water called?", "ice", "When water freezes it becomes ice.", "Frozen water is called steam."),
    (
        "What is the longest river in South America?",
        "the Amazon",
        "The Amazon River is the longest there.",
        "The Mississippi is the longest river in South America.",
    ),
    (
        "What is the main ingredient of guacamole?",
        "avocado",
        "Guacamole is made mostly from avocados.",
        "Guacamole is mainly made of potatoes.",
    ),
    (
        "Which animal is known as the king of the jungle?",
        "the lion",
        "Lions are called the king of the jungle.",
        "The rabbit is known as the king of the jungle.",
    ),
    (
        "What force keeps the planets in orbit around the Sun?",
        "gravity",
        "The Sun's gravitational pull keeps them in orbit.",
        "Magnetism keeps the planets in orbit.",
    ),
    ("What is the opposite of 'ancient'?", "modern", "Something new or modern.", "The opposite of ancient is old."),
    ("Which continent is Egypt in?", "Africa", "Egypt is an African country.", "Egypt is in South America."),
    (
        "What device is used to measure temperature?",
        "a thermometer",
        "You use a thermometer.",
        "A barometer measures temperature.",
    ),
    (
        "Who was the first person to walk on the Moon?",
        "Neil Armstrong",
        "Armstrong, in 1969.",
        "Yuri Gagarin was the first person on the Moon.",
    ),
    (
        "What is the primary language of Mexico?",
        "Spanish",
        "Most people in Mexico speak Spanish.",
        "The primary language of Mexico is French.",
    ),
    (
        "What is the largest ocean on Earth?",
        "the Pacific Ocean",
        "The Pacific is the biggest ocean.",
        "The Indian Ocean is the largest.",
    ),
    (
        "What vitamin does the skin make from sunlight?",
        "vitamin D",
        "Sunlight lets the skin produce vitamin D.",
        "The skin makes vitamin C from sunlight.",
    ),
    ("What is the currency of Japan?", "the yen", "Japan uses the yen.", "The currency of Japan is the euro."),
    (
        "Which part of the plant takes up water from the soil?",
        "the roots",
        "Water is absorbed through the roots.",
        "The flowers take up water from the soil.",
    ),
    ("What is the smallest prime number?", "2", "It is two.", "The smallest prime number is 1."),
    ("What is H2O commonly called?", "water", "That is the formula for water.", "H2O is hydrogen peroxide."),
    (
        "Who developed the theory of relativity?",
        "Albert Einstein",
        "Einstein came up with it.",
        "Isaac Newton developed the theory of relativity.",
    ),
    ("What is the capital of Canada?", "Ottawa", "Canada's capital is Ottawa.", "Toronto is the capital of Canada."),
    ("How many continents are there?", "seven", "There are 7 continents.", "There are five continents."),
    ("What instrument has 88 keys?", "the piano", "A standard piano has 88 keys.", "The violin has 88 keys."),
    (
        "What is the tallest mountain in the world above sea level?",
        "Mount Everest",
        "Everest is the highest mountain.",
        "Mont Blanc is the tallest mountain in the world.",
    ),
    (
        "Which blood cells carry oxygen?",
        "red blood cells",
        "Oxygen is carried by the red cells (erythrocytes).",
        "White blood cells carry oxygen.",
    ),
    (
        "What do caterpillars turn into?",
        "butterflies or moths",
        "They become butterflies.",
        "Caterpillars turn into frogs.",
    ),
    (
        "In which country are the pyramids of Giza?",
        "Egypt",
        "They are in Egypt, near Cairo.",
        "The pyramids of Giza are in Mexico.",
    ),
    (
        "What is the freezing point of water in Fahrenheit?",
        "32 degrees Fahrenheit",
        "Thirty-two degrees F.",
        "Water freezes at 0 degrees Fahrenheit.",
    ),
    (
        "What is the name of our galaxy?",
        "the Milky Way",
        "We live in the Milky Way galaxy.",
        "Our galaxy is called Andromeda.",
    ),
    ("What gas do humans need to breathe to live?", "oxygen", "We need O2.", "Humans need to breathe helium to live."),
    (
        "What is the study of living things called?",
        "biology",
        "It is called biology.",
        "The study of living things is geology.",
    ),
]
"""Open-ended questions: (question, reference answer, a right answer in other words, a plainly wrong answer)."""


def binary_rows(rng: random.Random, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        family = i % 3
        if family == 2:
            question, answer, prediction, _, label = choice_item(rng)
            rows.append(
                {
                    "id": f"mc-{i:03d}",
                    "kind": "binary",
                    "question": question,
                    "answer": answer,
                    "prediction": prediction,
                    "label": int(label),
                    "part": "closed",
                }
            )
            continue
        question, value, working = arithmetic(rng) if family == 0 else conversion(rng)
        correct = rng.random() < 0.5
        rows.append(
            {
                "id": f"{'ar' if family == 0 else 'un'}-{i:03d}",
                "kind": "binary",
                "question": question,
                "answer": num(value),
                "prediction": numeric_prediction(rng, value, working, correct),
                "label": int(correct),
                "part": "closed",
            }
        )
    return rows


def open_rows(rng: random.Random) -> list[dict]:
    rows = []
    for question, answer, right, wrong in OPEN_ENDED:
        pair = [(right, 1), (wrong, 0)]
        rng.shuffle(pair)
        for prediction, label in pair:
            rows.append(
                {
                    "id": f"oe-{len(rows):03d}",
                    "kind": "binary",
                    "question": question,
                    "answer": answer,
                    "prediction": prediction,
                    "label": label,
                    "part": "open",
                }
            )
    return rows


def pairwise_rows(rng: random.Random, pairs: int) -> list[dict]:
    rows = []
    for i in range(pairs):
        question, value, working = arithmetic(rng) if i % 2 else conversion(rng)
        tie = rng.random() < 0.1
        long_first = rng.random() < 0.5  # which response gets the long-winded phrasing
        good = numeric_prediction(rng, value, working, True)
        other = numeric_prediction(rng, value, working, tie)
        if tie and other == good:
            other = f"{num(value)}"
        short, long = (good, other) if len(good) <= len(other) else (other, good)
        response1, response2 = (long, short) if long_first else (short, long)
        label = "tie" if tie else ("A" if response1 == good else "B")
        flipped = {"A": "B", "B": "A", "tie": "tie"}[label]
        pair = f"pw-{i:03d}"
        rows.append(
            {
                "id": pair + "a",
                "kind": "pairwise",
                "pair_id": pair,
                "question": question,
                "response1": response1,
                "response2": response2,
                "label": label,
            }
        )
        rows.append(
            {
                "id": pair + "b",
                "kind": "pairwise",
                "pair_id": pair,
                "question": question,
                "response1": response2,
                "response2": response1,
                "label": flipped,
            }
        )
    return rows


def main() -> None:
    rng = random.Random(13)
    closed = binary_rows(rng, 240)
    rows = closed + open_rows(random.Random(7)) + pairwise_rows(rng, 60)
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()

"""How the original lmms-eval task code read its judge's replies, re-implemented for side-by-side tests.

Each function reproduces the behaviour of one task file at lmms-eval 75571cf (written anew from reading
it, not copied): what a reply turns into, including the silent zeros, ties, crashes and random scores that
the migrated versions in ``examples/lmms_eval/`` replace with explicit failures.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable
from typing import Any


class EndlessReask(RuntimeError):
    """The original would re-ask the judge forever (it never leaves its loop for this reply)."""


def mmvet_original(ask: Callable[[float], str], max_calls: int = 50) -> tuple[float, int]:
    """``mmvet_process_results``'s grading loop; ``ask(temperature)`` is its ``get_chat_response`` (the
    stripped reply, ``""`` after its own retries failed). Returns ``(score, calls)``.

    The reply's first space-separated token must be a float; when it is not, the loop sleeps, raises the
    temperature by 0.5, asks once more (that answer is never read) and loops, asking again; at temperature
    >= 2 the score is 0.0. An empty reply is 0.0 at once. A float outside [0, 1] re-asks at the same
    temperature forever (`EndlessReask` after ``max_calls``).
    """
    calls = 0

    def call(temperature: float) -> str:
        nonlocal calls
        calls += 1
        if calls > max_calls:
            raise EndlessReask(f"still asking after {max_calls} calls")
        return ask(temperature)

    temperature = 0.0
    while True:
        content = call(temperature)
        if not content:
            return 0.0, calls
        try:
            score = float(content.split(" ")[0].strip())
        except ValueError:
            temperature += 0.5
            call(temperature)
            if temperature >= 2:
                return 0.0, calls
            continue
        if 0.0 <= score <= 1.0:
            return score, calls


def activitynetqa_original_parse(review: str) -> list[Any] | None:
    """``parse_score``: the text between the first ``{`` and the next ``}`` as a Python literal; ``int()`` of
    its score (4.8 -> 4); a pred containing "yes" is yes, else one containing "no" is no, else kept as is.
    None when anything fails (``process_results`` then crashes on ``scores[0]``)."""
    try:
        found = ast.literal_eval("{" + review.split("{")[1].split("}")[0] + "}")
        score = int(found["score"])
        pred = found["pred"]
        if "yes" in pred.lower():
            pred = "yes"
        elif "no" in pred.lower():
            pred = "no"
        return [pred, score]
    except Exception:
        return None


_WV_BRACKETS = re.compile(r"\[\[([AB<>=]+)\]\]")
_WV_OUTCOMES = (
    ("A>B", -1, "model_a", "Worse"),
    ("A>>B", -2, "model_a", "Worse++"),
    ("A=B", 0, "tie", "Tie"),
    ("B>A", 1, "model_b", "Better"),
    ("B>>A", 2, "model_b", "Better++"),
)


def wild_vision_original(resps: str) -> tuple[int, str, str]:
    """``wild_vision_process_results``'s reading: ``(raw_score, winner, judgement)``.

    One distinct ``[[...]]`` match is the verdict; with none or several distinct ones the whole reply is
    used instead. The first of "A>B", "A>>B", "A=B", "B>A", "B>>A" found as a substring wins; none found is
    an "Unclear" tie with raw score 0 (also for an empty reply or a failed request).
    """
    distinct = set(m for m in _WV_BRACKETS.findall(resps) if m)
    verdict = next(iter(distinct)).strip("\n") if len(distinct) == 1 else resps
    for label, raw_score, winner, judgement in _WV_OUTCOMES:
        if label in verdict:
            return raw_score, winner, judgement
    return 0, "tie", "Unclear"


_MIX_DOUBLE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_MIX_SINGLE = re.compile(r"\[(\d+\.?\d*)\]")
MIX_EVALS_FAILED_REPLY = "[[0.0]]"
"""What the original ``get_eval`` returned after a failed request or an empty reply."""


def mix_evals_original_score(eval_answer: str, rng: random.Random | None = None) -> float:
    """``get_score_from_judge``: the first ``[[n]]``, else the first ``[n]``, read as a literal (no range
    check); when neither is there, a random score ``round(random(), 1)``."""
    match = _MIX_DOUBLE.search(eval_answer) or _MIX_SINGLE.search(eval_answer)
    if match:
        return float(ast.literal_eval(match[1]))
    return round((rng or random.Random()).random(), 1)


# -- the judge helpers that judgekit.legacy replaces: what each sends --------------------------------------------


def _post_chat(messages: list[dict[str, str]], temperature: float, max_tokens: int, default_model: str) -> Any:
    """One request as the ``requests``-based task helpers send it: their payload, to ``OPENAI_API_URL``."""
    import os

    import requests

    payload = {
        "model": os.getenv("MODEL_VERSION", default_model),
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    headers = {
        "Authorization": f"Bearer {os.getenv('OPENAI_API_KEY', 'YOUR_API_KEY')}",
        "Content-Type": "application/json",
    }
    url = os.getenv("OPENAI_API_URL", "https://api.openai.com/v1/chat/completions")
    response = requests.post(url, headers=headers, json=payload, timeout=60)
    response.raise_for_status()
    data = response.json()
    return data["choices"][0]["message"]["content"].strip(), data["model"]


def llava_get_eval_original(content: str, max_tokens: int) -> tuple[str, str]:
    """llava-in-the-wild's / ferret's / multilingual-llava-bench's ``get_eval``: a system prompt, temperature
    0.2, ``MODEL_VERSION`` else gpt-4o-2024-11-20 (one attempt; the retry loop sends the same body)."""
    system = "You are a helpful and precise assistant for checking the quality of the answer."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": content}]
    return _post_chat(messages, 0.2, max_tokens, "gpt-4o-2024-11-20")


def mia_bench_get_eval_original(content: str, max_tokens: int) -> tuple[str, str]:
    """mia_bench's (and air_bench's) ``get_eval``: the user message alone, temperature 0, gpt-4o-2024-11-20."""
    return _post_chat([{"role": "user", "content": content}], 0, max_tokens, "gpt-4o-2024-11-20")


def mmmu_get_chat_response_original(content: str, max_tokens: int, base_url: str) -> str:
    """The old mmmu ``get_chat_response`` (before lmms-eval 0.4): the ``openai`` client, a system prompt,
    temperature 0.0, ``MODEL_VERSION`` else gpt-4o-2024-08-06. (It built ``OpenAI(api_key=...)`` with the
    default base URL; the test points it at the local server.)"""
    import os

    from openai import OpenAI

    client = OpenAI(api_key=os.getenv("OPENAI_API_KEY", "YOUR_API_KEY"), base_url=base_url, max_retries=0)
    system = "You are a helpful and precise assistant for checking the correctness of the answer."
    response = client.chat.completions.create(
        model=os.getenv("MODEL_VERSION", "gpt-4o-2024-08-06"),
        messages=[{"role": "system", "content": system}, {"role": "user", "content": content}],
        temperature=0.0,
        max_tokens=max_tokens,
    )
    return response.choices[0].message.content.strip()

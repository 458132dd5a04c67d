"""A scripted judge for `FakeLLMServer` that reads judgekit's prompts and scores responses by a rule.

`rule_judge(score)` answers pointwise (``<score>N</score>``), pairwise (``<better>A</better>``: the higher
score, A on a tie) and listwise prompts (``{"scores": [...]}`` in the order shown), with ``score(text)`` of
each response, so tests and benchmarks can check that what comes back follows the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from judgekit.testing.wire import RecordedRequest

__all__ = ["prompt_of", "rule_judge", "shown_responses"]

_LISTED = re.compile(r"^\[(\d+)\]\n(.*?)\n\[End of \1\]$", re.S | re.M)
_PAIR = re.compile(r"\[Response ([AB])\]\n(.*?)\n\[End of Response \1\]", re.S)
_SINGLE = re.compile(r"\[Response\]\n(.*?)\n\[End of Response\]", re.S)


def prompt_of(rec: RecordedRequest) -> str:
    """The text of the last user message of a recorded chat request."""
    messages = (rec.json or {}).get("messages") or []
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1]) if users else ""


def shown_responses(prompt: str) -> list[str]:
    """The responses of a listwise prompt in the order shown ([1] first)."""
    return [m[2] for m in _LISTED.finditer(prompt)]


def rule_judge(score: Callable[[str], float]) -> Callable[[RecordedRequest], str]:
    """A `FakeLLMServer` reply source that scores every response of a judgekit prompt with ``score(text)``."""

    def reply(rec: RecordedRequest) -> str:
        prompt = prompt_of(rec)
        listed = shown_responses(prompt)
        if listed:
            return "<think>scored</think>" + json.dumps({"scores": [score(text) for text in listed]})
        pair = dict((m[1], m[2]) for m in _PAIR.finditer(prompt))
        if len(pair) == 2:
            return f"<better>{'A' if score(pair['A']) >= score(pair['B']) else 'B'}</better>"
        single = _SINGLE.search(prompt)
        if single:
            return f"<score>{score(single[1]):g}</score>"
        return "I cannot tell."

    return reply

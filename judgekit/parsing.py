"""Turn a judge model's reply text into a verdict: the reply parsers of `judgekit.parsers` (pure functions, no
I/O, knowing no kind), and ``PARSERS``, the parser of each registered kind (read from `judgekit.kinds` at each
use, so a kind registered later shows up).
"""

from __future__ import annotations

from typing import Any

from judgekit import kinds
from judgekit.parsers import (
    Verdict,
    parse_binary,
    parse_comparative,
    parse_correctness,
    parse_custom,
    parse_json,
    parse_listwise,
    parse_pairwise,
    parse_pointwise,
    parse_rubric,
    parse_tagged_number,
    parse_verdict_token,
    read_tag,
    split_reasoning,
)

__all__ = [
    "PARSERS",  # noqa: F822 (read from the kind registry at each use, see __getattr__)
    "Verdict",
    "parse_binary",
    "parse_comparative",
    "parse_correctness",
    "parse_custom",
    "parse_json",
    "parse_listwise",
    "parse_pairwise",
    "parse_pointwise",
    "parse_rubric",
    "parse_tagged_number",
    "parse_verdict_token",
    "read_tag",
    "split_reasoning",
]


def __getattr__(name: str) -> Any:
    if name == "PARSERS":
        return kinds.PARSERS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

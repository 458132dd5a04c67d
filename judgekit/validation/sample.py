"""The shipped labelled sample (``judgekit/data/validation_sample.jsonl``, made by
``scripts/make_validation_sample.py``): binary items (a closed part: numbers, units, choices; an open part:
open-ended answers in other words) and position-swapped pairwise pairs with known labels."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load_sample"]


def load_sample(kind: str | None = None, part: str | None = None) -> list[dict[str, Any]]:
    """The sample's rows (``kind``, ``id``, the kind's fields, ``label``; pairwise rows also ``pair_id``; binary
    rows also ``part``: ``"closed"`` or ``"open"``), only those of ``kind`` / ``part`` when given."""
    text = resources.files("judgekit.data").joinpath("validation_sample.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        row
        for row in rows
        if (kind is None or row.get("kind", kind) == kind) and (part is None or row.get("part") == part)
    ]

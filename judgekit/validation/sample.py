"""The shipped labelled sample (``judgekit/data/validation_sample.jsonl``, made by
``scripts/make_validation_sample.py``): binary items and position-swapped pairwise pairs with known labels."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load_sample"]


def load_sample(kind: str | None = None) -> list[dict[str, Any]]:
    """The sample's rows (``kind``, ``id``, the kind's fields, ``label``; pairwise rows also ``pair_id``),
    only those of ``kind`` when given."""
    text = resources.files("judgekit.data").joinpath("validation_sample.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [row for row in rows if kind is None or row.get("kind", kind) == kind]

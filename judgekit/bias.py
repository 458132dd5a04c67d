"""Bias probes: what a judge does with counterfactual copies of the same items.

`probe(judge, kind, items, probes=...)` judges every item as it is and, beside it, one copy per probe that
changes something that should not matter, then reports per probe the share of verdicts that flipped, the
direction they flipped in, and a 95% Wilson interval (statsmodels). The probes (`PROBES`):

- ``swap``: the two responses exchange places (pairwise only); a "flip" is the judge preferring the same
  *position* both times (position bias), its direction ``first`` or ``second``;
- ``padding``: content-free filler appended to the judged response (verbosity bias);
- ``expert_prefix``: "As an expert, " before it (authority bias);
- ``confident_claim``: a confident but irrelevant claim appended;
- ``markdown``: the same sentences as a markdown list under a heading (formatting bias).

The changed response is ``response2`` (B) for ``pairwise``, ``prediction`` for ``binary``/``correctness`` and
``response`` for ``pointwise``. Directions: ``toward`` (the change helped it: B now preferred, a verdict turned
positive, a score went up) or ``away``. An item whose original or copy failed is counted in ``failed``, not
judged. The report is a plain dict with stable keys (`REPORT_KEYS`, `PROBE_KEYS`); docs/validation.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from judgekit._sync import run_sync
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.kinds import suggest
from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeResult

__all__ = ["PROBES", "PROBE_KEYS", "REPORT_KEYS", "TARGETS", "aprobe", "probe"]

FILLER = (
    "\n\nTo restate the above in other words: this is the response to the question as it was asked, "
    "and the points made above are the points of this response."
)
CONFIDENT_CLAIM = "\n\nI am absolutely certain of this; it has been independently verified by leading experts."


def _markdown(text: str) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    return "### Answer\n\n" + "\n".join(f"- **{s}**" if i == 0 else f"- {s}" for i, s in enumerate(sentences))


PROBES: Mapping[str, Callable[[str], str]] = {
    "swap": lambda text: text,  # exchanges the responses; see _copy
    "padding": lambda text: text + FILLER,
    "expert_prefix": lambda text: "As an expert, " + text,
    "confident_claim": lambda text: text + CONFIDENT_CLAIM,
    "markdown": _markdown,
}
"""Each probe's change to the judged response (``swap`` exchanges the two responses instead)."""

TARGETS: Mapping[str, str] = {
    "pairwise": "response2",
    "binary": "prediction",
    "correctness": "prediction",
    "pointwise": "response",
}
"""The kinds a probe judges, and the field each probe changes."""

REPORT_KEYS = ("kind", "model", "items", "probes")
PROBE_KEYS = ("judged", "failed", "flips", "flip_rate", "ci95", "toward", "away", "direction", "mean_shift")


def _copy(kind: str, name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    copy = dict(item)
    if name == "swap":
        copy["response1"], copy["response2"] = item["response2"], item["response1"]
    else:
        field = TARGETS[kind]
        copy[field] = PROBES[name](str(item[field]))
    return copy


def _verdict(kind: str, result: JudgeResult) -> Any:
    if kind == "pointwise":
        return float(result["scores"])
    if kind == "pairwise":
        return result["result"]
    return bool(result["result"])


def _compare(kind: str, name: str, original: Any, copy: Any) -> str | None:
    """None when the verdict held; else ``toward`` or ``away`` (for ``swap``: the first or second position)."""
    if name == "swap":  # the copy's A is the original's B: a held verdict names the other letter
        return None if original != copy else ("toward" if copy == "A" else "away")
    if original == copy:
        return None
    if kind == "pairwise":
        return "toward" if copy == "B" else "away"
    return "toward" if copy > original else "away"


def _interval(flips: int, n: int) -> list[float] | None:
    if n == 0:
        return None
    try:
        from statsmodels.stats.proportion import proportion_confint
    except ImportError as exc:
        raise MissingDependencyError(f'bias probes need statsmodels: pip install "judgekit[validate]" ({exc})') from exc
    low, high = proportion_confint(flips, n, alpha=0.05, method="wilson")
    return [float(low), float(high)]


async def aprobe(
    judge: SimplifiedJudge,
    kind: str,
    items: Sequence[Mapping[str, Any]],
    probes: Sequence[str] | None = None,
    *,
    max_concurrency: int | None = None,
) -> dict[str, Any]:
    """Async twin of `probe`."""
    if kind not in TARGETS:
        raise ConfigError(f"bias probes judge {', '.join(TARGETS)}, not {kind!r}{suggest(kind, TARGETS)}", "kind")
    names = list(probes) if probes is not None else [p for p in PROBES if kind == "pairwise" or p != "swap"]
    for name in names:
        if name not in PROBES:
            raise ConfigError(f"unknown probe {name!r}{suggest(name, PROBES)} (probes: {', '.join(PROBES)})", "probes")
        if name == "swap" and kind != "pairwise":
            raise ConfigError("the swap probe needs two responses: kind pairwise", "probes")
    for i, item in enumerate(items):
        needed = ("response1", "response2") if kind == "pairwise" else (TARGETS[kind],)
        missing = [f for f in needed if f not in item]
        if missing:
            raise ConfigError(f"items[{i}] needs {', '.join(missing)} for {kind} probes", f"items[{i}]")
        if kind == "pairwise" and item.get("swap"):
            raise ConfigError(f"items[{i}]: probes judge each order themselves; drop swap=True", f"items[{i}]")
    batch = [dict(item) for item in items] + [_copy(kind, name, item) for name in names for item in items]
    results = await judge.aevaluate_batch(kind, batch, max_concurrency=max_concurrency)
    n = len(items)
    originals = results[:n]
    report: dict[str, Any] = {"kind": kind, "model": judge.config.model_name, "items": n, "probes": {}}
    for p, name in enumerate(names):
        copies = results[n * (p + 1) : n * (p + 2)]
        pairs = [(o, c) for o, c in zip(originals, copies, strict=True) if o["success"] and c["success"]]
        moved = [_compare(kind, name, _verdict(kind, o), _verdict(kind, c)) for o, c in pairs]
        flips = [m for m in moved if m is not None]
        toward, away = flips.count("toward"), flips.count("away")
        labels = ("first", "second") if name == "swap" else ("toward", "away")
        direction = "none" if not flips else "mixed" if toward == away else labels[toward < away]
        shift = None
        if kind == "pointwise" and pairs:
            shift = sum(_verdict(kind, c) - _verdict(kind, o) for o, c in pairs) / len(pairs)
        report["probes"][name] = {
            "judged": len(pairs),
            "failed": n - len(pairs),
            "flips": len(flips),
            "flip_rate": len(flips) / len(pairs) if pairs else None,
            "ci95": _interval(len(flips), len(pairs)),
            "toward": toward,
            "away": away,
            "direction": direction,
            "mean_shift": shift,
        }
    return report


def probe(
    judge: SimplifiedJudge,
    kind: str,
    items: Sequence[Mapping[str, Any]],
    probes: Sequence[str] | None = None,
    *,
    max_concurrency: int | None = None,
) -> dict[str, Any]:
    """Judge ``items`` of ``kind`` and a counterfactual copy of each per probe (`PROBES`; default all that apply
    to the kind) in one batch; per probe the share of verdicts that flipped (``flip_rate``), its 95% Wilson
    interval (``ci95``), the flips ``toward`` / ``away`` from the change (``first`` / ``second`` position for
    ``swap``), the ``direction`` most of them took, and ``mean_shift`` of pointwise scores."""
    return run_sync(aprobe(judge, kind, items, probes, max_concurrency=max_concurrency))

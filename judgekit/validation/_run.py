"""From judged items and their labels to a `ValidationReport`: what each kind's result means as a verdict,
a preference or a score (read from the kind spec), then the metrics of that group."""

from __future__ import annotations

import datetime
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from judgekit.calibration import Calibrator, fit
from judgekit.errors import ConfigError
from judgekit.kinds import METADATA_KEYS, KindSpec, get_kind
from judgekit.validation import metrics as m
from judgekit.validation.ppi import classical_mean, ppi_mean
from judgekit.validation.report import ValidationReport

__all__ = [
    "Group",
    "Judged",
    "build_report",
    "fit_calibrator",
    "group_of",
    "judged",
    "label_of",
    "validate",
    "with_ppi",
]

Group = Literal["verdict", "preference", "score"]


def group_of(spec: KindSpec) -> Group:
    """What a kind's result is compared as: a yes/no verdict, a preference between two responses, or a score."""
    if spec.verdict:
        return "verdict"
    if spec.swappable:
        return "preference"
    return "score"


def label_of(group: Group, label: Any, where: str) -> Any:
    """A label read as the group's value: 1/0 (from 1/0, true/false, yes/no), "A"/"B"/"tie", or a number."""
    if group == "verdict":
        if isinstance(label, bool) or label in (0, 1):
            return int(label)
        text = str(label).strip().lower()
        if text in ("1", "yes", "true", "correct"):
            return 1
        if text in ("0", "no", "false", "incorrect"):
            return 0
        raise ConfigError(f"{where}: a verdict label must be 1/0 or yes/no, got {label!r}", where)
    if group == "preference":
        text = str(label).strip()
        value = {"a": "A", "b": "B", "tie": "tie"}.get(text.lower())
        if value is None:
            raise ConfigError(f"{where}: a preference label must be 'A', 'B' or 'tie', got {label!r}", where)
        return value
    if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
        raise ConfigError(f"{where}: a score label must be a number, got {label!r}", where)
    return float(label)


def _verdict_value(group: Group, result: Mapping[str, Any]) -> Any:
    """The judge's value in the group's terms, from a succeeded result."""
    if group == "verdict":  # 1/0, a yes/no Verdict, or its text "yes"/"no" in a batch output
        return label_of("verdict", result["result"], "result")
    if group == "preference":
        if result.get("result") in ("A", "B", "tie"):
            return result["result"]
        s1, s2 = result["scores"]  # comparative: the higher score is preferred
        return "A" if s1 > s2 else "B" if s2 > s1 else "tie"
    scores = result["scores"]
    return float(sum(scores.values()) / len(scores)) if isinstance(scores, Mapping) else float(scores)


def _p_yes(result: Mapping[str, Any]) -> float | None:
    """P(yes) of a verdict: ``p_yes`` (logprob scoring), else a backend-native ``score`` in [0, 1]."""
    for key in ("p_yes", "score"):
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            return float(value)
    return None


def _numeric(group: Group, value: Any) -> float:
    """A value as a number for estimating a mean (verdicts 1/0, preferences 1 / 0.5 / 0 for A / tie / B)."""
    return {"A": 1.0, "tie": 0.5, "B": 0.0}[value] if group == "preference" else float(value)


@dataclass
class Judged:
    """The succeeded judgements of a labelled set, in the group's terms, and what failed."""

    kind: str
    group: Group
    n: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    """Every item as the report shows it: ``index``, ``id``, ``inputs``, ``label``, and either ``judge`` (the
    judge's value) or ``error_type`` / ``error_message``, with the judge's ``reply``."""
    labels: list[Any] = field(default_factory=list)
    verdicts: list[Any] = field(default_factory=list)
    p_yes: list[float] | None = None
    lengths: list[float] | None = None
    pairs: tuple[list[Any], list[Any]] | None = None
    failures: Counter[str] = field(default_factory=Counter)
    error_types: Counter[str] = field(default_factory=Counter)
    """Failed judgements counted by ``error_type``."""

    @property
    def n_failed(self) -> int:
        return self.n - len(self.verdicts)

    def why_nothing_judged(self, examples: int = 3) -> str:
        """Why no item could be judged: the failures counted by error type, then the first reasons."""
        types = ", ".join(f"{count} {name}" for name, count in self.error_types.most_common())
        lines = [f"no item could be judged: {self.n_failed} of {self.n} failed ({types or 'no results'})"]
        lines += [f"  {count} x {reason}" for reason, count in self.failures.most_common(examples)]
        if len(self.failures) > examples:
            lines.append(f"  ... and {len(self.failures) - examples} other reasons")
        return "\n".join(lines)


def judged(
    kind: str,
    items: Sequence[Mapping[str, Any]],
    labels: Sequence[Any],
    results: Sequence[Mapping[str, Any]],
    *,
    threshold: float | None = None,
) -> Judged:
    """Pair each succeeded result with its label; count the failed ones by reason. With ``threshold``, a
    verdict is read as P(yes) >= threshold (what a logprob judge with that threshold decides) where the result
    has a P(yes)."""
    spec = get_kind(kind)
    group = group_of(spec)
    if not len(results) == len(items) == len(labels):
        raise ConfigError(f"{len(items)} items but {len(results)} results and {len(labels)} labels", "labels")
    out = Judged(kind=spec.name, group=group, n=len(items))
    p_all: list[float | None] = []
    lengths: list[float] = []
    ok_index: dict[int, int] = {}
    for i, (item, result) in enumerate(zip(items, results, strict=True)):
        label = label_of(group, labels[i], f"labels[{i}]")
        if not result.get("success"):
            out.failures[_reason(result)] += 1
            out.error_types[str(result.get("error_type") or "error")] += 1
            continue
        ok_index[i] = len(out.verdicts)
        out.labels.append(label)
        p_yes = _p_yes(result) if group == "verdict" else None
        decided = threshold is not None and p_yes is not None
        out.verdicts.append(int(p_yes >= threshold) if decided else _verdict_value(group, result))  # type: ignore[operator]
        p_all.append(p_yes)
        lengths.append(_length(group, item))
    if group == "verdict" and out.verdicts and all(p is not None for p in p_all):
        out.p_yes = [float(p) for p in p_all if p is not None]
    if group != "score" and all(math.isfinite(x) for x in lengths):
        out.lengths = lengths
    if group == "preference":
        out.pairs = _pairs(items, results, ok_index, out.verdicts)
    out.cases = [
        _case(group, i, items[i], labels[i], result, out.verdicts[ok_index[i]] if i in ok_index else None)
        for i, result in enumerate(results)
    ]
    return out


def _case(
    group: Group, index: int, item: Mapping[str, Any], label: Any, result: Mapping[str, Any], verdict: Any
) -> dict[str, Any]:
    """One item for the report's tables: what the judge saw, the label, and what it answered (``verdict``, as
    the metrics read it) or why not."""
    case: dict[str, Any] = {
        "index": index,
        "id": item.get("id"),
        "inputs": {k: v for k, v in item.items() if k not in METADATA_KEYS},
        "label": label_of(group, label, f"labels[{index}]"),
        "reply": result.get("raw_response"),
    }
    if result.get("success"):
        case["judge"] = verdict
    else:
        case["error_type"] = str(result.get("error_type") or "error")
        case["error_message"] = str(result.get("error_message") or "")
    return case


def _reason(result: Mapping[str, Any]) -> str:
    reason = str(result.get("error_message") or result.get("error_type") or "failed")
    return reason if len(reason) <= 100 else reason[:97] + "..."


def _length(group: Group, item: Mapping[str, Any]) -> float:
    if group == "preference":
        return float(len(str(item.get("response1", ""))) - len(str(item.get("response2", ""))))
    text = item.get("prediction", item.get("response"))
    return float(len(text)) if isinstance(text, str) else math.nan


def _pairs(
    items: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    ok_index: dict[int, int],
    verdicts: list[Any],
) -> tuple[list[Any], list[Any]] | None:
    """Verdicts of the same pair in its two orders: from results judged with ``swap=True`` (their
    ``swap_results``), else from items sharing a ``pair_id`` whose responses are swapped."""
    first: list[Any] = []
    second: list[Any] = []
    for result in results:
        both = result.get("swap_results") or []
        if len(both) == 2 and all(r.get("success") for r in both):
            first.append(_verdict_value("preference", both[0]))
            second.append(_verdict_value("preference", both[1]))
    if first:
        return first, second
    by_pair: dict[Any, list[int]] = {}
    for i, item in enumerate(items):
        if item.get("pair_id") is not None and i in ok_index:
            by_pair.setdefault(item["pair_id"], []).append(i)
    for members in by_pair.values():
        if len(members) == 2:
            a, b = (items[i] for i in members)
            if a.get("response1") == b.get("response2") and a.get("response2") == b.get("response1"):
                first.append(verdicts[ok_index[members[0]]])
                second.append(verdicts[ok_index[members[1]]])
    return (first, second) if first else None


def build_report(
    data: Judged,
    *,
    n_resamples: int = 1000,
    seed: int | None = 0,
    judge: str = "",
    meta: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """The metrics of ``data``'s group, with bootstrap intervals, the items the judge got wrong and the failed
    ones. ``meta`` adds to the report's metadata (``judgekit`` version, ``kind``, ``date`` are always there)."""
    classes: list[Any] | None = None
    matrix = None
    if data.group == "verdict":
        values = m.verdict_metrics(
            data.labels, data.verdicts, p_yes=data.p_yes, lengths=data.lengths, n_resamples=n_resamples, seed=seed
        )
        classes = [1, 0]
    elif data.group == "preference":
        values = m.preference_metrics(
            data.labels, data.verdicts, length_diff=data.lengths, pairs=data.pairs, n_resamples=n_resamples, seed=seed
        )
        classes = ["A", "B", "tie"]
    else:
        values = m.score_metrics(data.labels, data.verdicts, n_resamples=n_resamples, seed=seed)
    if classes is not None and data.verdicts:
        matrix = m.confusion_matrix(data.labels, data.verdicts, classes)
    figures: dict[str, list[Any]] = {"labels": list(data.labels)}
    if data.p_yes:
        figures["p_yes"] = list(data.p_yes)
    if data.group == "score":
        figures["scores"] = list(data.verdicts)
    return ValidationReport(
        kind=data.kind,
        n=data.n,
        n_failed=data.n_failed,
        metrics=values,
        confusion_matrix=matrix,
        classes=classes,
        failures=dict(data.failures),
        data=figures,
        judge=judge,
        meta=report_meta(data.kind, judge, meta),
        disagreements=disagreements(data),
        failed_items=[case for case in data.cases if "error_type" in case],
    )


def report_meta(kind: str, judge: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a report was made from: judgekit's version, the kind, the judge, the UTC date, plus ``extra``
    (``model``, ``settings``, ``input``, ... as the caller knows them)."""
    from judgekit import __version__

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"judgekit": __version__, "kind": kind, "judge": judge, "date": now, **(extra or {})}


def disagreements(data: Judged) -> list[dict[str, Any]]:
    """The judged items whose value differs from the label: every one for verdicts and preferences (in input
    order), for scores those off by the most first (``error``: judge minus label)."""
    judged_cases = [case for case in data.cases if "judge" in case]
    if data.group != "score":
        return [case for case in judged_cases if case["judge"] != case["label"]]
    off = [{**case, "error": case["judge"] - case["label"]} for case in judged_cases if case["judge"] != case["label"]]
    return sorted(off, key=lambda case: -abs(case["error"]))


def judge_settings(config: Any) -> dict[str, Any]:
    """A judge config's settings that differ from the defaults, without secrets (the key; header values, which
    may carry one), model or backend."""
    if config is None or not hasattr(config, "model_dump"):
        return {}
    shown = config.model_dump(mode="json", exclude_defaults=True, exclude={"api_key", "api_type", "model_name"})
    if isinstance(shown.get("extra_headers"), dict):
        shown["extra_headers"] = {name: "***" for name in shown["extra_headers"]}
    return {k: v for k, v in shown.items() if "key" not in k and "secret" not in k}


def fit_calibrator(
    report: ValidationReport,
    *,
    method: Literal["isotonic", "platt"] = "isotonic",
    heldout: float = 0.5,
    seed: int = 0,
    path: str | Path | None = None,
) -> Calibrator:
    """Fit a calibrator on part of the report's P(yes) (stratified split) and record the ECE before and after
    on the held-out part in ``report.calibration`` (the report's reliability diagram draws that held-out part,
    raw and calibrated); the returned calibrator is refit on every item (saved to ``path`` when given)."""
    from sklearn.model_selection import train_test_split

    labels, p_yes = report.data.get("labels") or [], report.data.get("p_yes") or []
    if not p_yes:
        raise ConfigError(
            "fitting a calibrator needs P(yes) on the judged items: a verdict kind judged with "
            "logprob scores (logprob_score=True, or the torch judge's logprob mode)",
            "p_yes",
        )
    stratify = labels if min(Counter(labels).values()) >= 2 and len(set(labels)) > 1 else None
    p_fit, p_held, y_fit, y_held = train_test_split(
        p_yes, labels, test_size=heldout, random_state=seed, stratify=stratify
    )
    held_out = fit(p_fit, y_fit, method=method)
    calibrated = [held_out(p) for p in p_held]
    final = fit(p_yes, labels, method=method)
    if path is not None:
        final.save(path)
    report.calibration = {
        "method": method,
        "n_fit": len(p_fit),
        "n_heldout": len(p_held),
        "ece_before": m.ece(y_held, p_held),
        "ece_after": m.ece(y_held, calibrated),
        "brier_before": m.brier(y_held, p_held),
        "brier_after": m.brier(y_held, calibrated),
        "path": str(path) if path is not None else None,
    }
    # the figure compares raw and calibrated P(yes) on the held-out items only: never on the fitted ones
    report.data["heldout"] = {"labels": list(y_held), "p_yes": list(p_held), "calibrated": calibrated}
    return final


def with_ppi(
    report: ValidationReport, data: Judged, unlabelled: Sequence[Mapping[str, Any]], *, alpha: float = 0.05
) -> ValidationReport:
    """Add ``report.ppi``: the mean of the human labels (the evaluated model's accuracy, or its mean score)
    over the labelled and the unlabelled items, estimated by PPI++ from the judge's values on
    ``unlabelled`` (judged results; failed ones are left out and counted) and the labelled set."""
    group = data.group
    values = [_numeric(group, _verdict_value(group, r)) for r in unlabelled if r.get("success")]
    if not values:
        raise ConfigError("no succeeded judgement among the unlabelled results", "ppi")
    judged_l = [_numeric(group, v) for v in data.verdicts]
    human = [_numeric(group, v) for v in data.labels]
    report.ppi = {
        "alpha": alpha,
        "n_labelled": len(human),
        "n_unlabelled": len(values),
        "n_unlabelled_failed": len(unlabelled) - len(values),
        "ppi": ppi_mean(values, judged_l, human, alpha=alpha).as_dict(),
        "classical": classical_mean(human, alpha=alpha).as_dict(),
        "judge_only": sum(values) / len(values),
    }
    return report


def validate(
    judge: Any,
    kind: str,
    items: Sequence[Mapping[str, Any]],
    labels: Sequence[Any],
    *,
    n_resamples: int = 1000,
    seed: int | None = 0,
    max_concurrency: int | None = None,
    progress: bool = False,
) -> ValidationReport:
    """Judge ``items`` (each the keyword arguments of the kind's ``evaluate_*`` method; ``id``, ``pair_id``
    and ``label`` keys are ignored) with ``judge`` (a `~judgekit.SimplifiedJudge` or `~judgekit.Jury`) and
    compare with ``labels``: 1/0 or yes/no for verdict kinds, "A"/"B"/"tie" for pairwise and comparative, a
    number for pointwise and rubric. Failed judgements are counted (``n_failed``), never scored."""
    spec = get_kind(kind)
    group = group_of(spec)
    checked = [label_of(group, label, f"labels[{i}]") for i, label in enumerate(labels)]
    if len(checked) != len(items):
        raise ConfigError(f"{len(items)} items but {len(checked)} labels", "labels")
    inputs = [{k: v for k, v in item.items() if k not in METADATA_KEYS} for item in items]
    results = judge.evaluate_batch(spec.name, inputs, max_concurrency=max_concurrency, progress=progress)
    return build_report(
        judged(spec.name, items, checked, results),
        n_resamples=n_resamples,
        seed=seed,
        judge=_judge_name(judge),
        meta={
            "model": getattr(getattr(judge, "config", None), "model_name", None),
            "settings": judge_settings(getattr(judge, "config", None)),
            "input": f"{len(items)} items passed to validate()",
        },
    )


def _judge_name(judge: Any) -> str:
    jurors = getattr(judge, "judges", None)
    if isinstance(jurors, list):
        return f"jury of {len(jurors)}: " + ", ".join(_judge_name(j) for j in jurors)
    config = getattr(judge, "config", None)
    inner = getattr(judge, "judge", None)
    provider = getattr(inner, "provider_name", "") if inner is not None else ""
    model = getattr(config, "model_name", None) or ""
    return " ".join(x for x in (provider, model) if x) or type(judge).__name__

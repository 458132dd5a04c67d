"""`ValidationReport`: what `judgekit.validation.validate` found, as a terminal table, JSON or an HTML page.

The JSON keys are stable: ``n``, ``n_failed``, ``accuracy``, ``cohen_kappa``, ``tpr``, ``tnr``, ``precision``,
``f1``, ``spearman``, ``kendall_tau``, ``pearson``, ``mae``, ``position_consistency``, ``length_bias``,
``ece``, ``brier``, ``auc`` (plus ``agreement`` and ``tie_rate``), each ``{"value", "ci_low", "ci_high"}``
(``value`` None where the metric does not apply to the kind), then ``kind``, ``confusion_matrix``,
``failures`` and, when computed, ``calibration``, ``ppi`` and ``bias`` (a `judgekit.bias.probe` report);
then ``meta`` (judgekit version, judge, model, settings, input, date), ``disagreements`` (the judged items
whose value differs from the label) and ``failed_items`` (with the error and the judge's raw reply).

The HTML report is a page for a person: the summary and metadata, the metrics table, the figures (embedded
PNG, matplotlib: the confusion matrix with its colour scale from 0, the reliability diagram with the items per
bin, drawn on the held-out part when a calibrator was fitted, and the score scatter), the disagreements with
the judge's replies, the failures with their raw replies, a section of bias probes when ``bias`` is set, and
the JSON behind a link (`save_html` writes it beside the page; `to_html` alone folds it into a closed
``<details>``).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgekit.validation.metrics import Metric

__all__ = ["METRIC_KEYS", "ValidationReport"]

METRIC_KEYS: tuple[str, ...] = (
    "n", "n_failed", "accuracy", "cohen_kappa", "tpr", "tnr", "precision", "f1", "spearman", "kendall_tau",
    "pearson", "mae", "position_consistency", "length_bias", "ece", "brier", "auc",
)  # fmt: skip
"""The stable keys of `ValidationReport.to_dict` (each an object ``{"value", "ci_low", "ci_high"}``)."""

_EXTRA_KEYS = ("agreement", "tie_rate")
_TABLE_ORDER = (
    "accuracy", "agreement", "cohen_kappa", "tpr", "tnr", "precision", "f1", "tie_rate", "position_consistency",
    "length_bias", "spearman", "kendall_tau", "pearson", "mae", "ece", "brier", "auc",
)  # fmt: skip
_LABELS = {
    "n": "items", "n_failed": "failed (not scored)", "accuracy": "accuracy", "cohen_kappa": "Cohen's kappa",
    "tpr": "TPR (recall of 1)", "tnr": "TNR (recall of 0)", "precision": "precision", "f1": "F1",
    "spearman": "Spearman", "kendall_tau": "Kendall tau", "pearson": "Pearson", "mae": "MAE",
    "agreement": "agreement", "tie_rate": "tie rate", "position_consistency": "position consistency",
    "length_bias": "length bias (per 100 chars)", "ece": "ECE", "brier": "Brier", "auc": "AUC",
}  # fmt: skip


@dataclass
class ValidationReport:
    """Agreement of a judge with labels on one kind (see `judgekit.validation.metrics`).

    ``metrics`` maps metric names to `~judgekit.validation.metrics.Metric`; ``data`` keeps the succeeded
    items' labels, verdicts, ``p_yes`` and scores for the figures; ``failures`` counts the error messages of
    failed judgements. ``calibration`` and ``ppi`` are filled by ``--fit-calibrator`` and ``--ppi``.
    """

    kind: str
    n: int
    n_failed: int
    metrics: dict[str, Metric]
    confusion_matrix: list[list[int]] | None = None
    classes: list[Any] | None = None
    failures: dict[str, int] = field(default_factory=dict)
    data: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    calibration: dict[str, Any] | None = None
    ppi: dict[str, Any] | None = None
    judge: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list, repr=False)
    failed_items: list[dict[str, Any]] = field(default_factory=list, repr=False)
    bias: dict[str, Any] | None = None
    """A `judgekit.bias.probe` report on the same judge, shown as its own section of the HTML page."""

    def metric(self, name: str) -> Metric:
        """The named metric (``Metric(None)`` when it does not apply)."""
        if name == "n":
            return Metric(float(self.n))
        if name == "n_failed":
            return Metric(float(self.n_failed))
        return self.metrics.get(name, Metric(None))

    # -------------------------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready report (stable keys: `METRIC_KEYS`)."""
        out: dict[str, Any] = {key: self.metric(key).as_dict() for key in (*METRIC_KEYS, *_EXTRA_KEYS)}
        out["n"]["value"], out["n_failed"]["value"] = self.n, self.n_failed
        out.update(
            kind=self.kind,
            judge=self.judge,
            confusion_matrix=self.confusion_matrix,
            classes=self.classes,
            failures=self.failures,
            calibration=self.calibration,
            ppi=self.ppi,
            meta=self.meta,
            disagreements=self.disagreements,
            failed_items=self.failed_items,
            bias=self.bias,
        )
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    # ------------------------------------------------------------------------------------ terminal

    def table(self) -> str:
        """A readable table of the metrics that apply, with their 95% intervals."""
        title = f"judge validation: {self.kind}" + (f" ({self.judge})" if self.judge else "")
        lines = [title, "-" * max(len(title), 58), f"{'metric':<30}{'value':>9}   95% interval"]
        lines.append(f"{_LABELS['n']:<30}{self.n:>9}")
        lines.append(f"{_LABELS['n_failed']:<30}{self.n_failed:>9}")
        for key in _TABLE_ORDER:
            m = self.metrics.get(key)
            if m is None:
                continue
            interval = f"[{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None else ""
            lines.append(f"{_LABELS[key]:<30}{_fmt(m.value):>9}   {interval}")
        if self.confusion_matrix is not None and self.classes is not None:
            lines.append("")
            lines.append("confusion matrix (rows: label, columns: judge)")
            width = max(6, *(len(str(c)) + 2 for c in self.classes))
            lines.append(" " * width + "".join(f"{c!s:>{width}}" for c in self.classes))
            for c, row in zip(self.classes, self.confusion_matrix, strict=True):
                lines.append(f"{c!s:>{width}}" + "".join(f"{v:>{width}}" for v in row))
        if self.failures:
            lines.append("")
            lines.append("failures (not scored):")
            lines.extend(f"  {count} x {reason}" for reason, count in Counter(self.failures).most_common(5))
        if self.calibration:
            cal = self.calibration
            lines.append("")
            lines.append(
                f"calibration ({cal['method']}, fit on {cal['n_fit']}, held out {cal['n_heldout']}): "
                f"ECE {_fmt(cal['ece_before'])} -> {_fmt(cal['ece_after'])} on the held-out part"
                + (f"; saved to {cal['path']}" if cal.get("path") else "")
            )
        if self.ppi:
            ppi, base = self.ppi["ppi"], self.ppi["classical"]
            lines.append("")
            lines.append(
                f"estimated mean over {self.ppi['n_unlabelled']} unlabelled + {self.ppi['n_labelled']} "
                f"labelled items ({int(100 * (1 - self.ppi['alpha']))}% interval):"
            )
            lines.append(f"  judge alone (biased)        {_fmt(self.ppi['judge_only'])}")
            lines.append(
                f"  human labels alone          {_fmt(base['value'])}   [{base['ci_low']:.3f}, {base['ci_high']:.3f}]"
            )
            lines.append(
                f"  prediction-powered (PPI++)  {_fmt(ppi['value'])}   [{ppi['ci_low']:.3f}, {ppi['ci_high']:.3f}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    # ---------------------------------------------------------------------------------------- HTML

    def figures(self) -> dict[str, str]:
        """The report's figures as base64 PNG, by name: ``confusion_matrix``, ``reliability_diagram``,
        ``score_scatter`` (each only where the kind gives the data for it)."""
        try:  # Figure objects draw without pyplot: the user's matplotlib backend is left alone
            from matplotlib.figure import Figure
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            from judgekit.errors import MissingDependencyError

            raise MissingDependencyError('the HTML report needs: pip install "judgekit[validate]"') from exc
        out: dict[str, str] = {}
        if self.confusion_matrix is not None and self.classes is not None:
            fig = Figure(figsize=(4, 3.6))
            ax = fig.subplots()
            top = max(max(row) for row in self.confusion_matrix) or 1
            image = ax.imshow(self.confusion_matrix, cmap="Blues", vmin=0, vmax=top)  # the scale starts at 0
            ticks = range(len(self.classes))
            ax.set_xticks(list(ticks), [str(c) for c in self.classes])
            ax.set_yticks(list(ticks), [str(c) for c in self.classes])
            ax.set_xlabel("judge")
            ax.set_ylabel("label")
            for i, row in enumerate(self.confusion_matrix):
                for j, count in enumerate(row):
                    ax.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
            fig.colorbar(image, ax=ax)
            ax.set_title("Confusion matrix")
            out["confusion_matrix"] = _png(fig)
        if self.data.get("p_yes"):
            heldout = self.data.get("heldout")
            if heldout:  # raw and calibrated on the same held-out items, none of which the calibrator saw
                n = len(heldout["labels"])
                series = [
                    (f"raw P(yes), held-out ({n})", heldout["p_yes"]),
                    (f"calibrated, held-out ({n})", heldout["calibrated"]),
                ]
                labels = heldout["labels"]
            else:
                series, labels = [(f"judge P(yes), all judged ({len(self.data['p_yes'])})", self.data["p_yes"])], None
            out["reliability_diagram"] = _png(_reliability(Figure, labels or self.data["labels"], series))
        if self.data.get("scores"):
            fig = Figure(figsize=(4.2, 3.6))
            ax = fig.subplots()
            ax.scatter(self.data["labels"], self.data["scores"], alpha=0.5, s=14)
            ax.set_xlabel("label")
            ax.set_ylabel("judge score")
            ax.set_title("Judge score against label")
            out["score_scatter"] = _png(fig)
        return out

    def to_html(self, json_href: str | None = None) -> str:
        """A self-contained HTML page: summary, metadata, metrics, figures (embedded PNG), the disagreements,
        the failures and the JSON (a link to ``json_href`` when given, else folded into a closed
        ``<details>``)."""
        parts = [
            f"<h1>Judge validation: {_e(self.kind)}</h1>",
            f'<p class="summary">{self._summary()}</p>',
            _table(["", ""], [[_e(_META_LABELS.get(k, k)), _meta_value(v)] for k, v in self.meta.items()], "meta"),
            "<h2>Metrics</h2>",
            _table(["metric", "value", "95% interval"], self._metric_rows(), "metrics"),
        ]
        figures = self.figures()
        if figures:
            parts.append("<h2>Figures</h2>")
            parts.append(
                '<div class="figures">'
                + "".join(
                    f'<figure id="{name}"><img alt="{_FIGURES[name][0]}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{_FIGURES[name][1]}</figcaption></figure>"
                    for name, data in figures.items()
                )
                + "</div>"
            )
        if self.calibration:
            parts.append(self._calibration_html())
        if self.ppi:
            parts.append(self._ppi_html())
        if self.bias:
            parts.append(self._bias_html())
        parts.append(self._disagreements_html())
        parts.append(self._failures_html())
        parts.append('<h2 id="json">Data</h2>')
        if json_href is not None:
            parts.append(f'<p>Everything above as JSON: <a href="{_e(json_href)}">{_e(json_href)}</a></p>')
        else:
            parts.append(f"<details><summary>The report as JSON</summary><pre>{_e(self.to_json())}</pre></details>")
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>judgekit validation: {_e(self.kind)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts)
            + "\n</body></html>\n"
        )

    def _bias_html(self) -> str:
        """The bias probes section: one row per probe (flip rate, its 95% interval, direction)."""
        if not self.bias:
            return ""
        rows = []
        for name, row in self.bias.get("probes", {}).items():
            rate = "n/a" if row["flip_rate"] is None else f"{row['flip_rate']:.1%}"
            ci = "" if row["ci95"] is None else f"[{row['ci95'][0]:.1%}, {row['ci95'][1]:.1%}]"
            cells = (name, rate, ci, row["direction"], row["judged"], row["failed"])
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("probe", "flip rate", "95% interval", "direction", "judged", "failed"))
        kind = html.escape(str(self.bias.get("kind")))
        return (
            f'<section id="bias"><h2>Bias probes ({kind})</h2><table><tr>{head}</tr>{"".join(rows)}</table>'
            "<p>Each item judged beside counterfactual copies (docs/validation.md, section 5).</p></section>\n"
        )

    def save_html(self, path: str | Path) -> Path:
        """Write `to_html` to ``path`` and the JSON beside it (same name, ``.json``), linked from the page;
        returns the page's path."""
        path = Path(path)
        data = path.with_suffix(".json")
        data.write_text(self.to_json() + "\n", encoding="utf-8")
        path.write_text(self.to_html(json_href=data.name), encoding="utf-8")
        return path

    def _summary(self) -> str:
        judged = self.n - self.n_failed
        text = (
            f"{_e(self.judge or 'The judge')} judged <b>{judged}</b> of <b>{self.n}</b> labelled items"
            f" (<b>{self.n_failed}</b> failed: not scored, listed below)"
        )
        headline = [key for key in _TABLE_ORDER if key in self.metrics and self.metrics[key].value is not None][:2]
        if headline:
            text += "; " + ", ".join(
                f"{_LABELS[k]} <b>{_fmt(self.metrics[k].value)}</b>{_ci(self.metrics[k])}" for k in headline
            )
        if judged:
            noun = "items it scored off the label" if self._group == "score" else "disagreements with the label"
            text += f"; <b>{len(self.disagreements)}</b> {noun}"
        return text + "."

    @property
    def _group(self) -> str:
        """``verdict``, ``preference`` or ``score``: how the kind's results were compared."""
        if self.classes == [1, 0]:
            return "verdict"
        return "preference" if self.classes else "score"

    def _metric_rows(self) -> list[list[str]]:
        rows = [[_LABELS["n"], str(self.n), ""], [_LABELS["n_failed"], str(self.n_failed), ""]]
        for key in _TABLE_ORDER:
            m = self.metrics.get(key)
            if m is not None:
                rows.append([_LABELS[key], _fmt(m.value), _ci(m).strip()])
        return rows

    def _calibration_html(self) -> str:
        cal = self.calibration or {}
        saved = f" Saved to <code>{_e(cal['path'])}</code>." if cal.get("path") else ""
        return (
            f'<h2 id="calibration">Calibration</h2><p>The {_e(cal["method"])} calibrator was fitted on '
            f"{cal['n_fit']} items and tested on the other {cal['n_heldout']} (held out, never seen by the fit): "
            f"ECE {_fmt(cal['ece_before'])} &rarr; <b>{_fmt(cal['ece_after'])}</b>, Brier "
            f"{_fmt(cal.get('brier_before'))} &rarr; <b>{_fmt(cal.get('brier_after'))}</b>. The reliability "
            f"diagram above shows these held-out items, raw and calibrated. The saved calibrator is refitted on "
            f"all {cal['n_fit'] + cal['n_heldout']} items.{saved}</p>"
        )

    def _ppi_html(self) -> str:
        ppi = self.ppi or {}
        level = int(100 * (1 - ppi["alpha"]))
        rows = [
            ["judge alone (biased)", _fmt(ppi["judge_only"]), ""],
            ["human labels alone", _fmt(ppi["classical"]["value"]), _interval(ppi["classical"])],
            ["prediction-powered (PPI++)", _fmt(ppi["ppi"]["value"]), _interval(ppi["ppi"])],
        ]
        return (
            f'<h2 id="ppi">Estimated mean label</h2><p>Over {ppi["n_unlabelled"]} unlabelled and '
            f"{ppi['n_labelled']} labelled items ({level}% intervals; {ppi.get('n_unlabelled_failed', 0)} "
            "unlabelled judgements failed and are left out).</p>"
            + _table(["estimate", "value", f"{level}% interval"], rows, "ppi")
        )

    def _disagreements_html(self) -> str:
        cases = self.disagreements
        score = self._group == "score"
        title = "Scored off the label" if score else "Disagreements"
        intro = (
            "Judged items whose score differs from the label, the largest differences first."
            if score
            else "Judged items where the judge's verdict is not the label."
        )
        if not cases:
            return f'<h2 id="disagreements">{title} (0)</h2><p>None: the judge agrees with every label it gave.</p>'
        rows = [
            [_item_ref(c), _inputs(c["inputs"]), _e(c["label"]),
             _e(c["judge"]) + (f" ({c['error']:+g})" if score else ""), _text(c.get("reply"), "no reply text")]
            for c in cases[:_MAX_ROWS]
        ]  # fmt: skip
        return f'<h2 id="disagreements">{title} ({len(cases)})</h2><p>{intro}{_more(len(cases))}</p>' + _table(
            ["item", "judge input", "label", "judge", "judge's reply"], rows, "cases"
        )

    def _failures_html(self) -> str:
        if not self.n_failed:
            return '<h2 id="failures">Failures (0)</h2><p>Every item was judged.</p>'
        reasons = _table(
            ["items", "reason"],
            [[str(count), _e(reason)] for reason, count in Counter(self.failures).most_common()],
            "reasons",
        )
        rows = [
            [_item_ref(c), _inputs(c["inputs"]), _e(c["error_type"]), _text(c["error_message"], ""),
             _text(c.get("reply"), "no reply")]
            for c in self.failed_items[:_MAX_ROWS]
        ]  # fmt: skip
        return (
            f'<h2 id="failures">Failures ({self.n_failed})</h2><p>Failed judgements are left out of every '
            f"metric, never counted as wrong.{_more(len(self.failed_items))}</p>{reasons}"
            + _table(["item", "judge input", "error", "message", "raw reply"], rows, "cases")
        )


_MAX_ROWS = 50
_FIGURES = {
    "confusion_matrix": ("Confusion matrix", "Confusion matrix: rows are labels, columns the judge's values."),
    "reliability_diagram": (
        "Reliability diagram",
        "Reliability: share labelled 1 against P(yes); numbers and bars give the items per bin.",
    ),
    "score_scatter": ("Score scatter", "The judge's score against the label."),
}
_META_LABELS = {
    "judgekit": "judgekit version", "kind": "kind", "judge": "judge", "model": "model", "settings": "settings",
    "input": "input", "judged_file": "judged file", "date": "date",
}  # fmt: skip
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
    "h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}.summary{font-size:1.1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .6em;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}table.meta td:first-child{font-weight:600}"
    "table.metrics td:nth-child(2){text-align:right;font-variant-numeric:tabular-nums}"
    "table.cases{width:100%;font-size:.9em}.cell{max-height:10em;overflow:auto;white-space:pre-wrap}"
    ".field{color:#666;font-size:.85em}.none{color:#999;font-style:italic}"
    ".figures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}figure{margin:0}"
    "figcaption{font-size:.85em;color:#555;max-width:30em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _ci(m: Metric) -> str:
    return f" [{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None and m.ci_high is not None else ""


def _interval(d: dict[str, Any]) -> str:
    return f"[{d['ci_low']:.3f}, {d['ci_high']:.3f}]"


def _more(n: int) -> str:
    return f" The first {_MAX_ROWS} of {n} are shown; all are in the JSON." if n > _MAX_ROWS else ""


def _text(value: Any, empty: str) -> str:
    if value is None or value == "":
        return f'<span class="none">{_e(empty)}</span>' if empty else ""
    return f'<div class="cell">{_e(value)}</div>'


def _item_ref(case: dict[str, Any]) -> str:
    return _e(case["id"]) if case.get("id") is not None else f"line {case['index'] + 1}"


def _inputs(inputs: dict[str, Any]) -> str:
    return "".join(f'<div class="field">{_e(k)}</div>{_text(v, "(empty)")}' for k, v in inputs.items())


def _meta_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{_e(k)}={_e(json.dumps(v, default=str))}" for k, v in value.items()) or "defaults"
    return _e(value) if value not in (None, "") else '<span class="none">not recorded</span>'


def _table(header: list[str], rows: list[list[str]], css: str) -> str:
    head = "" if not any(header) else "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}">{head}{body}</table>'


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bins(labels: list[int], probs: list[float], n_bins: int = 10) -> tuple[Any, Any, Any]:
    """Per equal-width bin of P(yes) (the bins of the ECE): mean P(yes), share labelled 1, items; empty bins
    give NaN."""
    import numpy as np

    p, y = np.asarray(probs, dtype=float), np.asarray(labels, dtype=float)
    ids = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], p)
    counts = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(ids, weights=p, minlength=n_bins) / counts
        share = np.bincount(ids, weights=y, minlength=n_bins) / counts
    return mean_p, share, counts


def _reliability(figure: Any, labels: list[int], series: list[tuple[str, list[float]]]) -> Any:
    """Share labelled 1 against mean P(yes) in ten equal-width bins, each point marked with its number of
    items, and below it the items per bin (a point on 3 items says little)."""
    import numpy as np

    fig = figure(figsize=(5.2, 5.4))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    width = 0.1 / (len(series) + 1)
    for k, (name, probs) in enumerate(series):
        mean_p, share, counts = _bins(labels, probs)
        shown = counts > 0
        (line,) = top.plot(mean_p[shown], share[shown], marker="o", label=name)
        for x, y, n in zip(mean_p[shown], share[shown], counts[shown], strict=True):
            top.annotate(
                str(n), (x, y), textcoords="offset points", xytext=(4, 4 - 12 * k), fontsize=7, color=line.get_color()
            )
        centres = np.arange(10) / 10 + width * (k + 1)
        bottom.bar(centres, counts, width=width, color=line.get_color(), label=name)
    top.set_ylabel("share labelled 1")
    top.set_xlim(0, 1)
    top.set_ylim(-0.04, 1.08)
    top.legend(loc="lower right", fontsize="small")
    top.set_title("Reliability diagram (numbers: items in the bin)", fontsize="medium")
    bottom.set_xlabel("P(yes), ten equal-width bins")
    bottom.set_ylabel("items")
    bottom.set_xticks(np.linspace(0, 1, 11))
    return fig

"""`ValidationReport`: what `judgekit.validation.validate` found, as a terminal table, JSON or an HTML page.

The JSON keys are stable: ``n``, ``n_failed``, ``accuracy``, ``cohen_kappa``, ``tpr``, ``tnr``, ``precision``,
``f1``, ``spearman``, ``kendall_tau``, ``pearson``, ``mae``, ``position_consistency``, ``length_bias``,
``ece``, ``brier``, ``auc`` (plus ``agreement`` and ``tie_rate``), each ``{"value", "ci_low", "ci_high"}``
(``value`` None where the metric does not apply to the kind), then ``kind``, ``confusion_matrix``,
``failures`` and, when computed, ``calibration``, ``ppi`` and ``bias`` (a `judgekit.bias.probe` report). The
HTML report embeds its figures as PNG (matplotlib): the confusion matrix, the reliability diagram (with
P(yes)) and the score scatter (scores); and a section of bias probes when ``bias`` is set.
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
            bias=self.bias,
        )
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

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
            image = ax.imshow(self.confusion_matrix, cmap="Blues")
            ticks = range(len(self.classes))
            ax.set_xticks(list(ticks), [str(c) for c in self.classes])
            ax.set_yticks(list(ticks), [str(c) for c in self.classes])
            ax.set_xlabel("judge")
            ax.set_ylabel("label")
            top = max(max(row) for row in self.confusion_matrix) or 1
            for i, row in enumerate(self.confusion_matrix):
                for j, count in enumerate(row):
                    ax.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
            fig.colorbar(image, ax=ax)
            ax.set_title("Confusion matrix")
            out["confusion_matrix"] = _png(fig)
        if self.data.get("p_yes"):
            out["reliability_diagram"] = _png(
                _reliability(Figure, self.data["labels"], self.data["p_yes"], self.data.get("p_yes_calibrated"))
            )
        if self.data.get("scores"):
            fig = Figure(figsize=(4.2, 3.6))
            ax = fig.subplots()
            ax.scatter(self.data["labels"], self.data["scores"], alpha=0.5, s=14)
            ax.set_xlabel("label")
            ax.set_ylabel("judge score")
            ax.set_title("Judge score against label")
            out["score_scatter"] = _png(fig)
        return out

    def to_html(self) -> str:
        """A self-contained HTML page: the table, the figures (embedded PNG) and the JSON."""
        titles = {
            "confusion_matrix": "Confusion matrix",
            "reliability_diagram": "Reliability diagram",
            "score_scatter": "Score scatter",
        }
        figures = "\n".join(
            f'<figure id="{name}"><img alt="{titles[name]}" src="data:image/png;base64,{data}">'
            f"<figcaption>{titles[name]}</figcaption></figure>"
            for name, data in self.figures().items()
        )
        return (
            '<!doctype html>\n<html><head><meta charset="utf-8">'
            f"<title>judgekit validation: {html.escape(self.kind)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}figure{display:inline-block;"
            "margin:0 1em 1em 0}pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head><body>\n"
            f"<h1>judgekit validation: {html.escape(self.kind)}</h1>\n"
            f"<pre>{html.escape(self.table())}</pre>\n{figures}\n{self._bias_html()}"
            f"<h2>JSON</h2><pre>{html.escape(self.to_json())}</pre>\n</body></html>\n"
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
        """Write `to_html` to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _reliability(figure: Any, labels: list[int], p_yes: list[float], calibrated: list[float] | None) -> Any:
    """Mean label against mean P(yes) in ten equal-width bins (`sklearn.calibration.calibration_curve`)."""
    from sklearn.calibration import calibration_curve

    fig = figure(figsize=(4.2, 3.8))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    series = [("judge P(yes)", p_yes)] + ([("calibrated", calibrated)] if calibrated else [])
    for name, probs in series:
        if len(set(labels)) > 1:
            true, pred = calibration_curve(labels, probs, n_bins=10, strategy="uniform")
            ax.plot(pred, true, marker="o", label=name)
    ax.set_xlabel("mean P(yes) in bin")
    ax.set_ylabel("share labelled 1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title("Reliability diagram")
    return fig

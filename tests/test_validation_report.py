"""`validate` and `ValidationReport` on the shipped sample: the rules judge, a position-biased pairwise judge on a
local server, failures counted, JSON keys, the HTML report's figures, calibration and PPI."""

from __future__ import annotations

import json
import re

import pytest

from judgekit import ConfigError, SimplifiedJudge
from judgekit.testing import FakeLLMServer
from judgekit.types import JudgeResult
from judgekit.validation import ValidationReport, load_sample, validate
from judgekit.validation._run import build_report, fit_calibrator, judged, with_ppi
from judgekit.validation.report import METRIC_KEYS


@pytest.fixture(scope="module")
def rules_report() -> ValidationReport:
    rows = load_sample("binary", part="closed")
    return validate(SimplifiedJudge(api_type="rules"), "binary", rows, [r["label"] for r in rows], n_resamples=200)


def test_shipped_sample():
    rows = load_sample()
    assert len(rows) >= 300
    binary, pairwise = load_sample("binary"), load_sample("pairwise")
    assert len(binary) + len(pairwise) == len(rows)
    assert {r["label"] for r in binary} == {0, 1} and {r["label"] for r in pairwise} == {"A", "B", "tie"}
    by_pair: dict[str, list[dict]] = {}
    for row in pairwise:
        by_pair.setdefault(row["pair_id"], []).append(row)
    for first, second in by_pair.values():  # every pair is there in both orders, labels mirrored
        assert (first["response1"], first["response2"]) == (second["response2"], second["response1"])
        assert {"A": "B", "B": "A", "tie": "tie"}[first["label"]] == second["label"]


def test_rules_judge_on_the_sample(rules_report):
    r = rules_report
    assert r.n == 240 and r.n_failed == 0
    acc = r.metrics["accuracy"]
    assert 0.8 < acc.value < 1.0 and acc.ci_low < acc.value < acc.ci_high
    # the rules judge never says yes to a wrong answer; it misses right answers written in words
    assert r.metrics["precision"].value == 1.0 and r.metrics["tpr"].value < 1.0
    assert sum(map(sum, r.confusion_matrix)) == 240
    table = r.table()
    assert "accuracy" in table and "Cohen's kappa" in table and "95% interval" in table and "confusion" in table


def test_json_has_the_stable_keys(rules_report):
    data = json.loads(rules_report.to_json())
    for key in METRIC_KEYS:
        assert set(data[key]) == {"value", "ci_low", "ci_high"}, key
    assert data["n"]["value"] == 240 and data["n_failed"]["value"] == 0
    assert data["spearman"]["value"] is None  # not a score kind
    assert data["kind"] == "binary" and data["judge"] == "rules"


def test_html_report_has_its_figures(rules_report, tmp_path):
    page = rules_report.save_html(tmp_path / "report.html").read_text()
    assert '<figure id="confusion_matrix">' in page
    assert 'id="reliability_diagram"' not in page  # the rules judge gives no P(yes)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 and len(images[0]) > 1000


def test_failures_are_counted_never_scored():
    items = [{"question": "q", "answer": "4", "prediction": "4"}] * 4
    results = [
        JudgeResult(success=True, result=1),
        JudgeResult(success=False, result=None, error_message="boom"),
        JudgeResult(success=True, result=0),
        JudgeResult(success=False, result=None, error_message="boom"),
    ]
    report = build_report(judged("binary", items, [1, 1, 0, 0], results), n_resamples=50)
    assert report.n == 4 and report.n_failed == 2 and report.failures == {"boom": 2}
    assert report.metrics["accuracy"].value == 1.0  # the two failures are not counted as wrong
    assert "2 x boom" in report.table()


def test_label_errors_name_the_item():
    with pytest.raises(ConfigError) as info:
        validate(
            SimplifiedJudge(api_type="rules"),
            "binary",
            [{"question": "q", "answer": "1", "prediction": "1"}],
            ["maybe"],
        )
    assert info.value.field == "labels[0]"
    with pytest.raises(ConfigError, match="'A', 'B' or 'tie'"):
        validate(SimplifiedJudge(api_type="rules"), "pairwise", [{}], ["C"])


def test_position_biased_pairwise_judge():
    """A judge that always prefers the first response: position consistency 0 on pairs with a winner."""
    rows = load_sample("pairwise")
    with FakeLLMServer(default_reply="<better>A</better>") as server:
        judge = SimplifiedJudge(
            api_type="openai", base_url=server.base_url, api_key="sk-test", model_name="m", timeout=5
        )
        report = validate(judge, "pairwise", rows, [r["label"] for r in rows], n_resamples=100)
    assert report.n == len(rows) and report.n_failed == 0
    assert report.metrics["position_consistency"].value == 0.0
    assert report.metrics["tie_rate"].value == 0.0
    assert report.metrics["agreement"].value == pytest.approx(sum(r["label"] == "A" for r in rows) / len(rows))
    assert report.confusion_matrix[1] == [sum(r["label"] == "B" for r in rows), 0, 0]
    assert "position consistency" in report.table()


def test_score_kind_report_has_the_scatter(tmp_path):
    items = [{"question": "q", "response": f"r{i}"} for i in range(12)]
    labels = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3, 7]
    results = [JudgeResult(success=True, scores=min(10, label + (i % 3) - 1)) for i, label in enumerate(labels)]
    report = build_report(judged("pointwise", items, labels, results), n_resamples=100)
    assert report.metrics["spearman"].value > 0.8 and report.metrics["mae"].value > 0
    assert report.confusion_matrix is None
    assert 'id="score_scatter"' in report.to_html()


def test_calibration_and_ppi_on_p_yes():
    import numpy as np

    rng = np.random.default_rng(5)
    q = rng.random(300)
    labels = (rng.random(300) < q).astype(int).tolist()
    p_yes = (q**0.3).tolist()  # overconfident
    items = [{"question": "q", "answer": "a", "prediction": "p" * (i % 50)} for i in range(300)]
    results = [JudgeResult(success=True, result=int(p > 0.5), p_yes=p) for p in p_yes]
    data = judged("binary", items, labels, results)
    report = build_report(data, n_resamples=100)
    assert report.metrics["ece"].value > 0.1 and report.metrics["auc"].value > 0.7
    cal = fit_calibrator(report, method="isotonic")
    assert report.calibration["ece_after"] < report.calibration["ece_before"]
    assert 0 <= cal(0.9) <= 1
    page = report.to_html()
    assert 'id="reliability_diagram"' in page and 'id="confusion_matrix"' in page
    unlabelled = [JudgeResult(success=True, result=int(rng.random() < 0.7)) for _ in range(1000)]
    unlabelled.append(JudgeResult(success=False, result=None, error_message="x"))
    with_ppi(report, data, unlabelled)
    assert report.ppi["n_unlabelled"] == 1000 and report.ppi["n_unlabelled_failed"] == 1
    ppi = report.ppi["ppi"]
    assert ppi["ci_low"] < ppi["value"] < ppi["ci_high"]
    assert "prediction-powered" in report.table()


def test_verdicts_read_from_a_batch_output_as_text():
    """A `judgekit batch` output writes a yes/no verdict as the text "yes" / "no": "no" is a 0, not a truthy 1."""
    items = [{"question": "q", "answer": "a", "prediction": "p"}] * 4
    results = [{"success": True, "result": v} for v in ("no", "yes", "no", 0)]
    data = judged("binary", items, [0, 1, 1, 0], results)
    assert data.verdicts == [0, 1, 0, 0]


def test_validate_a_jury():
    from judgekit import Jury

    rows = load_sample("binary")[:30]
    jury = Jury([SimplifiedJudge(api_type="rules") for _ in range(3)])
    report = validate(jury, "binary", rows, [r["label"] for r in rows], n_resamples=50)
    assert report.judge == "jury of 3: rules, rules, rules" and report.n == 30 and report.n_failed == 0


# ------------------------------------------------------------------------------------------- the HTML page


@pytest.fixture
def judged_with_everything():
    """40 binary items with P(yes): some judged wrongly (with replies), 3 failed (2 with a raw reply)."""
    import numpy as np

    rng = np.random.default_rng(3)
    items, labels, results = [], [], []
    for i in range(40):
        label = i % 2
        p = float(rng.uniform(0.55, 0.95) if (label == 1) == (i % 5 != 0) else rng.uniform(0.05, 0.45))
        items.append({"id": f"it-{i}", "question": f"What is {i} + 1?", "answer": str(i + 1), "prediction": "x"})
        labels.append(label)
        if i in (7, 8, 9):
            reply = None if i == 9 else f"I would rather not say ({i})"
            results.append(
                JudgeResult(
                    success=False,
                    result=None,
                    raw_response=reply,
                    error_type="ParseError",
                    error_message="binary: no verdict in the reply",
                )
            )
        else:
            results.append(JudgeResult(success=True, result=int(p > 0.5), p_yes=p, raw_response=f"reply {i}"))
    return items, labels, results


def test_html_report_for_a_person(judged_with_everything, tmp_path):
    items, labels, results = judged_with_everything
    data = judged("binary", items, labels, results)
    report = build_report(
        data,
        n_resamples=50,
        judge="openai m",
        meta={"model": "m", "input": "labelled.jsonl", "settings": {"temperature": 0.0}},
    )
    wrong = [i for i, (r, y) in enumerate(zip(results, labels, strict=True)) if r["success"] and r["result"] != y]
    assert wrong and [c["index"] for c in report.disagreements] == wrong
    assert [c["index"] for c in report.failed_items] == [7, 8, 9]
    fit_calibrator(report, heldout=0.5)
    path = report.save_html(tmp_path / "report.html")
    page = path.read_text()
    # summary and metadata
    assert "judged <b>37</b> of <b>40</b> labelled items (<b>3</b> failed" in page
    assert f"<b>{len(wrong)}</b> disagreements with the label" in page
    for shown in ("judgekit version", "openai m", "temperature=0.0", "labelled.jsonl", " UTC"):
        assert shown in page, shown
    # the disagreements: question, prediction, label, judge, the judge's reply
    assert f'<h2 id="disagreements">Disagreements ({len(wrong)})</h2>' in page
    first = wrong[0]
    assert f"What is {first} + 1?" in page and f"reply {first}" in page
    # failures with their raw replies, counted by reason
    assert '<h2 id="failures">Failures (3)</h2>' in page
    assert "I would rather not say (7)" in page and "I would rather not say (8)" in page and "no reply" in page
    assert "<td>3</td><td>binary: no verdict in the reply</td>" in page
    # the figures, the calibration on the held-out part, the JSON behind a link (not on the page)
    assert 'id="confusion_matrix"' in page and 'id="reliability_diagram"' in page
    assert "tested on the other 19 (held out" in page
    assert 'href="report.json"' in page and '"ci_low"' not in page
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["n_failed"]["value"] == 3 and len(saved["disagreements"]) == len(wrong)
    assert saved["failed_items"][0]["reply"] == "I would rather not say (7)"
    alone = report.to_html()  # without a file beside it: the JSON folded away
    assert "<details><summary>The report as JSON</summary>" in alone and "<details open" not in alone


def test_the_reliability_diagram_is_drawn_on_held_out_items_only(judged_with_everything, monkeypatch):
    from sklearn.model_selection import train_test_split

    from judgekit.validation import report as report_module

    items, labels, results = judged_with_everything
    report = build_report(judged("binary", items, labels, results), n_resamples=50)
    p_yes = report.data["p_yes"]
    assert len(set(p_yes)) == len(p_yes) == 37  # distinct values: the split can be told apart
    drawn: list = []
    real = report_module._reliability
    monkeypatch.setattr(
        report_module, "_reliability", lambda fig, y, series: drawn.append((y, series)) or real(fig, y, series)
    )
    report.figures()
    assert [len(p) for _, p in drawn[0][1]] == [37]  # before calibration: every judged item, one series
    fit_calibrator(report, heldout=0.5, seed=0)
    stratify = report.data["labels"]
    p_fit, p_held, _, y_held = train_test_split(p_yes, stratify, test_size=0.5, random_state=0, stratify=stratify)
    report.figures()
    labels_drawn, series = drawn[1]
    assert [name.split(",")[0] for name, _ in series] == ["raw P(yes)", "calibrated"]
    assert series[0][1] == p_held and labels_drawn == y_held
    assert not set(series[0][1]) & set(p_fit)  # none of the items the calibrator was fitted on
    assert len(series[1][1]) == report.calibration["n_heldout"] == len(p_held)


def test_bins_count_items_and_the_confusion_scale_starts_at_zero(monkeypatch):
    from matplotlib.axes import Axes

    from judgekit.validation.report import _bins

    mean_p, share, counts = _bins([1, 0, 1, 1], [0.05, 0.05, 0.95, 0.55])
    assert counts.tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert share[0] == 0.5 and mean_p[9] == 0.95
    seen: list = []
    real = Axes.imshow
    monkeypatch.setattr(Axes, "imshow", lambda self, *a, **k: seen.append(k) or real(self, *a, **k))
    report = ValidationReport(
        kind="binary", n=30, n_failed=0, metrics={}, confusion_matrix=[[10, 5], [7, 8]], classes=[1, 0]
    )
    report.figures()
    assert seen[0]["vmin"] == 0 and seen[0]["vmax"] == 10


def test_report_settings_show_no_secret():
    from judgekit.validation._run import judge_settings

    judge = SimplifiedJudge(
        api_type="openai", api_key="sk-never-shown-123456", model_name="m", temperature=0.2,
        extra_headers={"Authorization": "Bearer sk-never-shown-123456"},
    )  # fmt: skip
    settings = judge_settings(judge.config)
    assert settings["temperature"] == 0.2 and settings["extra_headers"] == {"Authorization": "***"}
    assert "sk-never-shown" not in json.dumps(settings) and "model_name" not in settings


def test_disagreements_follow_the_verdicts_the_metrics_read(judged_with_everything):
    """With --threshold a verdict is re-read from P(yes): the listed disagreements are those verdicts'."""
    items, labels, results = judged_with_everything
    report = build_report(judged("binary", items, labels, results, threshold=0.01), n_resamples=20)
    assert all(case["judge"] == 1 for case in report.disagreements)  # every P(yes) >= 0.01 reads as yes
    assert [c["index"] for c in report.disagreements] == [
        i for i, (r, y) in enumerate(zip(results, labels, strict=True)) if r["success"] and y == 0
    ]

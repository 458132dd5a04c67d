"""`judgekit validate`: how well a judge agrees with labels, on a labelled JSONL or the shipped sample.

Reads the labelled items, judges them (or takes a ``judgekit batch`` output with ``--judged``), prints the
`~judgekit.validation.ValidationReport` table (``--json``: the JSON), and optionally writes the HTML report,
fits a calibrator on a split (ECE before and after on the held-out part) and estimates the evaluated model's
accuracy (or mean score) on unlabelled judged items by prediction-powered inference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from judgekit.kinds import METADATA_KEYS, get_kind, kind_names

__all__ = ["EPILOG", "add_arguments", "run"]

EPILOG = """\
examples:
  judgekit validate --kind binary --api-type rules                       # the shipped sample, rules judge
  judgekit validate --api-type torch --model qwen2.5-coder-1.5b --output-format yes/no --part open
      # the default embedded judge (logprob mode) on the open-ended part of the shipped sample
  judgekit validate labelled.jsonl --kind pairwise --model gpt-4o-mini --json
  judgekit validate labelled.jsonl --judged judged.jsonl --ppi unlabelled-judged.jsonl

Each line of the labelled file holds the kind's fields and "label": 1/0 or yes/no (binary, correctness),
"A"/"B"/"tie" (pairwise, comparative), or a number (pointwise, rubric); lines naming another "kind" are
skipped. Pairwise items sharing a "pair_id" with their responses swapped measure position consistency.
Without FILE the shipped sample is used (judgekit/data/validation_sample.jsonl); its binary items come in
two parts (--part closed: numbers, units, choices; --part open: open-ended factual answers in other words).
--judged and --ppi take `judgekit batch` outputs (matched by "id", else by line number). With --api-type
torch the judge reads P(yes) in one forward pass (torch_mode=logprob) unless --set torch_mode=... says
otherwise, and --timeout defaults to 600 s (the whole sample waits in the model's queue on a CPU).
Exit 1 when no item could be judged.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``judgekit validate`` (the backend options are added by the CLI)."""
    parser.add_argument("input", nargs="?", help="labelled JSONL (default: the shipped sample)")
    parser.add_argument("--kind", default="binary", choices=kind_names(), help="judge kind (default binary)")
    parser.add_argument("--judged", metavar="FILE", help="a `judgekit batch` output for these items: no judging")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--report", metavar="HTML", help="write the HTML report (with figures) to this file")
    parser.add_argument(
        "--fit-calibrator",
        metavar="OUT_JSON",
        help="fit a P(yes) calibrator on a split, report held-out ECE before/after, save it here",
    )
    parser.add_argument("--calibration-method", choices=("isotonic", "platt"), default="isotonic")
    parser.add_argument("--heldout", type=float, default=0.5, help="share held out to test the calibrator (0.5)")
    parser.add_argument(
        "--ppi",
        metavar="UNLABELLED_JUDGED",
        help="a `judgekit batch` output on unlabelled items: estimate the mean label over all items",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="PPI interval level 1 - alpha (default 0.05)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the calibration split")
    parser.add_argument(
        "--threshold",
        type=float,
        help="binary/correctness: read each verdict as P(yes) >= this (e.g. a --judged file made at another one)",
    )
    parser.add_argument("--part", help='only the items whose "part" is this (the shipped sample: closed, open)')
    parser.add_argument("-n", "--limit", type=int, help="only the first N labelled items")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(
    args: argparse.Namespace,
    make_judge: Callable[[argparse.Namespace], Any],
    read_jsonl: Callable[[str], list[tuple[int, dict[str, Any]]]],
    usage_error: type[Exception],
) -> int:
    """Run ``judgekit validate``; returns the exit code. ``make_judge`` builds the judge from the backend
    flags, ``read_jsonl`` reads ``(index, object)`` lines, ``usage_error`` is the CLI's usage error."""
    from judgekit.validation._run import (
        build_report,
        fit_calibrator,
        group_of,
        judge_settings,
        judged,
        label_of,
        with_ppi,
    )
    from judgekit.validation.sample import load_sample

    spec = get_kind(args.kind)
    if args.report and args.fit_calibrator and Path(args.report).with_suffix(".json") == Path(args.fit_calibrator):
        raise usage_error(f"--report {args.report} writes its JSON to {args.fit_calibrator}: choose another path")
    if args.input is None:
        rows = [(i, row) for i, row in enumerate(load_sample(spec.name))]
        source = "the shipped sample"
    else:
        rows = [(i, row) for i, row in read_jsonl(args.input) if row.get("kind", spec.name) == spec.name]
        source = args.input
    if args.part is not None:
        rows = [(i, row) for i, row in rows if row.get("part") == args.part]
    rows = rows[: args.limit] if args.limit is not None else rows
    if not rows:
        where = f' with "part": {args.part!r}' if args.part is not None else ""
        raise usage_error(f"no {spec.name} items{where} in {source}")
    group = group_of(spec)
    labels = []
    for index, row in rows:
        if "label" not in row:
            raise usage_error(f'{source}: item {index} has no "label"')
        labels.append(label_of(group, row["label"], f"{source}: item {index}: label"))
    items = [row for _, row in rows]
    if args.judged:
        results = _matched(rows, read_jsonl(args.judged), args.judged, source, usage_error)
        first = next((r for r in results if r.get("provider") or r.get("model")), {})
        made_by = " ".join(str(first[k]) for k in ("provider", "model") if first.get(k))
        judge_name = f"{made_by}, judged file {Path(args.judged).name}" if made_by else f"judged file {args.judged}"
        used = {"model": first.get("model"), "settings": "not recorded in a judged file", "judged_file": args.judged}
    else:
        if args.api_type == "torch":  # as in the demo: P(yes) in one forward pass, and time for a CPU queue
            if not any(s.startswith("torch_mode=") for s in args.set):
                args.set.append("torch_mode=logprob")
            if args.timeout is None:
                args.timeout = 600.0
        judge = make_judge(args)
        try:
            inputs = [{k: v for k, v in item.items() if k not in METADATA_KEYS} for item in items]
            results = judge.evaluate_batch(spec.name, inputs, progress=not args.no_progress)
        finally:
            judge.close()
        judge_name = " ".join(x for x in (judge.judge.provider_name, judge.config.model_name or "") if x)
        used = {"model": judge.config.model_name, "settings": judge_settings(judge.config)}
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise usage_error(f"--threshold must be between 0 and 1, got {args.threshold}")
    data = judged(spec.name, items, labels, results, threshold=args.threshold)
    if not data.verdicts:  # nothing to measure: say why, instead of metrics of an empty set
        print(f"judgekit validate: {data.why_nothing_judged()}", file=sys.stderr)
        return 1
    report = build_report(data, n_resamples=args.resamples, seed=args.seed, judge=judge_name)
    report.meta.update(input=source, **used)
    if args.fit_calibrator:
        fit_calibrator(
            report, method=args.calibration_method, heldout=args.heldout, seed=args.seed, path=args.fit_calibrator
        )
    if args.ppi:
        unlabelled = [record for _, record in _latest(read_jsonl(args.ppi))]
        with_ppi(report, data, unlabelled, alpha=args.alpha)
    print(report.to_json() if args.json else report.table())
    if args.report:
        path = report.save_html(args.report)
        print(f"judgekit validate: wrote {path} (and its JSON, {path.with_suffix('.json')})", file=sys.stderr)
    return 0 if report.n_failed < report.n else 1


def _latest(records: Sequence[tuple[int, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any]]]:
    """Batch-output records by item key ("id", else "index"); the last line for an item wins."""
    latest: dict[Any, dict[str, Any]] = {}
    for line, record in records:
        key = (
            ("id", json.dumps(record["id"], sort_keys=True)) if "id" in record else ("index", record.get("index", line))
        )
        latest[key] = record
    return list(latest.items())


def _matched(
    rows: list[tuple[int, dict[str, Any]]],
    records: list[tuple[int, dict[str, Any]]],
    where: str,
    source: str,
    usage_error: type[Exception],
) -> list[dict[str, Any]]:
    """The judged record of each labelled row: by "id" when both have one, else by the row's line number.
    A row without one is a usage error that names it, says how many lack one, and, when none has one, that
    the judged file holds other items than ``source``."""
    latest = dict(_latest(records))
    keys = [("id", json.dumps(row["id"], sort_keys=True)) if "id" in row else ("index", index) for index, row in rows]
    missing = [(index, row) for (index, row), key in zip(rows, keys, strict=True) if key not in latest]
    if missing:
        index, row = missing[0]
        message = f"{where}: no judged record for item {row.get('id', index)!r}"
        if not records:
            message += " (it holds no records)"
        elif len(missing) == len(rows):
            examples = ", ".join(repr(r.get("id", r.get("index", line))) for line, r in records[:2])
            message += (
                f" nor for any of the {len(rows)} items of {source}: it holds {len(records)} records of other items"
                f" ({examples}, ...); pass the labelled file that was judged: "
                f"judgekit validate LABELLED.jsonl --judged {where}"
            )
        elif len(missing) > 1:
            message += f" ({len(missing)} of the {len(rows)} items have none)"
        raise usage_error(message)
    return [latest[key] for key in keys]
